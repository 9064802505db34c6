"""Render a run's results (the ``latest.json`` document) as the Markdown of ``latest.md``.

Missing parts and failed systems render as a line saying so; nothing here computes figures.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from bench.figures import get
from bench.machine import one_line

Doc = dict[str, Any]


def fmt(value: float | None, digits: int = 2, suffix: str = "") -> str:
    """``1.23`` / ``1,234`` for large values / ``n/a`` for None."""
    if value is None:
        return "n/a"
    if abs(value) >= 1000:
        return f"{value:,.0f}{suffix}"
    if abs(value) >= 100:
        return f"{value:.0f}{suffix}"
    return f"{value:.{digits}f}{suffix}"


def times(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1f}x"


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines


def verdict(met: bool | None) -> str:
    return {True: "met", False: "**missed**", None: "not measured"}[met]


def _equality(system: Doc) -> str:
    eq = system.get("equality")
    if not isinstance(eq, dict):
        return "n/a"
    if not eq.get("ok"):
        return f"**failed** ({eq.get('mismatches', 0)} differ, {eq.get('missing', 0)} missing)"
    return f"{eq.get('compared')} equal, max diff {eq.get('max_abs_diff', 0.0):.1e}"


def _errors(systems: Doc) -> list[str]:
    return [
        f"- {s.get('label', key)}: {s['error']}"
        for key, s in systems.items()
        if isinstance(s, dict) and s.get("error")
    ]


def header(doc: Doc) -> list[str]:
    run = doc.get("run", {})
    placement = doc.get("placement", {})
    load = doc.get("load_generator", {})
    mode = "quick (--quick: short runs, noisy)" if run.get("quick") else "full"
    return [
        "# riskscore benchmarks: latest run",
        "",
        f"- **Date**: {doc.get('started_at', '?')} (UTC), {mode}, parts: "
        f"{', '.join(doc.get('parts', {}))}, {fmt(doc.get('elapsed_s'), 0)} s in all",
        f"- **Machine**: {one_line(doc.get('machine', {}))}",
        f"- **Load average** before / after: {doc.get('load_before')} / {doc.get('load_after')}",
        f"- **Load generator**: {load.get('tool')} ({load.get('version')}), one thread, closed loop, "
        f"bodies cycled from {load.get('bodies')}; it used at most "
        f"{_percent(load.get('max_cpu_share'))} of its CPU in any run",
        f"- **CPU placement**: {placement.get('description', 'none')}",
        f"- **Equality tolerance**: |p - reference| <= {run.get('tolerance')} on the probability, "
        "checked before any timing",
        f"- **Model**: {_model(doc.get('model', {}))}",
        "",
        "Method and how to read these tables: [docs/benchmarks.md](../../docs/benchmarks.md).",
    ]


def _percent(share: float | None) -> str:
    return "n/a" if share is None else f"{share:.0%}"


def _model(model: Doc) -> str:
    if not model:
        return "n/a"
    return (
        f"{model.get('name')} {model.get('version')}: {model.get('estimator')}, "
        f"{model.get('trees')} trees, {model.get('leaves')} leaves, {model.get('features')} features"
    )


def goals(doc: Doc) -> list[str]:
    rows = [
        [
            g["text"] + ("" if g.get("primary", True) else " (secondary)"),
            f">= {g['target']:.0f}x",
            times(g.get("measured")),
            verdict(g.get("met")) + (f" ({g['note']})" if g.get("note") else ""),
        ]
        for g in doc.get("goals", [])
    ]
    return ["", "## Goals", "", *table(["goal", "target", "measured", "verdict"], rows)]


def e2e(part: Doc, ceiling: float) -> list[str]:
    systems: Doc = part.get("systems", {})
    rows = []
    for s in systems.values():
        seq, best = s.get("sequential") or {}, s.get("at_ceiling")
        rows.append(
            [
                s.get("label", "?"),
                fmt(seq.get("p50_ms")),
                fmt(seq.get("p90_ms")),
                fmt(seq.get("p99_ms")),
                "none" if best is None and "sweep" in s else fmt(get(best, "throughput_rps"), 0),
                str(best.get("connections")) if isinstance(best, dict) else "",
                fmt(s.get("peak_rps"), 0),
                _equality(s),
            ]
        )
    lines = [
        "",
        "## 1. End to end: `POST /v1/score`",
        "",
        *table(
            [
                "system",
                "p50 ms",
                "p90 ms",
                "p99 ms",
                f"req/s at p99 <= {ceiling:.0f} ms",
                "connections",
                "peak req/s",
                "same scores",
            ],
            rows,
        ),
        "",
        "Latency: one sequential client (`wrk -c1`). Throughput: the best closed-loop rate whose p99 "
        "stayed under the ceiling, over growing connection counts:",
        "",
    ]
    sweep_rows = [
        [
            s.get("label", "?"),
            ", ".join(
                f"{r['connections']}: {fmt(r['throughput_rps'], 0)}/s p99 {fmt(r['p99_ms'])}"
                + (f" ({r['errors']} errors)" if r.get("errors") else "")
                for r in s.get("sweep", [])
            ),
        ]
        for s in systems.values()
        if s.get("sweep")
    ]
    lines += table(["system", "connections: req/s, p99 ms"], sweep_rows)
    ratio_rows = [
        [
            key,
            times(r.get("p50_speedup")),
            times(r.get("p99_speedup")),
            times(r.get("throughput_ratio")),
        ]
        for key, r in part.get("ratios", {}).items()
    ]
    lines += [
        "",
        *table(["vs seed", "p50 lower by", "p99 lower by", "throughput higher by"], ratio_rows),
    ]
    return lines + _errors(systems)


def serving(part: Doc) -> list[str]:
    systems: Doc = part.get("systems", {})
    rows = []
    for s in systems.values():
        one, hundred, c8 = s.get("rows_1") or {}, s.get("rows_100") or {}, s.get("rows_1_c8") or {}
        rows.append(
            [
                s.get("label", "?"),
                " / ".join(fmt(one.get(k)) for k in ("p50_ms", "p90_ms", "p99_ms")),
                " / ".join(fmt(hundred.get(k)) for k in ("p50_ms", "p90_ms", "p99_ms")),
                fmt(c8.get("throughput_rps"), 0),
                _equality(s),
            ]
        )
    r = part.get("ratios", {})
    size = part.get("request_bytes", {})
    return [
        "",
        "## 2. Model serving: riskscore model service vs MLflow",
        "",
        *table(
            [
                "server",
                "1 row p50 / p90 / p99 ms",
                "100 rows p50 / p90 / p99 ms",
                "1 row, 8 connections, req/s",
                "same probabilities",
            ],
            rows,
        ),
        "",
        f"Same bodies to both (`dataframe_split`, {size.get('rows_1', '?')} B for 1 row, "
        f"{size.get('rows_100', '?')} B for 100). riskscore lower by: 1 row p50 "
        f"{times(r.get('rows_1_p50_speedup'))}, p99 {times(r.get('rows_1_p99_speedup'))}; "
        f"100 rows p50 {times(r.get('rows_100_p50_speedup'))}, p99 "
        f"{times(r.get('rows_100_p99_speedup'))}; 1-row throughput at 8 connections "
        f"{times(r.get('rows_1_c8_throughput_ratio'))}. Without reason codes (`params.explain` 0, "
        f"riskscore only, for information) 100 rows take "
        f"{_p50(systems.get('riskscore', {}).get('rows_100_no_reasons'))} ms at p50: "
        f"{times(r.get('rows_100_no_reasons_p50_speedup'))} below MLflow.",
        *_errors(systems),
    ]


def _p50(case: Any) -> str:
    return fmt(case.get("p50_ms")) if isinstance(case, dict) else "n/a"


def _us(case: Any) -> str:
    return (
        "n/a"
        if not isinstance(case, dict)
        else f"{fmt(case['p50_us'], 1)} / {fmt(case['p99_us'], 1)}"
    )


def inference(part: Doc) -> list[str]:
    r = part.get("ratios", {})
    rows = [
        [
            f"{size} row{'s' if size != '1' else ''}",
            _us(part.get(f"riskscore_proba_{size}")),
            _us(part.get(f"riskscore_explain3_{size}")),
            _us(part.get(f"sklearn_proba_{size}")),
            times(r.get(f"{size}_p50_speedup")),
        ]
        for size in ("1", "1000")
    ]
    lines = [
        "",
        "## 3. Inference in process: compiled trees vs scikit-learn",
        "",
        *table(
            [
                "batch",
                "riskscore predict_proba p50 / p99 us",
                "riskscore + 3 reason codes p50 / p99 us",
                "scikit-learn predict_proba p50 / p99 us",
                "p50 speedup",
            ],
            rows,
        ),
    ]
    if part.get("error"):
        lines.append(f"- {part['error']}")
    return lines


def features(part: Doc) -> list[str]:
    rows = []
    for key in ("typical", "large"):
        d = part.get(key) or {}
        if key == "typical":
            desc = (
                f"typical ({d.get('applications')} generated, median {d.get('median_fills')} fills,"
                f" {d.get('median_xml_bytes')} B)"
            )
        else:
            desc = f"large ({d.get('fills')} fills, {d.get('xml_bytes')} B)"
        rows.append(
            [desc]
            + [_us(d.get(case)) for case in ("parse_extract", "parse", "extract", "libxml2_floor")]
        )
    lines = [
        "",
        "## 4. Parse + features per application",
        "",
        *table(
            [
                "application",
                "parse + extract p50 / p99 us",
                "parse",
                "extract",
                "libxml2 trees only (floor)",
            ],
            rows,
        ),
        "",
        "No outside peer: the seed architecture runs riskscore's own parser and feature code; the "
        "floor column is libxml2 building both trees and nothing else.",
    ]
    if part.get("error"):
        lines.append(f"- {part['error']}")
    return lines


def audit(part: Doc) -> list[str]:
    w, b, n = part.get("writer", {}), part.get("baseline", {}), part.get("entries", {})
    return [
        "",
        "## 5. Audit trail into SQLite",
        "",
        *table(
            ["path", "records/s", "latency on the request path p50 / p99 us"],
            [
                [
                    f"journal + batched writer, delivered ({n.get('writer')} records)",
                    fmt(w.get("writer_per_s"), 0),
                    f"{fmt(w.get('record_us_p50'), 1)} / {fmt(w.get('record_us_p99'), 1)}",
                ],
                [
                    "record all then drain (end to end)",
                    fmt(w.get("end_to_end_per_s"), 0),
                    "",
                ],
                [
                    f"one insert (2 commits) per request ({n.get('baseline')} records)",
                    fmt(b.get("per_s"), 0),
                    f"{fmt(b.get('us_p50'), 1)} / {fmt(b.get('us_p99'), 1)}",
                ],
            ],
        ),
        "",
        f"Writer vs one-insert-per-request: {times(part.get('ratios', {}).get('writer_vs_baseline'))}.",
    ]


RENDERERS: dict[str, Callable[[Doc], list[str]]] = {
    "inference": inference,
    "features": features,
    "audit": audit,
    "serving": serving,
}


def render(doc: Doc) -> str:
    lines = header(doc) + goals(doc)
    parts: Doc = doc.get("parts", {})
    ceiling = float(doc.get("run", {}).get("p99_ceiling_ms", 20.0))
    for name in ("e2e", "serving", "inference", "features", "audit"):
        part = parts.get(name)
        if part is None:
            continue
        if isinstance(part, dict) and part.get("error") and len(part) == 1:
            lines += ["", f"## {name}", "", f"Failed: {part['error']}"]
            continue
        lines += e2e(part, ceiling) if name == "e2e" else RENDERERS[name](part)
    notes = doc.get("notes") or []
    if notes:
        lines += ["", "## Notes", "", *[f"- {n}" for n in notes]]
    return "\n".join(lines) + "\n"
