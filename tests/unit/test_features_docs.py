"""docs/features.md is generated from the catalogue and must not go stale."""

from __future__ import annotations

from pathlib import Path

from riskscore.domain.features.catalogue import SCHEMA
from riskscore.domain.features.docs_render import render_markdown

DOC = Path(__file__).resolve().parents[2] / "docs" / "features.md"


def test_docs_features_md_is_up_to_date() -> None:
    assert DOC.exists(), (
        "docs/features.md is missing: run .venv/bin/python scripts/gen_features_doc.py"
    )
    assert DOC.read_text(encoding="utf-8") == render_markdown(SCHEMA), (
        "docs/features.md is stale: run .venv/bin/python scripts/gen_features_doc.py"
    )


def test_rendered_page_lists_every_feature_with_its_unit_and_the_version() -> None:
    text = render_markdown(SCHEMA)
    assert SCHEMA.version in text
    for feature in SCHEMA.features:
        assert f"| `{feature.name}` | " in text
    assert "-1 means not applicable" in text
    assert "VA Drug Classification" in text
