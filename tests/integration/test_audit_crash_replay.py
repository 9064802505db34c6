"""SIGKILL a process mid-stream: every prediction it acknowledged reaches SQLite exactly once.

The child records entries through a ``JournaledAuditTrail`` on SQLite with delivery running, and
prints each prediction id after ``record`` returned (that print is its acknowledgement). The test
kills it with SIGKILL, starts a new trail on the same journal directory and database, drains it and
looks every acknowledged id up in the database.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

from riskscore.adapters.localfs.audit_trail import JournaledAuditTrail
from riskscore.adapters.sqlite.feature_store import SqliteFeatureStore
from riskscore.adapters.sqlite.prediction_log import SqlitePredictionLog

CHILD = r"""
import datetime as dt
import sys

from riskscore.adapters.localfs.audit_trail import JournaledAuditTrail
from riskscore.adapters.sqlite.feature_store import SqliteFeatureStore
from riskscore.adapters.sqlite.prediction_log import SqlitePredictionLog
from riskscore.domain.features.schema import FeatureVector
from riskscore.domain.scoring import AuditEntry, FeatureRecord, PredictionRecord

journal_dir, db = sys.argv[1], sys.argv[2]
trail = JournaledAuditTrail(
    journal_dir, SqliteFeatureStore(db), SqlitePredictionLog(db),
    batch_size=200, flush_interval_s=0.2, segment_bytes=64 * 1024,
)
trail.start()
i = 0
while True:
    now = dt.datetime.now(dt.UTC)
    pid = f"crash-{i:07d}"
    trail.record(AuditEntry(
        prediction=PredictionRecord(
            prediction_id=pid, policy_number=f"POL-{i % 50}", risk_score=0.5,
            risk_class="substandard", model_name="EVIDENCE_RISK_MODEL", model_version="V1",
            feature_schema_version="s", feature_hash="h", reason_codes=(), scored_at=now,
            as_of=now.date(),
        ),
        features=FeatureRecord(
            prediction_id=pid, policy_number=f"POL-{i % 50}", as_of=now.date(), feature_ts=now,
            vector=FeatureVector(schema_version="s", values=tuple(float(i % 7) for _ in range(120))),
        ),
    ))
    print(pid, flush=True)
    i += 1
"""

ACKS_BEFORE_KILL = 3_000


def _counts(db: Path, table: str) -> dict[str, int]:
    conn = sqlite3.connect(db)
    try:
        rows = conn.execute(
            f"SELECT prediction_id, count(*) FROM {table} GROUP BY prediction_id"
        ).fetchall()
    finally:
        conn.close()
    return {str(pid): int(n) for pid, n in rows}


def test_every_acknowledged_prediction_survives_sigkill_exactly_once(tmp_path: Path) -> None:
    journal_dir, db = tmp_path / "journal", tmp_path / "riskscore.sqlite3"
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(journal_dir), str(db)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert child.stdout is not None
    acknowledged: list[str] = []
    try:
        for line in child.stdout:
            acknowledged.append(line)
            if len(acknowledged) >= ACKS_BEFORE_KILL:
                break
        os.kill(child.pid, signal.SIGKILL)
        acknowledged += child.stdout.readlines()
    finally:
        child.kill()
        child.wait(timeout=10)
    assert child.returncode == -signal.SIGKILL
    # A line cut short by the kill is not an acknowledgement.
    acked = [line.strip() for line in acknowledged if line.endswith("\n")]
    assert len(acked) >= ACKS_BEFORE_KILL

    before = _counts(db, "model_predictions")
    missing_before = [pid for pid in acked if pid not in before]
    assert missing_before, "the child delivered everything before the kill: nothing to replay"

    features, log = SqliteFeatureStore(db), SqlitePredictionLog(db)
    trail = JournaledAuditTrail(journal_dir, features, log)
    try:
        trail.start()
        assert trail.drain(30.0)
    finally:
        trail.close()
        features.close()
        log.close()

    predictions, vectors = _counts(db, "model_predictions"), _counts(db, "online_features")
    assert [pid for pid in acked if predictions.get(pid) != 1] == []
    assert [pid for pid in acked if vectors.get(pid) != 1] == []
