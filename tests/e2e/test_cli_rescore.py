"""``riskscore rescore`` as a user runs it: subprocesses over a generated dataset, JSON Lines, the
feature store and a Snowflake query (fakesnow), with progress, parquet, prediction logging,
``--compare``, and a run killed (SIGKILL) or interrupted (SIGINT) then ``--resume``-d."""

from __future__ import annotations

import datetime as dt
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import msgspec
import pytest
from conftest import clean_env, with_model

from riskscore.adapters.localfs.model_registry import LocalFsModelRegistry
from riskscore.adapters.lxml import LxmlEvidenceParser
from riskscore.adapters.sqlite.feature_store import SqliteFeatureStore
from riskscore.adapters.sqlite.prediction_log import SqlitePredictionLog
from riskscore.adapters.synthetic import generate
from riskscore.adapters.treemodel.training import generated_training_data, train_and_register
from riskscore.domain.features.catalogue import SCHEMA
from riskscore.domain.features.extract import extract_features
from riskscore.domain.features.schema import FeatureVector
from riskscore.domain.scoring import FeatureRecord
from riskscore.settings import load_settings

pytestmark = pytest.mark.slow  # every test starts riskscore processes (seconds each)

N = 120
AS_OF = dt.date(2026, 1, 1)
SMALL = {"max_iter": 10, "learning_rate": 0.2, "max_leaf_nodes": 8, "early_stopping": False}


class Row(msgspec.Struct):
    index: int
    policy_number: str
    risk_score: float | None = None
    risk_class: str | None = None
    model_version: str | None = None
    batch_run_id: str | None = None
    prediction_id: str | None = None
    error: dict[str, str | None] | None = None


def riskscore(
    *args: str, env: dict[str, str], timeout: float = 180
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "riskscore.adapters.cli.main", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
    )


def read_rows(path: Path) -> list[Row]:
    decoder = msgspec.json.Decoder(Row)
    return [decoder.decode(line) for line in path.read_bytes().splitlines()]


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory, trained_registry: Path) -> Path:
    """A data directory whose registry has V1 (the session's model) and a V2 trained here."""
    directory = with_model(tmp_path_factory.mktemp("rescore") / "data", trained_registry)
    registry = LocalFsModelRegistry(directory / "registry", expected_schema_version=SCHEMA.version)
    train_and_register(registry, generated_training_data(400, seed=12, workers=1), params=SMALL)
    return directory


@pytest.fixture(scope="module")
def env(data_dir: Path) -> dict[str, str]:
    return clean_env(data_dir)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory, env: dict[str, str]) -> Path:
    out = tmp_path_factory.mktemp("dataset") / "apps"
    result = riskscore("generate", "--n", str(N), "--seed", "4", "--out", str(out), env=env)
    assert result.returncode == 0, result.stderr
    return out


