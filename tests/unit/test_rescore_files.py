"""Batch runs into files: ordered output, resume after an interruption (every row exactly once),
prediction logging exactly once, refused resumes, parquet output and the compare report."""

from __future__ import annotations

import datetime as dt
import os
import threading
import time
from collections.abc import Sequence
from concurrent.futures import Future
from pathlib import Path

import msgspec
import pytest
from test_rescore_support import AS_OF, settings_for, train_versions

from riskscore.adapters.batch.api import load_models, new_batch_run_id
from riskscore.adapters.batch.compare import CompareReport
from riskscore.adapters.batch.files import (
    FileRun,
    FileRunRequest,
    Progress,
    _Committer,
    run_to_file,
)
from riskscore.adapters.batch.jobs import ChunkOutput
from riskscore.adapters.batch.rows import CompareRow, ResultRow
from riskscore.adapters.batch.sources import DatasetSource, JsonlSource, RescoreSource, SourceError
from riskscore.adapters.batch.state import (
    ResumeError,
    RunIdentity,
    RunState,
    read_state,
    state_path,
)
from riskscore.adapters.sqlite.prediction_log import SqlitePredictionLog
from riskscore.adapters.synthetic import write_dataset
from riskscore.domain.scoring import PredictionRecord, RiskClassThresholds
from riskscore.ports.prediction_log import PredictionLog
from riskscore.settings import Settings

N = 30
BATCH = 4


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    settings = settings_for(tmp_path_factory.mktemp("data"))
    train_versions(settings, 2)
    return settings


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = write_dataset(tmp_path_factory.mktemp("ds"), N, 8, as_of=AS_OF)
    (directory / "mib" / "SYN-0000005.xml").write_text("<Response><oops></Response>")
    return directory


def request(
    settings: Settings,
    source: RescoreSource,
    out: Path,
    versions: Sequence[str | None] = ("V1",),
    **kwargs: object,
) -> FileRunRequest:
    from test_rescore_support import registry_for

    return FileRunRequest(
        source=source,
        out=out,
        settings=settings,
        models=load_models(registry_for(settings), settings.model_name, versions),
        thresholds=RiskClassThresholds(),
        workers=1,
        batch_size=BATCH,
        durable=False,
        **kwargs,  # type: ignore[arg-type]
    )


def run(req: FileRunRequest, stop_after: int | None = None) -> FileRun:
    def progress(p: Progress) -> None:
        if stop_after is not None and p.rows >= stop_after:
            raise KeyboardInterrupt

    return run_to_file(req, new_run_id=new_batch_run_id, progress=progress)


def rows(path: Path) -> list[ResultRow]:
    decoder = msgspec.json.Decoder(ResultRow)
    return [decoder.decode(line) for line in path.read_bytes().splitlines()]


