"""Parts 3-5, in the harness's own process, pinned to the server CPU while they run.

3. **inference**: riskscore's ``TreeEnsembleModel`` against the scikit-learn estimator it was compiled
   from, 1 row and 1,000 rows per call. Equality: the 1,000 probabilities agree within tolerance.
4. **features**: parse + feature extraction per application, typical (the workspace's generated applications
   with 20-60 fills, cycled) and large (a 500-fill Rx history over five years). There is no outside peer: the seed
   architecture parses and extracts with riskscore's own code (``bench/peers/seed_api.py``), so the
   reference column is the floor, libxml2 building the two trees and nothing else.
5. **audit**: records per second the journaled audit trail's writer delivers to SQLite against one
   write per request (``bench/audit.py``'s measurements).

Per-call timings use ``bench.timing.per_call`` (``perf_counter_ns`` around each call).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import itertools
import os
import shutil
from collections.abc import Callable, Iterator, Sequence
from typing import TypeVar

import numpy as np
from lxml import etree

from bench.config import RunConfig
from bench.equality import compare
from bench.figures import ratio
from bench.timing import per_call
from bench.workspace import WORK, Workspace
from riskscore.adapters.synthetic import SyntheticApplication

T = TypeVar("T")
LARGE_FILLS = 500
AS_OF = dt.date(2026, 1, 1)


@contextlib.contextmanager
def pinned_to(cpus: Sequence[int] | None) -> Iterator[None]:
    """Run the block on ``cpus`` with native thread pools (OpenMP, BLAS) sized to match.

    Like the servers, which ``taskset`` starts on one CPU (libgomp then sizes its pool to the
    affinity mask), the in-process parts get one core. Pinning alone is not enough here: this
    process's OpenMP pool was sized for every CPU before the pinning, and scikit-learn's predictions
    with two OpenMP threads on one busy core wait at barriers for milliseconds. Threads started inside
    the block inherit the affinity; it is restored afterwards.
    """
    if not cpus or not hasattr(os, "sched_setaffinity"):
        yield
        return
    from threadpoolctl import threadpool_limits

    before = os.sched_getaffinity(0)
    os.sched_setaffinity(0, set(cpus))
    try:
        with threadpool_limits(limits=len(cpus)):
            yield
    finally:
        os.sched_setaffinity(0, before)


def _cycling(items: Sequence[T], fn: Callable[[T], object]) -> Callable[[], object]:
    """A no-argument call that applies ``fn`` to the next item, round and round."""
    it = itertools.cycle(items)
    return lambda: fn(next(it))


def inference(ws: Workspace, cfg: RunConfig) -> dict[str, object]:
    model, est = ws.model, ws.estimator
    x = ws.features[:1000]
    rows = [x[i : i + 1] for i in range(len(x))]
    n1, n1000 = (800, 40) if cfg.quick else (3000, 200)
    ours = np.asarray(model.predict_proba(x), dtype=np.float64)
    theirs = np.asarray(est.predict_proba(x)[:, 1], dtype=np.float64)
    singles = np.array([model.predict_proba(r)[0] for r in rows[: cfg.equality_n]])
    batch = compare(
        "riskscore TreeEnsembleModel, 1,000 rows",
        {str(i): float(p) for i, p in enumerate(theirs)},
        {str(i): float(p) for i, p in enumerate(ours)},
        cfg.tolerance,
    )
    single = compare(
        "riskscore TreeEnsembleModel, 1 row",
        {str(i): float(theirs[i]) for i in range(len(singles))},
        {str(i): float(p) for i, p in enumerate(singles)},
        cfg.tolerance,
    )
    out: dict[str, object] = {
        "equality": batch.summary() | {"single_row": single.summary()},
        "batch_rows": len(x),
    }
    if not (batch.ok and single.ok):
        out["error"] = "; ".join(c.describe() for c in (batch, single) if not c.ok)
        return out
    cases: dict[str, Callable[[], object]] = {
        "riskscore_proba_1": _cycling(rows, model.predict_proba),
        "riskscore_explain3_1": _cycling(rows, lambda r: model.predict(r, explain=3)),
        "sklearn_proba_1": _cycling(rows, est.predict_proba),
        "riskscore_proba_1000": lambda: model.predict_proba(x),
        "riskscore_explain3_1000": lambda: model.predict(x, explain=3),
        "sklearn_proba_1000": lambda: est.predict_proba(x),
    }
    with pinned_to(cfg.server_cpus):
        for name, call in cases.items():
            n = n1000 if name.endswith("_1000") else n1
            out[name] = per_call(call, n, max(10, n // 20))
    out["ratios"] = {
        f"{size}_{q}_speedup": ratio(
            _us(out, f"sklearn_proba_{size}", q), _us(out, f"riskscore_proba_{size}", q)
        )
        for size in ("1", "1000")
        for q in ("p50", "p99")
    }
    return out


def _us(out: dict[str, object], case: str, q: str) -> float | None:
    value = out.get(case)
    return float(value[f"{q}_us"]) if isinstance(value, dict) else None


def features(ws: Workspace, cfg: RunConfig) -> dict[str, object]:
    from bench.parse import mib_document, rx_document
    from riskscore.adapters.lxml.parser import LxmlEvidenceParser, hardened_parser
    from riskscore.domain.features.extract import extract_values

    parser = LxmlEvidenceParser()
    raw = hardened_parser()
    apps = ws.apps
    parsed = [parser.parse(a.policy_number, a.mib_xml, a.rx_xml) for a in apps]
    pairs = [(p, a.as_of) for p, a in zip(parsed, apps, strict=True)]
    # Sanity: the same code path gives the workspace's feature rows (what the reference was scored on).
    same = all(
        np.array_equal(np.asarray(extract_values(p, d)), ws.features[i])
        for i, (p, d) in enumerate(pairs[:50])
    )
    large_rx = rx_document(
        LARGE_FILLS, start=AS_OF - dt.timedelta(days=5 * 365), gap_days=(1, 6)
    ).decode()
    large_mib = mib_document().decode()
    large = parser.parse("LARGE-1", large_mib, large_rx)
    fills = len(large.rx.fills)
    out: dict[str, object] = {
        "typical": {
            "applications": len(apps),
            "median_xml_bytes": int(np.median([len(a.mib_xml) + len(a.rx_xml) for a in apps])),
            "median_fills": int(np.median([len(p.rx.fills) for p in parsed])),
        },
        "large": {"xml_bytes": len(large_rx) + len(large_mib), "fills": fills},
        "features_match_workspace": same,
    }
    if fills != LARGE_FILLS or not same:
        out["error"] = f"large document parsed to {fills} fills; features match: {same}"
        return out
    n_typ, n_large = (1000, 100) if cfg.quick else (3000, 300)

    def both(a: SyntheticApplication) -> object:
        return extract_values(parser.parse(a.policy_number, a.mib_xml, a.rx_xml), a.as_of)

    def parse(a: SyntheticApplication) -> object:
        return parser.parse(a.policy_number, a.mib_xml, a.rx_xml)

    def floor(a: SyntheticApplication) -> object:
        etree.fromstring(a.mib_xml.encode(), raw)
        return etree.fromstring(a.rx_xml.encode(), raw)

    large_mib_b, large_rx_b = large_mib.encode(), large_rx.encode()
    with pinned_to(cfg.server_cpus):
        typical = out["typical"]
        assert isinstance(typical, dict)
        typical["parse_extract"] = per_call(_cycling(apps, both), n_typ, 200)
        typical["parse"] = per_call(_cycling(apps, parse), n_typ, 200)
        typical["extract"] = per_call(_cycling(pairs, lambda pd: extract_values(*pd)), n_typ, 200)
        typical["libxml2_floor"] = per_call(_cycling(apps, floor), n_typ, 200)
        big = out["large"]
        assert isinstance(big, dict)
        big["parse_extract"] = per_call(
            lambda: extract_values(parser.parse("LARGE-1", large_mib, large_rx), AS_OF),
            n_large,
            20,
        )
        big["parse"] = per_call(lambda: parser.parse("LARGE-1", large_mib, large_rx), n_large, 20)
        big["extract"] = per_call(lambda: extract_values(large, AS_OF), n_large, 20)
        big["libxml2_floor"] = per_call(
            lambda: (etree.fromstring(large_mib_b, raw), etree.fromstring(large_rx_b, raw)),
            n_large,
            20,
        )
    return out


def audit(cfg: RunConfig) -> dict[str, object]:
    from bench.audit import journaled, make_entries, per_request
    from riskscore.domain.features.catalogue import SCHEMA

    n_writer, n_baseline = (5000, 1000) if cfg.quick else (20000, 3000)
    work = WORK / f"audit-harness-{os.getpid()}"
    work.mkdir(parents=True, exist_ok=True)
    try:
        with pinned_to(cfg.server_cpus):
            writer = journaled(work, make_entries(n_writer, len(SCHEMA)))
            baseline = per_request(work, make_entries(n_baseline, len(SCHEMA), seed=8))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return {
        "entries": {"writer": n_writer, "baseline": n_baseline, "features": len(SCHEMA)},
        "writer": {k: round(v, 1) for k, v in writer.items()},
        "baseline": {k: round(v, 1) for k, v in baseline.items()},
        "ratios": {
            "writer_vs_baseline": ratio(writer["writer_per_s"], baseline["per_s"]),
            "end_to_end_vs_baseline": ratio(writer["end_to_end_per_s"], baseline["per_s"]),
        },
    }
