"""Request bodies the benchmark sends: every system gets the same bytes, in the shape it accepts."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import numpy as np
from bench.workspace import proba_body, score_body, write_jsonl

from riskscore.adapters.http.api.wire import decode_score
from riskscore.adapters.synthetic import generate
from riskscore.domain.features.catalogue import SCHEMA


def test_score_body_is_what_the_api_decodes_with_an_explicit_as_of() -> None:
    app = next(generate(1, seed=2, as_of=dt.date(2025, 3, 1)))

    body = score_body(app)
    request = decode_score(json.dumps(body).encode())

    assert set(body) == {"policy_number", "mib_xml", "rx_xml", "as_of"}
    assert request.as_of == dt.date(2025, 3, 1)
    assert request.policy_number == app.policy_number
    assert request.rx_xml == app.rx_xml


def test_proba_body_names_every_feature_in_schema_order() -> None:
    rows = np.arange(2 * len(SCHEMA), dtype=np.float64).reshape(2, len(SCHEMA))

    body = proba_body(rows)

    split = body["dataframe_split"]
    assert isinstance(split, dict)
    assert split["columns"] == list(SCHEMA.names)
    assert split["data"] == rows.tolist()


def test_jsonl_has_one_document_per_line(tmp_path: Path) -> None:
    apps = list(generate(3, seed=2))

    path = write_jsonl(tmp_path / "b.jsonl", [score_body(a) for a in apps])

    lines = path.read_text().splitlines()
    assert len(lines) == 3
    assert [json.loads(line)["policy_number"] for line in lines] == [a.policy_number for a in apps]