def test_a_run_writes_every_row_in_order_and_removes_its_state(
    settings: Settings, dataset: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out.jsonl"
    result = run(request(settings, DatasetSource(dataset), out))
    written = rows(out)
    assert [r.index for r in written] == list(range(N))
    assert (result.rows, result.failures, result.resumed_from) == (N, 1, 0)
    bad = written[4]
    assert bad.error is not None
    assert (bad.policy_number, bad.error.type, bad.risk_score) == (
        "SYN-0000005",
        "malformed-evidence",
        None,
    )
    good = written[0]
    assert good.error is None
    assert good.model_version == "V1"
    assert good.batch_run_id == result.batch_run_id
    assert good.as_of == AS_OF
    assert not state_path(out).exists()


def test_an_interrupted_run_resumes_with_every_row_exactly_once(
    settings: Settings, dataset: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out.jsonl"
    with pytest.raises(KeyboardInterrupt):
        run(request(settings, DatasetSource(dataset), out), stop_after=12)
    state = read_state(out)
    done = state.rows_done  # the commit that reached row 12 (it may have taken later chunks too)
    assert done >= 12
    assert done % BATCH == 0
    before = out.read_bytes()
    assert len(before.splitlines()) == done
    # A chunk half-written after the last state update (a kill mid-write) must not survive.
    with out.open("ab") as handle:
        handle.write(b'{"index":%d,"policy_number":"SYN-00000' % done)
    result = run(request(settings, DatasetSource(dataset), out, resume=True))
    written = rows(out)
    assert [r.index for r in written] == list(range(N))
    assert out.read_bytes().startswith(before)
    assert (result.rows, result.resumed_from, result.batch_run_id) == (N, done, state.batch_run_id)
    assert {r.batch_run_id for r in written} == {state.batch_run_id}
    assert result.failures == 1
    assert not state_path(out).exists()


class CrashingLog(SqlitePredictionLog):
    """Dies like a killed process right after its ``crash_on``-th batch was stored."""

    def __init__(self, path: Path, crash_on: int | None) -> None:
        super().__init__(path)
        self.calls = 0
        self.crash_on = crash_on

    def append_many(self, records: Sequence[PredictionRecord]) -> None:
        super().append_many(records)
        self.calls += 1
        if self.calls == self.crash_on:
            raise KeyboardInterrupt


def test_logged_predictions_survive_a_crash_and_a_resume_exactly_once(
    settings: Settings, dataset: Path, tmp_path: Path
) -> None:
    out, db = tmp_path / "out.jsonl", tmp_path / "log.sqlite3"
    first = CrashingLog(db, crash_on=3)
    with pytest.raises(KeyboardInterrupt):
        run(request(settings, DatasetSource(dataset), out, prediction_log=first))
    # The third commit's chunks reached the log but not the state file: the resume scores them
    # again. (A commit takes every chunk done by then: how many chunks each took varies.)
    crashed = read_state(out)
    reached_log = len(list(first.iter_batch_run(crashed.batch_run_id)))
    first.close()
    assert crashed.rows_done >= 2 * BATCH
    assert crashed.rows_done % BATCH == 0
    assert reached_log > crashed.rows_done - crashed.failures
    second = CrashingLog(db, crash_on=None)
    result = run(request(settings, DatasetSource(dataset), out, prediction_log=second, resume=True))
    logged = list(second.iter_batch_run(result.batch_run_id))
    second.close()
    written = rows(out)
    scored = [r for r in written if r.error is None]
    assert len(logged) == len(scored) == N - 1
    assert {p.prediction_id for p in logged} == {r.prediction_id for r in scored}
    assert {p.source for p in logged} == {"rescore"}
    by_id = {p.prediction_id: p for p in logged}
    assert all(by_id[r.prediction_id].risk_score == r.risk_score for r in scored)


def test_a_resume_with_other_arguments_is_refused(
    settings: Settings, dataset: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out.jsonl"
    with pytest.raises(ResumeError, match="nothing to resume"):
        run(request(settings, DatasetSource(dataset), out, resume=True))
    with pytest.raises(KeyboardInterrupt):
        run(request(settings, DatasetSource(dataset), out), stop_after=BATCH)
    interrupted = read_state(out)
    with pytest.raises(ResumeError, match="model_versions"):
        run(request(settings, DatasetSource(dataset), out, ("V2",), resume=True))
    with pytest.raises(ResumeError, match="as_of"):
        run(request(settings, DatasetSource(dataset), out, resume=True, as_of=dt.date(2025, 1, 1)))
    with pytest.raises(ResumeError, match="not run-x"):
        run(request(settings, DatasetSource(dataset), out, resume=True, batch_run_id="run-x"))
    assert read_state(out) == interrupted  # refusals change nothing


def test_a_resume_on_a_changed_input_is_refused(
    settings: Settings, dataset: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out.jsonl"
    source = tmp_path / "apps.jsonl"
    lines = [{"policy_number": f"J-{i}", "mib_xml": "<r/>", "rx_xml": "<r/>"} for i in range(10)]
    source.write_bytes(b"\n".join(msgspec.json.encode(line) for line in lines))
    with pytest.raises(KeyboardInterrupt):
        run(request(settings, JsonlSource(source), out), stop_after=BATCH)
    lines[read_state(out).rows_done - 1]["policy_number"] = "J-changed"  # the last row done
    source.write_bytes(b"\n".join(msgspec.json.encode(line) for line in lines))
    with pytest.raises(ResumeError, match="input changed"):
        run(request(settings, JsonlSource(source), out, resume=True))


def test_parquet_output_holds_the_same_rows(
    settings: Settings, dataset: Path, tmp_path: Path
) -> None:
    pq = pytest.importorskip("pyarrow.parquet")
    jsonl, parquet = tmp_path / "out.jsonl", tmp_path / "out.parquet"
    run(request(settings, DatasetSource(dataset), jsonl, batch_run_id="same"))
    with pytest.raises(KeyboardInterrupt):
        run(
            request(settings, DatasetSource(dataset), parquet, output_format="parquet"),
            stop_after=8,
        )
    run(request(settings, DatasetSource(dataset), parquet, output_format="parquet", resume=True))
    table = pq.read_table(parquet)
    assert table.num_rows == N
    assert not parquet.with_name("out.parquet.partial.jsonl").exists()
    records = table.to_pylist()
    expected = rows(jsonl)
    assert [r["index"] for r in records] == list(range(N))
    assert [r["risk_score"] for r in records] == [r.risk_score for r in expected]
    assert records[4]["error"]["type"] == "malformed-evidence"
    assert records[0]["as_of"] == AS_OF
    assert records[0]["reason_codes"][0]["feature"] == expected[0].reason_codes[0].feature


def test_compare_writes_both_scores_and_a_report(
    settings: Settings, dataset: Path, tmp_path: Path
) -> None:
    out = tmp_path / "cmp.jsonl"
    result = run(request(settings, DatasetSource(dataset), out, ("V1", "V2")))
    decoder = msgspec.json.Decoder(CompareRow)
    compared = [decoder.decode(line) for line in out.read_bytes().splitlines()]
    assert [r.index for r in compared] == list(range(N))
    assert {(r.from_version, r.to_version) for r in compared} == {("V1", "V2")}
    scored = [r for r in compared if r.error is None]
    assert all(r.shift == r.to_score - r.from_score for r in scored)  # type: ignore[operator]
    report = msgspec.json.decode(
        out.with_name("cmp.jsonl.compare.json").read_bytes(), type=CompareReport
    )
    assert report == result.report
    assert (report.rows, report.compared, report.failed) == (N, N - 1, 1)
    moved = sum(1 for r in scored if abs(r.shift) > 0.05)  # type: ignore[arg-type]
    assert report.moved == moved
    assert sum(sum(row.values()) for row in report.migration.values()) == N - 1
    for r in scored:
        assert report.migration[r.from_class][r.to_class] >= 1  # type: ignore[index]


def test_logging_requires_the_same_run_on_resume(
    settings: Settings, dataset: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out.jsonl"
    log: PredictionLog = SqlitePredictionLog(tmp_path / "log.sqlite3")
    try:
        with pytest.raises(KeyboardInterrupt):
            run(
                request(settings, DatasetSource(dataset), out, prediction_log=log), stop_after=BATCH
            )
        with pytest.raises(ResumeError, match="log_predictions"):
            run(request(settings, DatasetSource(dataset), out, resume=True))
    finally:
        log.close()


# -- committing on a thread of its own -----------------------------------------------------------
def output(rows: int, label: str = "") -> Future[ChunkOutput]:
    """A chunk's output, done; ``label`` (its last policy number) names it."""
    done: Future[ChunkOutput] = Future()
    done.set_result(pending_output(rows, label))
    return done


def pending_output(rows: int, label: str = "") -> ChunkOutput:
    return ChunkOutput(
        lines=b"x\n" * rows, rows=rows, failures=0, last_policy_number=label or str(rows)
    )


def labels(outputs: list[ChunkOutput]) -> list[str]:
    return [out.last_policy_number for out in outputs]


def initial_state() -> RunState:
    identity = RunIdentity(
        input="in", kind="result", model_name="M", model_versions=("V1",), as_of=None, explain=3,
        output_format="jsonl", log_predictions=False,
    )  # fmt: skip
    return RunState(identity=identity, batch_run_id="r", run_started_at=dt.datetime.now(dt.UTC))


def test_chunks_are_committed_in_order_on_a_thread_that_is_gone_after_close() -> None:
    seen: list[tuple[str, int, list[str]]] = []

    def commit(state: RunState, rows_done: int, outs: list[ChunkOutput]) -> RunState:
        seen.append((threading.current_thread().name, rows_done, labels(outs)))
        return msgspec.structs.replace(state, rows_done=rows_done)

    committer = _Committer(commit, initial_state())
    for done in (4, 8, 12):
        committer.put(done, output(4, f"to {done}"))
    assert committer.close().rows_done == 12
    assert {name for name, _, _ in seen} == {"rescore-commit"}
    assert [label for _, _, group in seen for label in group] == ["to 4", "to 8", "to 12"]
    assert all(group[-1] == f"to {done}" for _, done, group in seen), "each commit: its last"
    assert "rescore-commit" not in {thread.name for thread in threading.enumerate()}


def test_chunks_done_while_a_commit_runs_are_committed_together() -> None:
    seen: list[tuple[int, list[str]]] = []
    first_commit_runs, go_on = threading.Event(), threading.Event()

    def commit(state: RunState, rows_done: int, outs: list[ChunkOutput]) -> RunState:
        first_commit_runs.set()
        assert go_on.wait(10)
        seen.append((rows_done, labels(outs)))
        return msgspec.structs.replace(state, rows_done=rows_done)

    last: Future[ChunkOutput] = Future()  # a worker's chunk, still running
    committer = _Committer(commit, initial_state(), depth=4)
    committer.put(4, output(4, "a"))
    assert first_commit_runs.wait(10)
    committer.put(8, output(4, "b"))
    committer.put(12, output(4, "c"))
    committer.put(16, last)
    go_on.set()
    deadline = time.monotonic() + 10
    while len(seen) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    last.set_result(pending_output(4, "d"))
    assert committer.close().rows_done == 16
    assert seen == [(4, ["a"]), (12, ["b", "c"]), (16, ["d"])], "done ones together, not the rest"


def test_nothing_after_a_failed_commit_is_committed_and_the_failure_is_raised() -> None:
    committed: list[str] = []

    def commit(state: RunState, rows_done: int, outs: list[ChunkOutput]) -> RunState:
        if "to 8" in labels(outs):
            raise KeyboardInterrupt  # a progress callback interrupting, as the CLI's Ctrl-C does
        committed.extend(labels(outs))
        return msgspec.structs.replace(state, rows_done=rows_done)

    second: Future[ChunkOutput] = Future()  # not done when handed over: never grouped with 4

    def hand_over(committer: _Committer) -> None:
        committer.put(4, output(4, "to 4"))
        committer.put(8, second)
        deadline = time.monotonic() + 10
        while committed != ["to 4"] and time.monotonic() < deadline:
            time.sleep(0.01)
        second.set_result(pending_output(4, "to 8"))
        for done in (12, 16, 20, 24):
            committer.put(done, output(4, f"to {done}"))  # raises once the committer has failed
        committer.close()

    committer = _Committer(commit, initial_state())
    with pytest.raises(KeyboardInterrupt):
        hand_over(committer)
    assert committer.close().rows_done == 4, "the state of the last chunk committed"
    assert committed == ["to 4"]


def test_a_chunk_is_committed_once_done_and_a_failed_or_dropped_one_stops_the_rest() -> None:
    committed: list[str] = []

    def commit(state: RunState, rows_done: int, outs: list[ChunkOutput]) -> RunState:
        committed.extend(labels(outs))
        return msgspec.structs.replace(state, rows_done=rows_done)

    later: Future[ChunkOutput] = Future()
    committer = _Committer(commit, initial_state(), depth=4)
    committer.put(4, output(4, "4"))
    committer.put(8, later)  # a worker's chunk, still running
    committer.put(12, output(4, "12"))
    deadline = time.monotonic() + 10
    while committed != ["4"] and time.monotonic() < deadline:
        time.sleep(0.01)
    assert committed == ["4"], "the done chunk is committed; the next waits for the running one"
    later.set_result(pending_output(4, "8"))
    assert committer.close().rows_done == 12
    assert committed == ["4", "8", "12"]

    failing: Future[ChunkOutput] = Future()
    failing.set_exception(SourceError("the store went away"))
    committer = _Committer(commit, initial_state())
    committer.put(16, failing)
    committer.put(20, output(4, "20"))
    with pytest.raises(SourceError, match="the store went away"):
        committer.close()
    assert committed[3:] == [], "nothing after a chunk that failed"

    dropped: Future[ChunkOutput] = Future()
    dropped.cancel()  # an interrupted run drops what no worker started
    committer = _Committer(commit, initial_state())
    committer.put(24, output(4, "24"))
    committer.put(28, dropped)
    committer.put(32, output(4, "32"))
    assert committer.close().rows_done == 24, "stopped quietly at the dropped chunk"
    assert committed[3:] == ["24"]


@pytest.mark.skipif(not hasattr(os, "SCHED_BATCH"), reason="Linux scheduling policies")
def test_commits_run_as_batch_work_and_the_callers_thread_is_left_as_it_was() -> None:
    policies: list[int] = []

    def commit(state: RunState, rows_done: int, outs: list[ChunkOutput]) -> RunState:
        policies.append(os.sched_getscheduler(0))
        return msgspec.structs.replace(state, rows_done=rows_done)

    before = os.sched_getscheduler(0)
    committer = _Committer(commit, initial_state())
    committer.put(4, output(4))
    committer.close()
    assert policies == [os.SCHED_BATCH], "woken by a worker, it does not take the worker's core"
    assert os.sched_getscheduler(0) == before


def test_a_run_leaves_no_thread_behind(settings: Settings, dataset: Path, tmp_path: Path) -> None:
    before = threading.active_count()
    run(request(settings, DatasetSource(dataset), tmp_path / "out.jsonl"))
    assert threading.active_count() == before
