"""Benchmark: the journaled audit trail against one-write-per-request, both into SQLite.

Run: ``.venv/bin/python -m bench.audit [--entries N] [--features F] [--baseline N] [--fsync-sample N]``.

In one run, on fresh SQLite files under ``bench/results/work/`` (deleted afterwards), it measures:

1. ``record()`` latency on the request path (journal append, writer thread running), in us;
2. end to end: N entries recorded back to back, until all are in SQLite (``drain``), entries/s;
3. the writer alone: N entries already journaled, delivered from the backlog, entries/s;
4. the baseline: per request ``FeatureStore.write_many([one])`` then ``PredictionLog.append_many([one])``
   (a commit each, what a handler writing synchronously would do), entries/s and us per request;
5. ``record()`` latency with ``fsync=True`` (durable against power loss), on a small sample.

It prints the figures and the ratio writer / baseline.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import shutil
import statistics
import time
from pathlib import Path

from riskscore.adapters.localfs.audit_trail import JournaledAuditTrail
from riskscore.adapters.sqlite.feature_store import SqliteFeatureStore
from riskscore.adapters.sqlite.prediction_log import SqlitePredictionLog
from riskscore.domain.features.schema import FeatureVector
from riskscore.domain.scoring import AuditEntry, FeatureRecord, PredictionRecord, ReasonCode

WORK = Path(__file__).resolve().parent / "results" / "work"


def make_entries(n: int, n_features: int, seed: int = 7) -> list[AuditEntry]:
    """Entries shaped like the API's: a sparse vector, three reason codes, fresh ids."""
    rng = random.Random(seed)
    now = dt.datetime.now(dt.UTC)
    entries = []
    for i in range(n):
        values = tuple(
            0.0 if rng.random() < 0.6 else float(rng.randint(1, 30)) for _ in range(n_features)
        )
        pid = f"bench-{i:08d}-{rng.getrandbits(32):08x}"
        policy = f"POL-{rng.randrange(n // 3 + 1):07d}"
        at = now + dt.timedelta(microseconds=i)
        entries.append(
            AuditEntry(
                prediction=PredictionRecord(
                    prediction_id=pid,
                    policy_number=policy,
                    risk_score=rng.random(),
                    risk_class="standard",
                    model_name="EVIDENCE_RISK_MODEL",
                    model_version="V1",
                    feature_schema_version="bench-schema",
                    feature_hash=f"{rng.getrandbits(128):032x}",
                    reason_codes=tuple(
                        ReasonCode(feature=f"feature_{k}", contribution=rng.random(), value=1.0)
                        for k in range(3)
                    ),
                    scored_at=at,
                    as_of=at.date(),
                    inference_ms=0.05,
                    total_ms=0.7,
                ),
                features=FeatureRecord(
                    prediction_id=pid,
                    policy_number=policy,
                    as_of=at.date(),
                    feature_ts=at,
                    vector=FeatureVector(schema_version="bench-schema", values=values),
                ),
            )
        )
    return entries


def _stores(db: Path) -> tuple[SqliteFeatureStore, SqlitePredictionLog]:
    return SqliteFeatureStore(db), SqlitePredictionLog(db)


def _pct(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


def journaled(work: Path, entries: list[AuditEntry]) -> dict[str, float]:
    features, log = _stores(work / "journaled.sqlite3")
    trail = JournaledAuditTrail(work / "journal", features, log)
    trail.start()
    latencies = []
    started = time.perf_counter()
    for entry in entries:
        t = time.perf_counter_ns()
        trail.record(entry)
        latencies.append((time.perf_counter_ns() - t) / 1000)
    recorded = time.perf_counter()
    assert trail.drain(600)
    done = time.perf_counter()
    trail.close()

    # The writer alone: journal everything first, then deliver the backlog.
    backlog_features, backlog_log = _stores(work / "backlog.sqlite3")
    backlog = JournaledAuditTrail(work / "journal-backlog", backlog_features, backlog_log)
    backlog.record_many(entries)
    t = time.perf_counter()
    backlog.start()
    assert backlog.drain(600)
    writer_s = time.perf_counter() - t
    assert backlog.stats().delivered == len(entries)
    backlog.close()
    for store in (features, log, backlog_features, backlog_log):
        store.close()
    return {
        "record_us_mean": statistics.fmean(latencies),
        "record_us_p50": _pct(latencies, 50),
        "record_us_p99": _pct(latencies, 99),
        "record_only_per_s": len(entries) / (recorded - started),
        "end_to_end_per_s": len(entries) / (done - started),
        "writer_per_s": len(entries) / writer_s,
    }


def per_request(work: Path, entries: list[AuditEntry]) -> dict[str, float]:
    features, log = _stores(work / "baseline.sqlite3")
    latencies = []
    started = time.perf_counter()
    for entry in entries:
        t = time.perf_counter_ns()
        features.write_many([entry.features])
        log.append_many([entry.prediction])
        latencies.append((time.perf_counter_ns() - t) / 1000)
    elapsed = time.perf_counter() - started
    features.close()
    log.close()
    return {
        "per_s": len(entries) / elapsed,
        "us_p50": _pct(latencies, 50),
        "us_p99": _pct(latencies, 99),
    }


def fsync_latency(work: Path, entries: list[AuditEntry]) -> dict[str, float]:
    features, log = _stores(work / "fsync.sqlite3")
    trail = JournaledAuditTrail(work / "journal-fsync", features, log, fsync=True)
    latencies = []
    for entry in entries:
        t = time.perf_counter_ns()
        trail.record(entry)
        latencies.append((time.perf_counter_ns() - t) / 1000)
    trail.close()
    features.close()
    log.close()
    return {"record_us_p50": _pct(latencies, 50), "record_us_p99": _pct(latencies, 99)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=20_000)
    parser.add_argument("--features", type=int, default=120)
    parser.add_argument("--baseline", type=int, default=3_000, help="entries for the baseline")
    parser.add_argument("--fsync-sample", type=int, default=300)
    args = parser.parse_args()

    work = WORK / f"audit-{os.getpid()}"
    work.mkdir(parents=True, exist_ok=True)
    try:
        entries = make_entries(args.entries, args.features)
        j = journaled(work, entries)
        b = per_request(work, make_entries(args.baseline, args.features, seed=8))
        f = fsync_latency(work, make_entries(args.fsync_sample, args.features, seed=9))
    finally:
        shutil.rmtree(work, ignore_errors=True)

    print(f"audit trail into SQLite, {args.entries} entries of {args.features} features")
    print(
        f"  record() on the request path: mean {j['record_us_mean']:.1f} us,"
        f" p50 {j['record_us_p50']:.1f} us, p99 {j['record_us_p99']:.1f} us"
        f" ({j['record_only_per_s']:,.0f} records/s from one thread)"
    )
    print(f"  end to end (record all, drain):  {j['end_to_end_per_s']:>10,.0f} entries/s")
    print(f"  writer alone (backlog -> SQLite): {j['writer_per_s']:>10,.0f} entries/s")
    print(
        f"  baseline, 2 commits per request:  {b['per_s']:>10,.0f} entries/s"
        f" (p50 {b['us_p50']:.0f} us, p99 {b['us_p99']:.0f} us per request, {args.baseline} entries)"
    )
    print(f"  ratio writer / baseline: {j['writer_per_s'] / b['per_s']:.1f}x")
    print(
        f"  record() with fsync=True: p50 {f['record_us_p50']:.0f} us,"
        f" p99 {f['record_us_p99']:.0f} us ({args.fsync_sample} entries)"
    )


if __name__ == "__main__":
    main()
