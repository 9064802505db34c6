"""Write docs/features.md from the feature catalogue.

Run after changing the catalogue or its tables: ``.venv/bin/python scripts/gen_features_doc.py``.
``--check`` writes nothing and exits 1 when the committed page is stale.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from riskscore.domain.features.catalogue import SCHEMA
from riskscore.domain.features.docs_render import render_markdown

DOC = Path(__file__).resolve().parents[1] / "docs" / "features.md"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="exit 1 if docs/features.md is stale")
    args = parser.parse_args()
    text = render_markdown(SCHEMA)
    current = DOC.read_text(encoding="utf-8") if DOC.exists() else None
    if args.check:
        if current != text:
            print(f"{DOC} is stale: run scripts/gen_features_doc.py", file=sys.stderr)
            return 1
        return 0
    if current != text:
        DOC.write_text(text, encoding="utf-8")
        print(f"wrote {DOC} (schema {SCHEMA.version}, {len(SCHEMA)} features)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
