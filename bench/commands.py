"""Workload 1: a realistic command mix, one command per transaction.

Ours: ``app.execute(name, **fields)`` (validation, case + order load, rule
set, statechart, deadlines, atomic save of case and order) on a SQLite file.
Baselines, on files in the same directory: (a) the bare eventsourcing
``Ticket`` doing get + one event + save per command; (b) raw sqlite3
inserting one equivalent row per transaction. Orders are registered before
the clock starts (the workload is the case commands).
"""

from __future__ import annotations

from decimal import Decimal
from functools import partial
from pathlib import Path
from typing import Any

from aftersales_es.domain.base import case_uuid, order_uuid
from aftersales_es.engine import AfterSales

from . import Config, Row, gen, median, paired, scratch, sqlite_store, timed
from .bare import RawLog, Tickets

Commands = list[tuple[str, dict[str, Any]]]
ACTOR = {"apply": "buyer", "accept_proposal": "buyer", "decline_proposal": "buyer"}
ACTOR.update(ship_back="buyer", confirm_completion="buyer", escalate="buyer")
ACTOR.update(submit_evidence="buyer", rule="platform")


class Ours:
    """The engine: ``app.execute`` per command (orders registered untimed)."""

    def __init__(self, path: Path, p: gen.Plan) -> None:
        # Each repeat starts as cold as a new process: no memoised ids from
        # the previous repeat's run of the same commands.
        case_uuid.cache_clear()
        order_uuid.cache_clear()
        self.app = AfterSales(path)
        gen.bulk_orders(self.app, p.orders)

    def __call__(self, cmds: Commands) -> None:
        for name, data in cmds:
            self.app.execute(name, **data)

    def close(self) -> int:
        events = int(self.app.notification_count())
        self.app.close()
        return events


class Bare:
    """Baseline (a): the bare eventsourcing ``Ticket``."""

    def __init__(self, path: Path) -> None:
        self.app = Tickets(sqlite_store(path))

    def __call__(self, cmds: Commands) -> None:
        for name, data in cmds:
            if name == "apply":
                amount = Decimal(data.get("amount") or "0")
                self.app.open(data["case"], data["kind"], amount, data["at"])
            else:
                self.app.move(data["case"], name, ACTOR.get(name, "seller"), data["at"])

    def close(self) -> int:
        self.app.close()
        return 0


class Raw:
    """Baseline (b): one raw sqlite3 row per transaction."""

    def __init__(self, path: Path) -> None:
        self.log = RawLog(path)

    def __call__(self, cmds: Commands) -> None:
        for name, data in cmds:
            at = data["at"].isoformat()
            payload = {"timestamp": at, "at": at, "actor": ACTOR.get(name, "seller"), "state": name}
            self.log.append(data["case"], f"bench.bare:Ticket.{name}", payload)

    def close(self) -> int:
        self.log.close()
        return 0


def run(cfg: Config) -> list[Row]:
    """Each repeat runs the three sides on fresh files, a chunk of commands
    at a time in rotating order, so that all three see the same moments of a
    noisy machine; a repeat's ratio compares sides within it."""
    n = cfg.size(20_000, 1_000)
    p = gen.plan(gen.cases_for(n))
    cmds = gen.commands(p, limit=n)
    chunk = max(1, min(1_000, n // 4))
    samples: dict[str, list[float]] = {"ours": [], "bare": [], "raw": []}
    events = 0
    with scratch(cfg, "commands") as tmp:
        for rep in range(cfg.repeats):
            sides: dict[str, Any] = {
                "ours": Ours(tmp / f"ours{rep}.db", p),
                "bare": Bare(tmp / f"bare{rep}.db"),
                "raw": Raw(tmp / f"raw{rep}.db"),
            }
            spent = dict.fromkeys(sides, 0.0)
            try:
                for k, part in enumerate(gen.chunks(cmds, chunk)):
                    names = list(sides)
                    names = names[k % 3 :] + names[: k % 3]  # rotate who goes first
                    for name in names:
                        seconds, _ = timed(partial(sides[name], part))
                        spent[name] += seconds
            finally:
                for name, side in sides.items():
                    got = side.close()
                    if name == "ours":
                        events = got
            for name, seconds in spent.items():
                samples[name].append(len(cmds) / seconds)
    extra = {"commands": len(cmds), "cases": len({d["case"] for _, d in cmds})}
    extra["stored_events_incl_orders"] = events
    note = f"{len(cmds):,} commands on {extra['cases']:,} cases, 1 per transaction"
    rows = []
    # The raw-sqlite3 ratio is reported as the physical limit: its former
    # target (0.5) is retired, since bare eventsourcing alone reaches ~0.45.
    for base, name, target in (
        ("bare", "bare ES get+1 event+save", 0.8),
        ("raw", "raw sqlite3 INSERT+COMMIT (physical limit, no target)", None),
    ):
        rows.append(
            Row(
                "1 commands",
                "vs bare eventsourcing aggregate"
                if base == "bare"
                else "vs raw sqlite3 row per txn",
                "cmd/s",
                median(samples["ours"]),
                median(samples[base]),
                name,
                ">=" if target else "",
                target,
                note=note,
                samples={"ours": samples["ours"], base: samples[base]},
                ratios=paired(samples["ours"], samples[base]),
                extra=extra,
            )
        )
    return rows
