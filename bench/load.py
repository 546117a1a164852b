"""Workload 2: load one case, cold (a fresh application, no aggregate cache).

Ours: ``app.get_case(id)`` of distinct 10-event cases (apply, four
propose/decline rounds, approve). Baseline: ``repository.get`` of distinct
10-event bare ``Ticket`` aggregates. Then a 1,000-event case (apply, 499
propose/decline rounds, approve) against the 10-event case: with snapshots
every 50 events it should cost at most twice as much. A 1,049-event case
(the most events after a snapshot) is reported beside it.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from functools import partial
from pathlib import Path
from typing import Any
from uuid import UUID

from aftersales_es.domain.case import Case
from aftersales_es.engine import AfterSales

from . import Config, Row, gen, median, paired, scratch, sqlite_store, timed
from .bare import Ticket, Tickets, ticket_id

M = timedelta(minutes=1)


def rounds_flow(rounds: int, approve: bool) -> list[gen.Step]:
    """apply + ``rounds`` x (propose, decline) [+ approve]: 1 + 2 rounds [+ 1] events."""
    steps: list[gen.Step] = [("apply", {"kind": "return_refund", "reason": "damaged"}, gen.D)]
    for k in range(rounds):
        steps.append(
            ("propose", {"kind": "refund_only", "amount": "60.00"}, gen.D + (2 * k + 1) * M)
        )
        steps.append(("decline_proposal", {}, gen.D + (2 * k + 2) * M))
    if approve:
        steps.append(("approve", {}, gen.D + (2 * rounds + 1) * M))
    return steps


def build_ours(path: Path, n: int) -> dict[str, str]:
    """``n`` 10-event cases plus the long ones; return the long cases' ids."""
    app = AfterSales(path)
    try:
        short = rounds_flow(4, approve=True)
        batch: list[Any] = []
        for i in range(n):
            facts = gen.order_facts(i)
            batch += gen.build_case(app, facts, f"C{i}", short)
            if len(batch) >= 500:
                app.save(*batch)
                batch = []
        longs = {"1000": (499, True), "1049": (524, False)}
        for j, (label, (rounds, approve)) in enumerate(longs.items()):
            facts = gen.order_facts(n + j)
            batch += gen.build_case(app, facts, f"L{label}", rounds_flow(rounds, approve))
        app.save(*batch)
        for label in longs:
            case = app.get_case(f"L{label}")
            assert case.version == int(label), (label, case.version)
        assert app.get_case("C0").version == 10
        return {label: f"L{label}" for label in longs}
    finally:
        app.close()


def build_bare(path: Path, n: int) -> None:
    app = Tickets(sqlite_store(path))
    try:
        at = gen.T0
        batch: list[Ticket] = []
        for i in range(n):
            t = Ticket(f"C{i}", "return_refund", Decimal("120.00"), at)
            for k in range(9):
                t.move("proposed" if k % 2 == 0 else "requested", "seller", at + k * M)
            batch.append(t)
            if len(batch) >= 250:
                app.save(*batch)
                batch = []
        app.save(*batch)
        assert app.repository.get(ticket_id("C0")).version == 10
    finally:
        app.close()


def load_cases(app: AfterSales, ids: list[str]) -> list[Case]:
    return [app.get_case(c) for c in ids]


def load_tickets(app: Tickets, keys: list[UUID]) -> list[Ticket]:
    return [app.repository.get(k) for k in keys]


def run(cfg: Config) -> list[Row]:
    n = cfg.size(2_000, 200)
    long_loads = cfg.size(20, 5)
    samples: dict[str, list[float]] = {"ours": [], "bare": [], "l1000": [], "l1049": []}
    snapshots = dict(getattr(AfterSales, "snapshotting_intervals", None) or {})
    with scratch(cfg, "load") as tmp:
        longs = build_ours(tmp / "ours.db", n)
        build_bare(tmp / "bare.db", n)
        ids = [f"C{i}" for i in range(n)]
        for rep in range(cfg.repeats):
            order = ["ours", "bare"] if rep % 2 == 0 else ["bare", "ours"]
            for name in order:
                if name == "ours":
                    app = AfterSales(tmp / "ours.db")
                    try:
                        secs, _ = timed(partial(load_cases, app, ids))
                        samples["ours"].append(n / secs)
                        for label, case_id in longs.items():
                            secs, _ = timed(partial(load_cases, app, [case_id] * long_loads))
                            samples[f"l{label}"].append(secs / long_loads)
                    finally:
                        app.close()
                else:
                    bare = Tickets(sqlite_store(tmp / "bare.db"))
                    try:
                        keys = [ticket_id(c) for c in ids]
                        secs, _ = timed(partial(load_tickets, bare, keys))
                        samples["bare"].append(n / secs)
                    finally:
                        bare.close()
    per_short = 1 / median(samples["ours"])
    snap_note = (
        f"snapshotting_intervals={{Case: {snapshots[Case]}}}"
        if Case in snapshots
        else "NO SNAPSHOTS: AfterSales.snapshotting_intervals is not set"
    )
    return [
        Row(
            "2 load case",
            "10-event case, cold",
            "loads/s",
            median(samples["ours"]),
            median(samples["bare"]),
            "bare ES repository.get (10 events)",
            ">=",
            1.0,
            note=f"{n} distinct cases, each loaded once per repeat, fresh app",
            samples={"ours": samples["ours"], "bare": samples["bare"]},
            ratios=paired(samples["ours"], samples["bare"]),
        ),
        Row(
            "2 load case",
            "1,000-event vs 10-event case",
            "ms/load",
            median(samples["l1000"]) * 1000,
            per_short * 1000,
            "our 10-event case",
            "<=",
            2.0,
            higher_is_better=False,
            note=snap_note,
            samples={"l1000": samples["l1000"]},
            ratios=[t * r for t, r in zip(samples["l1000"], samples["ours"], strict=True)],
        ),
        Row(
            "2 load case",
            "1,049-event (snapshot+49) vs 10-event",
            "ms/load",
            median(samples["l1049"]) * 1000,
            per_short * 1000,
            "our 10-event case",
            "",
            None,
            higher_is_better=False,
            note="reported: worst case between two snapshots",
            samples={"l1049": samples["l1049"]},
            ratios=[t * r for t, r in zip(samples["l1049"], samples["ours"], strict=True)],
        ),
    ]
