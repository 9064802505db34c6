"""End to end, as a user runs it: ``riskscore serve`` with ``RISKSCORE_BACKEND=snowflake`` against a
fakesnow server (``fakesnow -s -p PORT``), and the predictions and features land in the Snowflake
tables SQL users read (``ML_MODELS.MODEL_PREDICTIONS``, ``HYBRID_REALTIME.HT_ONLINE_FEATURES``)."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "integration"))

from http_contract_checks import (
    MIB_SAMPLE,
    RX_SAMPLE,
    RiskscoreProcess,
    free_port,
    riskscore_commands,
    wait_until_ready,
)

from riskscore.adapters.snowflake.fakesnow_support import (
    fakesnow_connections,
    fakesnow_environ,
)

DATABASE = "RISKSCORE"
pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore::UserWarning")]


def _env(port: int, data_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RISKSCORE_", "SNOWFLAKE_"))}
    env.update(fakesnow_environ(port, database=DATABASE, timeout_s=10.0))
    env.update(
        RISKSCORE_BACKEND="snowflake",
        RISKSCORE_SNOWFLAKE_DATABASE=DATABASE,
        RISKSCORE_DATA_DIR=str(data_dir),
        RISKSCORE_LOG_FORMAT="json",
        **extra,
    )
    return env


def _cli(env: dict[str, str], *args: str, timeout_s: float = 600) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "riskscore.adapters.cli.main", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
    )
    assert result.returncode == 0, (
        f"riskscore {args[0]} failed:\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}"
    )
    return result.stdout


@pytest.fixture
def fakesnow_port(tmp_path: Path) -> Iterator[int]:
    missing = {"serve", "train", "migrate"} - riskscore_commands()
    if missing:
        pytest.skip(f"riskscore {', '.join(sorted(missing))} not in this checkout yet")
    port = free_port()
    log = (tmp_path / "fakesnow.log").open("wb")
    server = subprocess.Popen(
        [sys.executable, "-m", "fakesnow", "-s", "-p", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                assert server.poll() is None, "fakesnow exited"
                assert time.monotonic() < deadline, "fakesnow did not listen"
                time.sleep(0.2)
        yield port
    finally:
        server.terminate()
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(timeout=15)
        log.close()


def _rows(port: int, query: str) -> list[tuple[object, ...]]:
    connection = fakesnow_connections(port, database=DATABASE).connect()
    try:
        cursor = connection.cursor()
        cursor.execute(query)
        return [tuple(row) for row in cursor.fetchall()]
    finally:
        connection.close()


def _wait_for_rows(
    port: int, query: str, expected: int, timeout_s: float = 120.0
) -> list[tuple[object, ...]]:
    """The audit trail delivers after answering: poll until the rows arrive. The first delivery
    imports the connector and logs in, which takes seconds on a busy machine."""
    started = time.monotonic()
    while True:
        rows = _rows(port, query)
        if len(rows) >= expected or time.monotonic() - started > timeout_s:
            return rows
        time.sleep(0.3)


def test_api_predictions_and_features_land_in_snowflake_tables(
    fakesnow_port: int, tmp_path: Path
) -> None:
    data_dir = tmp_path / "data"
    env = _env(fakesnow_port, data_dir)
    assert "applied 4 script(s)" in _cli(env, "migrate", "--backend", "snowflake", "--fakesnow")
    _cli(env, "train", "--n", "2000", "--promote", "--data-dir", str(data_dir))

    api_port = free_port()
    api_url = f"http://127.0.0.1:{api_port}"
    api = RiskscoreProcess(
        ["serve", "--host", "127.0.0.1", "--port", str(api_port)], env, tmp_path / "api.log"
    )
    try:
        wait_until_ready(api_url, timeout_s=120)
        answers = []
        for policy, mib, rx in (("E2E-001", MIB_SAMPLE, RX_SAMPLE), ("E2E-002", "<r/>", "<r/>")):
            response = httpx.post(
                f"{api_url}/v1/score",
                json={"policy_number": policy, "mib_xml": mib, "rx_xml": rx},
                timeout=30,
            )
            assert response.status_code == 200, response.text[:500]
            answers.append(response.json())
        ids = ", ".join(f"'{a['prediction_id']}'" for a in answers)
        predictions = _wait_for_rows(
            fakesnow_port,
            "SELECT PREDICTION_ID, POLICY_NUMBER, PREDICTION, RISK_CLASS, MODEL_NAME, MODEL_VERSION,"
            " FEATURE_SCHEMA_VERSION, SOURCE"
            f" FROM {DATABASE}.ML_MODELS.MODEL_PREDICTIONS WHERE PREDICTION_ID IN ({ids}) ORDER BY POLICY_NUMBER",
            expected=2,
        )
        features = _wait_for_rows(
            fakesnow_port,
            "SELECT PREDICTION_ID, POLICY_NUMBER, FEATURE_SCHEMA_VERSION, ARRAY_SIZE(FEATURES)"
            f" FROM {DATABASE}.HYBRID_REALTIME.HT_ONLINE_FEATURES WHERE PREDICTION_ID IN ({ids})"
            " ORDER BY POLICY_NUMBER",
            expected=2,
        )
    finally:
        code = api.stop()
    # uvicorn re-raises SIGTERM after its graceful shutdown; the drain is what matters.
    assert code in (0, -signal.SIGTERM), api.output()[-3000:]
    assert re.search(r'"audit_pending":\s*0[,}]', api.output()), api.output()[-3000:]

    assert [(r[0], r[1]) for r in predictions] == [
        (a["prediction_id"], a["policy_number"]) for a in answers
    ]
    for row, answer in zip(predictions, answers, strict=True):
        assert row[2] == pytest.approx(answer["risk_score"])
        assert (row[3], row[4], row[5], row[6]) == (
            answer["risk_class"],
            answer["model_name"],
            answer["model_version"],
            answer["feature_schema_version"],
        )
    from riskscore.domain.features.catalogue import SCHEMA

    assert [(r[0], r[2], r[3]) for r in features] == [
        (a["prediction_id"], a["feature_schema_version"], len(SCHEMA)) for a in answers
    ]
    log_text = api.output()
    assert "CODE1" not in log_text  # evidence content is never logged (FCRA)
    assert "METFORMIN" not in log_text
