"""``riskscore score``: score one application from files, in this process, and print the answer.

It runs the same ``ScorePolicy`` as the API with the in-process model (the registry's default
version in ``RISKSCORE_DATA_DIR``), and records the prediction like the API does (``source`` is
``cli``): the audit trail journals it, delivers it to the configured stores and drains before the
command exits. The CLI journals under ``<data dir>/journal-cli`` so that it can run while
``riskscore serve`` owns ``<data dir>/journal``; an entry left there by a crash is delivered by the
next ``riskscore score``.

Output: a short human summary, or with ``--json`` the full prediction record as JSON. Exit codes:
0 scored, 1 could not score (no model, the stores or the journal failed), 2 bad input (unreadable
file, bad date, invalid evidence or policy number).
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from riskscore.domain.usecases.score_policy import ScoreRequest, ScoreResult
    from riskscore.settings import Settings

HELP = "Score one application from an MIB file and an Rx file, in-process, and print the answer."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--policy", required=True, help="policy number")
    parser.add_argument("--mib", required=True, type=Path, help="MIB report (XML file)")
    parser.add_argument("--rx", required=True, type=Path, help="Rx-history report (XML file)")
    parser.add_argument(
        "--as-of", type=dt.date.fromisoformat, default=None, help="evidence date (YYYY-MM-DD)"
    )
    parser.add_argument("--json", action="store_true", help="print the prediction record as JSON")
    parser.add_argument(
        "--data-dir", default=None, help="data directory (default: RISKSCORE_DATA_DIR)"
    )


def run(args: argparse.Namespace) -> int:
    from riskscore.adapters.logging import configure_logging
    from riskscore.domain.usecases.score_policy import ScoreRequest
    from riskscore.settings import load_settings

    try:
        settings = load_settings(data_dir=args.data_dir, model_client="inprocess")
    except ValueError as exc:
        return _fail(str(exc), 2)
    # Logs go to stderr here: stdout carries the answer.
    configure_logging(settings.log_format, "WARNING", stream=sys.stderr)
    try:
        mib = args.mib.read_bytes()
        rx = args.rx.read_bytes()
    except OSError as exc:
        return _fail(f"cannot read {exc.filename}: {exc.strerror}", 2)
    request = ScoreRequest(
        policy_number=args.policy, mib_xml=mib, rx_xml=rx, as_of=args.as_of, source="cli"
    )
    return _score(settings, request, as_json=args.json)


def _score(settings: Settings, request: ScoreRequest, *, as_json: bool) -> int:
    import asyncio

    from riskscore.domain.usecases.score_policy import InvalidScoreRequest
    from riskscore.ports.audit_trail import AuditTrailError
    from riskscore.ports.evidence_parser import EvidenceError
    from riskscore.ports.model_client import ModelClientError, ModelUnavailable

    try:
        result = asyncio.run(_score_once(settings, request))
    except (EvidenceError, InvalidScoreRequest) as exc:
        return _fail(f"invalid input: {exc}", 2)
    except ModelUnavailable:
        return _fail(
            f"no model is available in {settings.registry_dir}: train one with `riskscore train`",
            1,
        )
    except (ModelClientError, AuditTrailError) as exc:
        return _fail(f"{type(exc).__name__}: {exc}", 1)
    print(_render(result, as_json=as_json))
    return 0


async def _score_once(settings: Settings, request: ScoreRequest) -> ScoreResult:
    from dependency_injector import providers

    from riskscore.container import build_container, resolve, start, stop
    from riskscore.domain.usecases.score_policy import ScorePolicy

    container = build_container(settings)
    container.journal_dir.override(providers.Object(Path(settings.data_dir) / "journal-cli"))
    await start(container)
    try:
        policy = await resolve(container.score_policy, ScorePolicy)
        return await policy.score(request)
    finally:
        await stop(container)  # drains the journal into the stores


def _render(result: ScoreResult, *, as_json: bool) -> str:
    import msgspec

    record = result.prediction
    if as_json:
        return msgspec.json.encode(record).decode()
    lines = [
        f"policy {record.policy_number}: risk score {record.risk_score:.4f}, "
        f"risk class {record.risk_class}",
        f"model {record.model_name} {record.model_version}, "
        f"feature schema {record.feature_schema_version}, as of {record.as_of.isoformat()}",
    ]
    if record.risk_class == "refer":
        lines.append("refer: for review by an underwriter (riskscore never declines by itself)")
    if record.reason_codes:
        lines.append("reason codes (contribution to the log-odds):")
        lines.extend(
            f"  {code.feature:<40} {code.contribution:+.4f}"
            + ("" if code.value is None else f"  (value {code.value:g})")
            for code in record.reason_codes
        )
    lines.append(
        f"prediction {record.prediction_id}  "
        f"inference {record.inference_ms:.3f} ms, total {record.total_ms:.3f} ms"
    )
    return "\n".join(lines)


def _fail(message: str, code: int) -> int:
    print(f"riskscore score: {message}", file=sys.stderr)
    return code
