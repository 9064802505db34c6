"""The stated performance goals and their verdicts from a run's results."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from bench.figures import get


@dataclass(frozen=True)
class Goal:
    key: str
    text: str
    target: float
    part: str
    path: tuple[str, ...]
    primary: bool = True


GOALS = (
    Goal(
        "e2e_p50",
        "end-to-end p50 >= 5x lower than the seed baseline (riskscore, in-process model)",
        5.0,
        "e2e",
        ("ratios", "riskscore_inprocess", "p50_speedup"),
    ),
    Goal(
        "e2e_throughput",
        "end-to-end throughput at the p99 ceiling >= 5x the seed baseline (in-process model)",
        5.0,
        "e2e",
        ("ratios", "riskscore_inprocess", "throughput_ratio"),
    ),
    Goal(
        "e2e_p50_http",
        "end-to-end p50 >= 5x lower than the seed baseline (riskscore + model service)",
        5.0,
        "e2e",
        ("ratios", "riskscore_http", "p50_speedup"),
        primary=False,
    ),
    Goal(
        "e2e_throughput_http",
        "end-to-end throughput >= 5x the seed baseline (riskscore + model service)",
        5.0,
        "e2e",
        ("ratios", "riskscore_http", "throughput_ratio"),
        primary=False,
    ),
    Goal(
        "serving_p50_1",
        "model service p50 >= 3x lower than MLflow's, 1 row",
        3.0,
        "serving",
        ("ratios", "rows_1_p50_speedup"),
    ),
    Goal(
        "serving_p50_100",
        "model service p50 >= 3x lower than MLflow's, 100 rows",
        3.0,
        "serving",
        ("ratios", "rows_100_p50_speedup"),
    ),
)


def _seed_never_under_ceiling(parts: Mapping[str, object], variant: str) -> bool:
    """The seed held the ceiling at no load while riskscore did: an unbounded ratio, goal met."""
    e2e = parts.get("e2e")
    systems = e2e.get("systems") if isinstance(e2e, dict) else None
    if not isinstance(systems, dict):
        return False
    seed, ours = systems.get("seed"), systems.get(variant)
    return (
        isinstance(seed, dict)
        and "sweep" in seed
        and seed.get("at_ceiling") is None
        and get(ours, "at_ceiling", "throughput_rps") is not None
    )


def verdicts(parts: Mapping[str, object]) -> list[dict[str, object]]:
    out: list[dict[str, object]] = []
    for goal in GOALS:
        measured = get(parts.get(goal.part), *goal.path)
        note = ""
        if measured is not None:
            met: bool | None = measured >= goal.target
        elif goal.key.startswith("e2e_throughput") and _seed_never_under_ceiling(
            parts, "riskscore_http" if goal.key.endswith("http") else "riskscore_inprocess"
        ):
            met, note = True, "the seed baseline never held the p99 ceiling"
        else:
            met, note = None, "not measured in this run"
        out.append(
            {
                "goal": goal.key,
                "text": goal.text,
                "target": goal.target,
                "measured": measured,
                "met": met,
                "primary": goal.primary,
                "note": note,
            }
        )
    return out
