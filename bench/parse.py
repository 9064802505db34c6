"""Benchmark: parsing typical MIB and Rx documents with ``LxmlEvidenceParser``.

Run: ``.venv/bin/python -m bench.parse [--fills N] [--repeats R] [--compact]``. Builds a rich-format Rx
document with N fills (default 40, indented as the generator mostly writes it) and a rich MIB
document with three hits, then prints the median, p10 and p90 in microseconds of: libxml2 alone
(``etree.fromstring`` with the hardened parser), the depth probe, ``parse_rx``, ``parse_mib`` and
the whole ``parse``. Each figure is one call, timed with ``time.perf_counter_ns`` over batches of
calls (``--clock cpu`` uses ``time.thread_time_ns`` instead, steadier when the machine is
busy). Writes nothing.
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import statistics
import time
from collections.abc import Callable

from lxml import etree

from riskscore.adapters.lxml.parser import LxmlEvidenceParser, hardened_parser

_DRUGS = [
    ("METFORMIN HCL", "GLUCOPHAGE", "500 MG", 30, 60, "FAMILY MEDICINE"),
    ("ATORVASTATIN CALCIUM", "LIPITOR", "40 MG", 90, 90, "FAMILY MEDICINE"),
    ("LISINOPRIL", "ZESTRIL", "10 MG", 90, 90, "INTERNAL MEDICINE"),
    ("SERTRALINE HCL", "ZOLOFT", "50 MG", 30, 30, "PSYCHIATRY"),
    ("OXYCODONE HCL", "ROXICODONE", "5 MG", 10, 40, "ORTHOPEDIC SURGERY"),
    ("LEVOTHYROXINE SODIUM", "SYNTHROID", "100 MCG", 90, 90, "ENDOCRINOLOGY"),
    ("HYDROCODONE/ACETAMINOPHEN", "NORCO", "5-325 MG", 7, 28, "EMERGENCY MEDICINE"),
]


def rx_document(
    fills: int,
    *,
    pretty: bool = True,
    seed: int = 7,
    start: dt.date = dt.date(2020, 1, 1),
    gap_days: tuple[int, int] = (10, 60),
) -> bytes:
    """A rich-format Rx report (docs/evidence-format.md) with ``fills`` fills, the first after
    ``start`` and each next one ``gap_days`` (a ``randrange`` span) after the previous."""
    rng = random.Random(seed)
    nl, ind = ("\n", "  ") if pretty else ("", "")
    parts = [f'<?xml version="1.0" encoding="UTF-8"?>{nl}<IntelRXResponse>{nl}']
    day = start
    for _ in range(fills):
        generic, brand, strength, supply, quantity, specialty = rng.choice(_DRUGS)
        day += dt.timedelta(days=rng.randrange(*gap_days))
        fields = [
            ("DrugGenericName", generic),
            ("DrugBrandName", brand),
            ("NDC", f"{rng.randrange(10**11):011d}"),
            ("FillDate", day.isoformat()),
            ("DaysSupply", str(supply)),
            ("Quantity", str(quantity)),
            ("Refills", str(rng.randrange(6))),
            ("Strength", strength),
        ]
        parts.append(f"{ind}<DrugFill>{nl}")
        parts.extend(f"{ind * 2}<{tag}>{value}</{tag}>{nl}" for tag, value in fields)
        parts.append(
            f'{ind * 2}<Prescriber id="P{rng.randrange(9)}" specialty="{specialty}"/>{nl}'
            f'{ind * 2}<Pharmacy id="PH{rng.randrange(4)}"/>{nl}{ind}</DrugFill>{nl}'
        )
    parts.append(f"</IntelRXResponse>{nl}")
    return "".join(parts).encode()


def mib_document(*, pretty: bool = True) -> bytes:
    nl, ind = ("\n", "  ") if pretty else ("", "")
    hits = "".join(
        f"{ind * 2}<Hit>{nl}{ind * 3}<Code>{code}</Code>{nl}{ind * 3}<Category>{category}</Category>"
        f"{nl}{ind * 3}<Source>{source}</Source>{nl}{ind * 3}<Date>{date}</Date>{nl}{ind * 2}</Hit>{nl}"
        for code, category, source, date in [
            ("311CA", "cardiac", "APS", "2023-04-01"),
            ("520PS", "psychiatric", "EXAM", "2021-11-15"),
            ("904LB", "lab", "LAB", "2022-06-30"),
        ]
    )
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>{nl}<MIBResponse xmlns="urn:riskscore:mib:1">{nl}'
        f"{ind}<InsuranceActivityIndex>3</InsuranceActivityIndex>{nl}{ind}<Hits>{nl}{hits}"
        f"{ind}</Hits>{nl}</MIBResponse>{nl}"
    ).encode()


def measure(
    call: Callable[[], object], repeats: int, batch: int, clock: Callable[[], int]
) -> tuple[float, float, float]:
    """Median, p10 and p90 of one call in microseconds, over ``repeats`` batches."""
    for _ in range(batch):  # warm up: per-thread parser, name memos, caches
        call()
    per_call: list[float] = []
    for _ in range(repeats):
        start = clock()
        for _ in range(batch):
            call()
        per_call.append((clock() - start) / batch / 1000)
    deciles = statistics.quantiles(per_call, n=10)
    return statistics.median(per_call), deciles[0], deciles[-1]


def main() -> None:
    cli = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    cli.add_argument("--fills", type=int, default=40)
    cli.add_argument("--repeats", type=int, default=41)
    cli.add_argument("--batch", type=int, default=200)
    cli.add_argument("--compact", action="store_true", help="no indentation")
    cli.add_argument(
        "--clock",
        choices=("wall", "cpu"),
        default="wall",
        help="wall: perf_counter_ns; cpu: thread_time_ns (steadier on a shared, busy machine)",
    )
    args = cli.parse_args()

    clock = time.perf_counter_ns if args.clock == "wall" else time.thread_time_ns
    rx = rx_document(args.fills, pretty=not args.compact)
    mib = mib_document(pretty=not args.compact)
    parser = LxmlEvidenceParser()
    raw = hardened_parser()
    root = etree.fromstring(rx, raw)
    probe = etree.XPath("boolean(/*" + "/*" * parser.max_depth + ")")
    assert len(parser.parse_rx(rx).fills) == args.fills
    print(f"Rx document: {args.fills} fills, {len(rx)} bytes; MIB document: {len(mib)} bytes")
    cases: list[tuple[str, Callable[[], object]]] = [
        ("libxml2 fromstring (Rx)", lambda: etree.fromstring(rx, raw)),
        ("depth probe (Rx)", lambda: probe(root)),
        ("parse_rx", lambda: parser.parse_rx(rx)),
        ("parse_mib", lambda: parser.parse_mib(mib)),
        ("parse (MIB + Rx)", lambda: parser.parse("BENCH-1", mib, rx)),
    ]
    print(f"{args.clock} clock, {args.repeats} batches of {args.batch} calls")
    print(f"{'us per call':<26}{'median':>9}{'p10':>9}{'p90':>9}")
    for name, call in cases:
        median, p10, p90 = measure(call, args.repeats, args.batch, clock)
        print(f"{name:<26}{median:>9.1f}{p10:>9.1f}{p90:>9.1f}")


if __name__ == "__main__":
    main()
