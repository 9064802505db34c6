"""Starting a rescoring pool: workers start from a thread while the first chunks are scored here,
and a pool whose workers cannot start fails the run with the error that stopped them (even when
every chunk could be scored here meanwhile)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from test_rescore_support import settings_for

from riskscore.adapters.batch import runner
from riskscore.adapters.batch.runner import Batches, ChunkRunner, Payload, RunSpec, Worker
from riskscore.adapters.treemodel.toy import one_split_model
from riskscore.domain.scoring import RiskClassThresholds


def first_and_size(worker: Worker, start: int, rows: Payload) -> tuple[int, int]:
    """A job: where the chunk starts and how many rows it has (runs in any process)."""
    assert not isinstance(rows, Batches)
    return start, len(rows)


def spec(tmp_path: Path) -> RunSpec:
    return RunSpec(
        settings=settings_for(tmp_path),
        models=(one_split_model(),),
        batch_run_id="pool-start",
        run_started_at=dt.datetime(2026, 3, 1, tzinfo=dt.UTC),
        thresholds=RiskClassThresholds(),
    )


def chunks(count: int) -> list[runner.Chunk]:
    return [(3 * i, []) for i in range(count)]


class _NoWorkers(ProcessPoolExecutor):
    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        if fn is runner._started:
            raise OSError("no processes left")
        return super().submit(fn, *args, **kwargs)


def test_a_pool_whose_workers_cannot_start_fails_the_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(runner, "ProcessPoolExecutor", _NoWorkers)
    with pytest.raises(OSError, match="no processes left"):
        list(ChunkRunner(spec(tmp_path), first_and_size, workers=2).run(chunks(5)))
