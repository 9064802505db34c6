"""``riskscore serve --workers`` and ``riskscore up --workers``: arguments and their validation."""

from __future__ import annotations

from pathlib import Path

import pytest

from riskscore.adapters.cli.cmd_up import serve_argv
from riskscore.adapters.cli.main import main


def test_up_passes_workers_through_to_serve_only_when_given() -> None:
    assert serve_argv("127.0.0.1", 8000, None) == ["serve", "--host", "127.0.0.1", "--port", "8000"]
    assert serve_argv("0.0.0.0", 9000, 2)[-2:] == ["--workers", "2"]


@pytest.mark.parametrize("command", ["serve", "up"])
def test_a_worker_count_below_one_is_refused_before_anything_starts(
    command: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.delenv("RISKSCORE_WORKERS", raising=False)
    assert main([command, "--data-dir", str(tmp_path), "--workers", "0", "--port", "0"]) == 2
    captured = capsys.readouterr()
    assert "workers" in captured.out + captured.err
    assert not (tmp_path / "journal").exists()


def test_the_environment_sets_the_worker_count(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("RISKSCORE_WORKERS", "-1")
    assert main(["serve", "--data-dir", str(tmp_path), "--port", "0"]) == 2
    assert "workers" in capsys.readouterr().out