def test_a_dataset_is_rescored_into_json_lines_with_progress(
    dataset: Path, env: dict[str, str], tmp_path: Path
) -> None:
    out = tmp_path / "out.jsonl"
    result = riskscore(
        "rescore", "--input", str(dataset), "--model-version", "V1", "--out", str(out),
        "--workers", "2", "--batch-size", "25", env=env,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    rows = read_rows(out)
    assert [r.index for r in rows] == list(range(N))
    assert all(r.error is None and r.model_version == "V1" for r in rows)
    assert f"rescored {N} rows, 0 refused" in result.stdout
    assert f"rescore: {N:,} / {N:,} (100%) rows" in result.stderr  # a \r-redrawn line
    assert not out.with_name("out.jsonl.rescore-state.json").exists()


def test_bad_records_are_reported_and_the_run_goes_on(env: dict[str, str], tmp_path: Path) -> None:
    good = next(generate(1, 3, as_of=AS_OF))
    lines = [
        msgspec.json.encode(
            {"policy_number": "G-1", "mib_xml": good.mib_xml, "rx_xml": good.rx_xml}
        ),
        b'{"policy_number": "B-1", "mib_xml": "<!DOCTYPE r [<!ENTITY x \\"y\\">]><r>&x;</r>", "rx_xml": "<r/>"}',
        b"not json at all",
        msgspec.json.encode({"policy_number": "G-2", "mib_xml": "<r/>", "rx_xml": "<r/>"}),
    ]
    source = tmp_path / "apps.jsonl"
    source.write_bytes(b"\n".join(lines) + b"\n")
    out = tmp_path / "out.jsonl"
    result = riskscore(
        "rescore", "--input", str(source), "--as-of", "2026-01-01", "--out", str(out),
        "--no-progress", env=env,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    rows = read_rows(out)
    assert [r.policy_number for r in rows] == ["G-1", "B-1", "", "G-2"]
    assert rows[1].error is not None
    assert rows[1].error["type"] == "forbidden-xml-construct"
    assert rows[2].error is not None
    assert (rows[2].error["type"], rows[2].error["detail"][:7]) == ("invalid-input-row", "line 3:")
    assert rows[0].risk_score is not None
    assert rows[3].risk_score is not None
    assert "2 refused" in result.stdout
    assert result.stderr == ""


def test_compare_prints_the_shift_summary_and_migration_matrix(
    dataset: Path, env: dict[str, str], tmp_path: Path
) -> None:
    out = tmp_path / "cmp.jsonl"
    result = riskscore(
        "rescore", "--input", str(dataset), "--compare", "V1", "V2", "--out", str(out),
        "--workers", "1", "--no-progress", env=env,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "score shift V1 -> V2" in result.stdout
    assert "risk-class migration (rows: V1, columns: V2)" in result.stdout
    report = msgspec.json.decode(out.with_name("cmp.jsonl.compare.json").read_bytes())
    assert report["compared"] == N
    assert sum(sum(row.values()) for row in report["migration"].values()) == N
    assert f"{report['median_abs_shift']:.4f}" in result.stdout


def test_parquet_and_prediction_logging(
    dataset: Path, env: dict[str, str], data_dir: Path, tmp_path: Path
) -> None:
    pq = pytest.importorskip("pyarrow.parquet")
    out = tmp_path / "out.parquet"
    run_id = f"run-{uuid.uuid4().hex[:8]}"
    result = riskscore(
        "rescore", "--input", str(dataset), "--out", str(out), "--log-predictions",
        "--batch-run-id", run_id, "--no-progress", env=env,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    table = pq.read_table(out).to_pylist()
    assert [r["index"] for r in table] == list(range(N))
    log = SqlitePredictionLog(data_dir / "riskscore.sqlite3")
    try:
        logged = list(log.iter_batch_run(run_id))
    finally:
        log.close()
    assert len(logged) == N
    assert {p.source for p in logged} == {"rescore"}
    assert {p.prediction_id for p in logged} == {r["prediction_id"] for r in table}


def test_stored_feature_vectors_are_rescored_and_a_foreign_schema_refused(
    trained_registry: Path, tmp_path: Path
) -> None:
    data = with_model(tmp_path / "data", trained_registry)
    store = SqliteFeatureStore(load_settings({}, data_dir=str(data)).sqlite_path)
    parser = LxmlEvidenceParser()
    now = dt.datetime(2026, 2, 1, tzinfo=dt.UTC)
    apps = list(generate(5, 9, as_of=AS_OF))
    records = [
        FeatureRecord(
            prediction_id=f"pred-{i}",
            policy_number=a.policy_number,
            as_of=a.as_of,
            feature_ts=now + dt.timedelta(seconds=i),
            vector=extract_features(parser.parse(a.policy_number, a.mib_xml, a.rx_xml), a.as_of),
        )
        for i, a in enumerate(apps)
    ]
    records.append(
        FeatureRecord(
            prediction_id="pred-old",
            policy_number="OLD-1",
            as_of=AS_OF,
            feature_ts=now + dt.timedelta(minutes=1),
            vector=FeatureVector(schema_version="0123456789abcdef", values=(1.0,)),
        )
    )
    try:
        store.write_many(records)
    finally:
        store.close()
    env = clean_env(data)
    out = tmp_path / "out.jsonl"
    refused = riskscore(
        "rescore", "--from-feature-store", "--as-of", "2026-01-01", "--out", str(out), env=env
    )
    assert refused.returncode == 2
    assert "--as-of cannot move stored feature vectors" in refused.stderr
    result = riskscore(
        "rescore", "--from-feature-store", "--out", str(out), "--no-progress", env=env
    )
    assert result.returncode == 0, result.stderr
    rows = read_rows(out)
    assert [r.policy_number for r in rows] == [a.policy_number for a in apps] + ["OLD-1"]
    assert rows[-1].error is not None
    assert rows[-1].error["type"] == "feature-schema-mismatch"


def test_usage_and_setup_errors_are_specific(
    dataset: Path, env: dict[str, str], tmp_path: Path
) -> None:
    out = tmp_path / "out.jsonl"
    unknown = riskscore(
        "rescore", "--input", str(dataset), "--model-version", "V99", "--out", str(out), env=env
    )
    assert unknown.returncode == 1
    assert "cannot load the model: ModelNotFound" in unknown.stderr
    missing = riskscore("rescore", "--input", str(tmp_path / "nope"), "--out", str(out), env=env)
    assert missing.returncode == 1
    assert "no such file or directory" in missing.stderr
    nothing = riskscore("rescore", "--input", str(dataset), "--out", str(out), "--resume", env=env)
    assert nothing.returncode == 1
    assert "nothing to resume" in nothing.stderr


# -- interruption and resume ----------------------------------------------------------------------
@pytest.fixture(scope="module")
def big_dataset(tmp_path_factory: pytest.TempPathFactory, env: dict[str, str]) -> Path:
    out = tmp_path_factory.mktemp("big") / "apps"
    result = riskscore("generate", "--n", "1500", "--seed", "5", "--out", str(out), env=env)
    assert result.returncode == 0, result.stderr
    return out


def _start(dataset: Path, out: Path, env: dict[str, str], *extra: str) -> subprocess.Popen[str]:
    with _sigint_not_ignored():
        return subprocess.Popen(
            [
                sys.executable, "-m", "riskscore.adapters.cli.main", "rescore", "--input",
                str(dataset), "--out", str(out), "--workers", "1", "--batch-size", "20",
                "--no-progress", *extra,
            ],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )  # fmt: skip


@contextmanager
def _sigint_not_ignored() -> Iterator[None]:
    """SIGINT handled (not ignored) in this process while a run starts, so the run can be
    interrupted. Tests started in the background of a shell without job control (``nohup``, ``&``)
    begin with SIGINT ignored, and a process inherits that through exec: Python then never raises
    KeyboardInterrupt, and a run sent SIGINT simply finished (seen running ``.ci/run`` that way).
    A handler here is the default action in the child."""
    if signal.getsignal(signal.SIGINT) is not signal.SIG_IGN:
        yield
        return
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)


def _wait_for_rows(out: Path, process: subprocess.Popen[str], at_least: int) -> int:
    state = out.with_name(out.name + ".rescore-state.json")
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        assert process.poll() is None, "the run ended before it could be interrupted"
        try:
            done = int(msgspec.json.decode(state.read_bytes())["rows_done"])
        except (OSError, msgspec.DecodeError, KeyError):
            done = 0
        if done >= at_least:
            return done
        time.sleep(0.01)
    raise AssertionError("the run made no progress")


def _assert_complete(out: Path, n: int) -> list[Row]:
    rows = read_rows(out)
    assert [r.index for r in rows] == list(range(n))  # every row, once, in order
    assert len({r.prediction_id for r in rows}) == n
    return rows


def test_a_killed_run_resumes_with_every_row_exactly_once(
    big_dataset: Path, env: dict[str, str], tmp_path: Path
) -> None:
    out = tmp_path / "out.jsonl"
    process = _start(big_dataset, out, env, "--workers", "2")
    done = _wait_for_rows(out, process, 100)
    process.send_signal(signal.SIGKILL)
    # Its output ends once its workers have stopped too: they hold its stdout and stderr, and
    # waited for chunks forever before they watched the run's process.
    process.communicate(timeout=30)
    assert process.returncode == -signal.SIGKILL
    assert done < 1500
    resumed = riskscore(
        "rescore", "--input", str(big_dataset), "--out", str(out), "--workers", "2",
        "--batch-size", "20", "--no-progress", "--resume", env=env,
    )  # fmt: skip
    assert resumed.returncode == 0, resumed.stderr
    assert "rescored 1500 rows (resumed after row" in resumed.stdout
    rows = _assert_complete(out, 1500)
    assert len({r.batch_run_id for r in rows}) == 1


def test_an_interrupted_run_says_how_to_resume(
    big_dataset: Path, env: dict[str, str], tmp_path: Path
) -> None:
    out = tmp_path / "out.jsonl"
    process = _start(big_dataset, out, env)
    _wait_for_rows(out, process, 60)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stderr
    assert "run again with --resume" in stderr
    resumed = riskscore(
        "rescore", "--input", str(big_dataset), "--out", str(out), "--workers", "1",
        "--batch-size", "20", "--no-progress", "--resume", env=env,
    )  # fmt: skip
    assert resumed.returncode == 0, resumed.stderr
    _assert_complete(out, 1500)


# -- Snowflake query (fakesnow server) ------------------------------------------------------------
@pytest.fixture(scope="module")
def fakesnow_port() -> Iterator[int]:
    pytest.importorskip("fakesnow")
    from riskscore.adapters.snowflake.fakesnow_support import fakesnow_server

    with fakesnow_server() as port:
        yield port


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_a_snowflake_query_is_rescored(
    fakesnow_port: int, env: dict[str, str], tmp_path: Path
) -> None:
    from riskscore.adapters.snowflake.fakesnow_support import fakesnow_connections, fakesnow_environ

    database = f"RESCORE_E2E_{uuid.uuid4().hex[:6].upper()}"
    connection = fakesnow_connections(fakesnow_port, database=database).connect()
    cursor = connection.cursor()
    cursor.execute(f"CREATE DATABASE IF NOT EXISTS {database}")
    cursor.execute(f"USE DATABASE {database}")
    cursor.execute("CREATE SCHEMA IF NOT EXISTS PUBLIC")
    cursor.execute(
        "CREATE TABLE PUBLIC.APPS (POLICY_NUMBER VARCHAR, MIB_XML VARCHAR, RX_XML VARCHAR, AS_OF DATE)"
    )
    apps = list(generate(6, 2, as_of=AS_OF))
    for app in apps:
        cursor.execute(
            "INSERT INTO PUBLIC.APPS VALUES (%s, %s, %s, %s)",
            (app.policy_number, app.mib_xml, app.rx_xml, app.as_of.isoformat()),
        )
    connection.close()
    query_env = {**env, **fakesnow_environ(fakesnow_port, database=database)}
    out = tmp_path / "out.jsonl"
    result = riskscore(
        "rescore", "--query",
        "SELECT POLICY_NUMBER, MIB_XML, RX_XML, AS_OF FROM PUBLIC.APPS WHERE AS_OF = %s ORDER BY POLICY_NUMBER",
        "--param", "2026-01-01", "--out", str(out), "--no-progress", env=query_env,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    rows = read_rows(out)
    assert [r.policy_number for r in rows] == sorted(a.policy_number for a in apps)
    assert all(r.error is None and r.risk_score is not None for r in rows)
