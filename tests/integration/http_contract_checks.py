"""HTTP contract checks of a running riskscore deployment, given base URLs.

The same functions run against the Docker image (``test_image_contract.py``, when an engine is
reachable) and against ``riskscore serve`` + ``riskscore model-server`` started as local processes, so
they are exercised on every machine that can run the CLIs. Each check raises ``AssertionError`` with
a readable message; none quotes evidence content.
"""

from __future__ import annotations

import time
from typing import Any

import httpx

MIB_SAMPLE = '<?xml version="1.0"?><Response><ResponseData>CODE1</ResponseData></Response>'
RX_SAMPLE = (
    '<?xml version="1.0"?><IntelRXResponse><DrugFill><DrugGenericName>METFORMIN'
    "</DrugGenericName></DrugFill></IntelRXResponse>"
)
EMPTY = "<r/>"
RISK_CLASSES = {"preferred", "standard", "substandard", "refer"}
ANSWER_FIELDS = {
    "prediction_id",
    "policy_number",
    "risk_score",
    "risk_class",
    "model_name",
    "model_version",
    "reason_codes",
    "feature_schema_version",
    "inference_ms",
    "total_ms",
}


def wait_until_ready(url: str, timeout_s: float = 60.0) -> None:
    """Poll ``GET url/health`` until it answers 200."""
    deadline = time.monotonic() + timeout_s
    last: object = None
    while time.monotonic() < deadline:
        try:
            response = httpx.get(f"{url}/health", timeout=2.0)
            if response.status_code == 200:
                return
            last = response.status_code
        except httpx.HTTPError as exc:
            last = type(exc).__name__
        time.sleep(0.2)
    raise AssertionError(f"{url}/health not ready after {timeout_s}s (last: {last})")


def _check_answer(answer: dict[str, Any], policy_number: str) -> None:
    missing = ANSWER_FIELDS - set(answer)
    assert not missing, f"answer lacks {sorted(missing)}"
    assert answer["policy_number"] == policy_number
    assert 0.0 <= answer["risk_score"] <= 1.0
    assert answer["risk_class"] in RISK_CLASSES
    assert answer["model_name"]
    assert answer["model_version"]
    assert isinstance(answer["reason_codes"], list)
    for code in answer["reason_codes"]:
        assert {"feature", "contribution"} <= set(code)


def check_health(api_url: str) -> None:
    response = httpx.get(f"{api_url}/health", timeout=5.0)
    assert response.status_code == 200, f"/health answered {response.status_code}"


def check_score_reference_samples(api_url: str) -> list[str]:
    """The public demo samples and the empty report score; answers the prediction ids."""
    ids = []
    for policy, mib, rx in (("TEST-001", MIB_SAMPLE, RX_SAMPLE), ("TEST-002", EMPTY, EMPTY)):
        response = httpx.post(
            f"{api_url}/v1/score",
            json={"policy_number": policy, "mib_xml": mib, "rx_xml": rx},
            timeout=10.0,
        )
        assert response.status_code == 200, (
            f"/v1/score answered {response.status_code}: {response.text[:300]}"
        )
        answer = response.json()
        _check_answer(answer, policy)
        ids.append(str(answer["prediction_id"]))
    assert len(set(ids)) == len(ids), "prediction ids must be unique"
    return ids


def check_bad_evidence_is_a_problem(api_url: str) -> None:
    response = httpx.post(
        f"{api_url}/v1/score",
        json={"policy_number": "TEST-BAD", "mib_xml": "<Response><oops>", "rx_xml": EMPTY},
        timeout=10.0,
    )
    assert 400 <= response.status_code < 500, response.status_code
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json().get("detail")


def check_service_function_batch(api_url: str) -> None:
    """External-function format: same rows, same order, a bad row answered in place."""
    rows = [
        [0, "SF-0", MIB_SAMPLE, RX_SAMPLE],
        [1, "SF-1", "<not xml", EMPTY],
        [2, "SF-2", EMPTY, EMPTY],
    ]
    response = httpx.post(f"{api_url}/v1/service-function/score", json={"data": rows}, timeout=10.0)
    assert response.status_code == 200, (
        f"batch answered {response.status_code}: {response.text[:300]}"
    )
    data = response.json()["data"]
    assert [row[0] for row in data] == [0, 1, 2]
    _check_answer(data[0][1], "SF-0")
    assert set(data[1][1]) == {"error"}
    assert {"type", "detail"} <= set(data[1][1]["error"])
    _check_answer(data[2][1], "SF-2")
    malformed = httpx.post(f"{api_url}/v1/service-function/score", json={"rows": []}, timeout=10.0)
    assert malformed.status_code == 400, malformed.status_code


def check_model_service(model_url: str, n_features: int) -> None:
    """Snowflake's inference protocol: flat rows in, one probability object per row out."""
    check_health(model_url)
    rows = [[0, *([0.0] * n_features)], [1, *([1.0] * n_features)]]
    response = httpx.post(f"{model_url}/predict-proba", json={"data": rows}, timeout=10.0)
    assert response.status_code == 200, (
        f"/predict-proba answered {response.status_code}: {response.text[:300]}"
    )
    data = response.json()["data"]
    assert [row[0] for row in data] == [0, 1]
    for _, out in data:
        assert abs(out["output_feature_0"] + out["output_feature_1"] - 1.0) < 1e-9
    wrong = httpx.post(f"{model_url}/predict-proba", json={"data": [[0, 1.0]]}, timeout=10.0)
    assert wrong.status_code == 400, wrong.status_code


def check_all(api_url: str, model_url: str, n_features: int) -> list[str]:
    check_health(api_url)
    check_model_service(model_url, n_features)
    ids = check_score_reference_samples(api_url)
    check_bad_evidence_is_a_problem(api_url)
    check_service_function_batch(api_url)
    return ids


# -- local processes ------------------------------------------------------------------------------
def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def riskscore_commands() -> set[str]:
    """The sub-commands this checkout's ``riskscore`` CLI offers (others are being written)."""
    from riskscore.adapters.cli.main import build_parser

    parser = build_parser()
    for action in parser._actions:  # argparse keeps sub-commands in a private action
        choices = getattr(action, "choices", None)
        if isinstance(choices, dict):
            return set(choices)
    return set()


class RiskscoreProcess:
    """``python -m riskscore.adapters.cli.main <args>`` in the background, output to a file."""

    def __init__(self, args: list[str], env: dict[str, str], log_path: Any) -> None:
        import subprocess
        import sys

        self.log_path = log_path
        self._log = open(log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "riskscore.adapters.cli.main", *args],
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    def output(self) -> str:
        if not self._log.closed:
            self._log.flush()
        with open(self.log_path, "rb") as fh:
            return fh.read().decode(errors="replace")

    def stop(self, timeout_s: float = 15.0) -> int:
        import signal
        import subprocess

        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=timeout_s)
        self._log.close()
        return int(self.process.returncode)
