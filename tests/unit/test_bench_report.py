"""Goal verdicts and the Markdown table come from the results document, figures unchanged."""

from __future__ import annotations

from typing import Any

from bench import report
from bench.goals import verdicts
from bench.harness import max_client_cpu, part_failed
from bench.machine import one_line


def _system(label: str, p50: float, p99: float, rps: float | None, ok: bool = True) -> Any:
    best = None if rps is None else {"connections": 8, "throughput_rps": rps, "p99_ms": p99}
    return {
        "label": label,
        "equality": {"ok": ok, "compared": 200, "max_abs_diff": 1e-16, "mismatches": 0},
        "sequential": {"p50_ms": p50, "p90_ms": p50 * 1.2, "p99_ms": p99},
        "sweep": [
            {"connections": 1, "throughput_rps": 100.0, "p99_ms": p99, "errors": 0},
            {"connections": 8, "throughput_rps": rps or 50.0, "p99_ms": p99 * 3, "errors": 2},
        ],
        "at_ceiling": best,
        "peak_rps": rps,
    }


def _parts(seed_rps: float | None = 400.0) -> dict[str, Any]:
    return {
        "e2e": {
            "systems": {
                "seed": _system("seed", 4.0, 9.0, seed_rps),
                "riskscore_inprocess": _system("rs", 0.5, 1.5, 2400.0),
            },
            "ratios": {
                "riskscore_inprocess": {
                    "p50_speedup": 8.0,
                    "p99_speedup": 6.0,
                    "throughput_ratio": None if seed_rps is None else 6.0,
                },
                "riskscore_http": {"p50_speedup": 4.2, "throughput_ratio": 3.0},
            },
        },
        "serving": {
            "systems": {},
            "ratios": {"rows_1_p50_speedup": 12.5, "rows_100_p50_speedup": 2.5},
        },
    }


def test_verdicts_compare_each_ratio_with_its_target() -> None:
    by_key = {v["goal"]: v for v in verdicts(_parts())}

    assert by_key["e2e_p50"]["met"] is True
    assert by_key["e2e_p50"]["measured"] == 8.0
    assert by_key["e2e_throughput"]["met"] is True
    assert by_key["e2e_p50_http"]["met"] is False
    assert by_key["e2e_throughput_http"]["met"] is False
    assert by_key["serving_p50_1"]["met"] is True
    assert by_key["serving_p50_100"]["met"] is False


def test_a_part_not_run_is_not_measured_rather_than_missed() -> None:
    by_key = {v["goal"]: v for v in verdicts({"serving": _parts()["serving"]})}

    assert by_key["e2e_p50"]["met"] is None
    assert by_key["e2e_p50"]["measured"] is None
    assert by_key["serving_p50_1"]["met"] is True


def test_seed_never_under_the_ceiling_counts_as_met_with_a_note() -> None:
    by_key = {v["goal"]: v for v in verdicts(_parts(seed_rps=None))}

    assert by_key["e2e_throughput"]["met"] is True
    assert "never held" in by_key["e2e_throughput"]["note"]


def _doc() -> dict[str, Any]:
    parts = _parts()
    return {
        "started_at": "2026-11-27T07:00:00+00:00",
        "elapsed_s": 321.0,
        "run": {"quick": False, "tolerance": 1e-9, "p99_ceiling_ms": 20.0},
        "machine": {"cpu_model": "Test CPU", "cores": 2, "python": "3.11.7", "os": "Linux 6"},
        "load_before": [0.5, 0.4, 0.3],
        "load_after": [1.0, 0.5, 0.3],
        "load_generator": {"tool": "wrk", "version": "wrk 4.1.0", "bodies": "1000 apps"},
        "placement": {"description": "wrk on CPU 0; servers on CPU 1"},
        "parts": parts,
        "goals": verdicts(parts),
        "notes": ["a note"],
    }


def test_markdown_carries_date_machine_figures_and_verdicts() -> None:
    text = report.render(_doc())

    assert "2026-11-27T07:00:00+00:00" in text
    assert one_line(_doc()["machine"]) in text
    assert "Test CPU" in text
    assert "wrk on CPU 0; servers on CPU 1" in text
    assert "req/s at p99 <= 20 ms" in text
    assert "| seed | 4.00 | 4.80 | 9.00 | 400 | 8 |" in text
    assert "| rs | 0.50 | 0.60 | 1.50 | 2,400 | 8 |" in text
    assert "8: 2,400/s p99 4.50 (2 errors)" in text
    assert "| riskscore_inprocess | 8.0x | 6.0x | 6.0x |" in text
    assert "**missed**" in text
    assert "- a note" in text


def test_markdown_says_none_when_no_run_held_the_ceiling_and_flags_inequality() -> None:
    doc = _doc()
    seed = doc["parts"]["e2e"]["systems"]["seed"]
    seed["at_ceiling"] = None
    seed["equality"] = {"ok": False, "mismatches": 3, "missing": 1}

    text = report.render(doc)

    assert "| seed | 4.00 | 4.80 | 9.00 | none |" in text
    assert "**failed** (3 differ, 1 missing)" in text


def test_a_failed_part_renders_its_error() -> None:
    doc = _doc()
    doc["parts"]["audit"] = {"error": "RuntimeError: disk full"}

    assert "Failed: RuntimeError: disk full" in report.render(doc)


def test_fmt_rounds_by_magnitude() -> None:
    assert report.fmt(None) == "n/a"
    assert report.fmt(0.123) == "0.12"
    assert report.fmt(123.4) == "123"
    assert report.fmt(12345.6) == "12,346"


def test_part_failed_sees_system_errors() -> None:
    assert not part_failed(_parts()["e2e"])
    assert part_failed({"error": "x"})
    assert part_failed({"systems": {"seed": {"error": "differs"}}})
    assert part_failed(None)


def test_max_client_cpu_finds_the_busiest_load_run_anywhere() -> None:
    parts = {
        "e2e": {
            "systems": {
                "s": {
                    "sequential": {"client_cpu_share": 0.2},
                    "sweep": [
                        {"client_cpu_share": 0.45},
                        {"client_cpu_share": None},
                    ],
                }
            }
        },
        "serving": {"systems": {"m": {"rows_1": {"client_cpu_share": 0.3}}}},
    }

    assert max_client_cpu(parts) == 0.45
    assert max_client_cpu({"audit": {"writer": {}}}) is None
