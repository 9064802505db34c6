"""``python -m bench`` picks parts and settings from its arguments (the run itself is stubbed)."""

from __future__ import annotations

from typing import Any

import pytest
from bench import __main__ as cli
from bench import harness
from bench.config import RunConfig


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> list[tuple[list[str], RunConfig]]:
    seen: list[tuple[list[str], RunConfig]] = []

    def fake_run(parts: list[str], cfg: RunConfig) -> tuple[dict[str, Any], int]:
        seen.append((parts, cfg))
        return {"parts": {}}, 0

    monkeypatch.setattr(harness, "run", fake_run)
    return seen


def test_no_argument_runs_every_part(calls: list[tuple[list[str], RunConfig]]) -> None:
    assert cli.main([]) == 0
    assert calls[0][0] == list(harness.PARTS)
    assert calls[0][1].quick is False


def test_named_parts_run_in_the_harness_order(calls: list[tuple[list[str], RunConfig]]) -> None:
    cli.main(["audit", "e2e", "--quick", "--p99-ceiling-ms", "50", "--no-pin"])

    parts, cfg = calls[0]
    assert parts == ["e2e", "audit"]
    assert cfg.quick is True
    assert cfg.p99_ceiling_ms == 50.0
    assert cfg.load_cpus is None
    assert cfg.server_cpus is None


def test_all_among_parts_means_every_part(calls: list[tuple[list[str], RunConfig]]) -> None:
    cli.main(["serving", "all"])

    assert calls[0][0] == list(harness.PARTS)


def test_an_unknown_part_is_a_usage_error(calls: list[tuple[list[str], RunConfig]]) -> None:
    with pytest.raises(SystemExit) as info:
        cli.main(["everything"])

    assert info.value.code == 2
    assert calls == []
