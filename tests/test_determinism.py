"""Replay determinism: cases rebuilt in another process, under another
``TZ`` and ``PYTHONHASHSEED``, with and without snapshots, are the cases that
were recorded, and the rebuilt deduction ledger is the recorded one.

A seeded random walk (the same mix of commands, actors, amounts and clock
jumps as the stateful test, refusals included) fills a SQLite file on both
platforms, plus one long dispute so that cases have snapshots (every 50
events). This process dumps every case (``views.case_dict`` with its events),
a versioned read every 10 versions of the long case, and the ledger, as
sorted JSON. A fresh process (``python -m tests.test_determinism``) dumps
the same from a copy of the file three ways: with snapshots, from events only,
and with the read models dropped and rebuilt. Printed: cases, events,
snapshots, differences (0).
"""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar

from eventsourcing.domain import Aggregate

from aftersales_es.domain.errors import AfterSalesError
from aftersales_es.engine import AfterSales
from aftersales_es.readmodels.views import case_dict, plain

from .helpers import T0

LONG = os.environ.get("AFTERSALES_FUZZ") == "long"
WALK = 3000 if LONG else 600
KINDS = ("refund_only", "return_refund", "exchange", "repair", "cancel_undelivered")
REASONS = ("changed_mind", "other", "wrong_item", "quality_issue", "damaged")
ARGS: dict[str, list[dict[str, Any]]] = {
    "approve": [{}],
    "propose": [{"kind": "refund_only", "amount": "10.00"}, {"kind": "exchange", "amount": "0"}],
    "accept_proposal": [{}],
    "decline_proposal": [{}],
    "reject": [{"category": "other", "buyer_contacted": True, "reason": "the seal is broken"}],
    "ship_back": [{"carrier": "SF", "tracking_number": "SF1"}],
    "confirm_receipt": [{}],
    "ship_replacement": [{"carrier": "DHL", "tracking_number": "D1"}],
    "confirm_completion": [{}],
    "escalate": [{"by": "buyer"}, {"by": "seller"}],
    "submit_evidence": [{"by": "buyer", "note": "photos"}, {"by": "seller", "note": "video"}],
    "rule": [
        {"in_favour_of": "buyer"},
        {"in_favour_of": "buyer", "refund_amount": "5.00", "seller_liable": False},
        {"in_favour_of": "seller"},
    ],
    "withdraw": [{}],
    "request_goods_back": [{}],
}
#: What usually comes next from a state (the walk also tries anything, 1 in 5).
LIKELY: dict[str, tuple[str, ...]] = {
    "requested": ("approve", "propose", "reject", "withdraw", "escalate"),
    "proposed": ("accept_proposal", "decline_proposal", "escalate", "withdraw"),
    "awaiting_return": ("ship_back", "withdraw"),
    "returning": ("confirm_receipt", "escalate"),
    "received": ("ship_replacement", "escalate"),
    "reshipping": ("confirm_completion", "escalate"),
    "rejected": ("escalate", "withdraw"),
    "disputed": ("submit_evidence", "rule", "withdraw"),
}
JUMPS = [timedelta(hours=h) for h in (1, 6, 24, 49, 73)] + [timedelta(days=d) for d in (8, 11, 91)]


def walk(app: AfterSales, steps: int, seed: int) -> dict[str, int]:
    """A seeded random walk of commands and clock jumps; refusals are part of it."""
    rng = random.Random(seed)
    now = T0 + timedelta(days=2, hours=1)
    orders: list[str] = []
    tally = {"accepted": 0, "refused": 0, "fired": 0}
    for i in range(steps):
        roll = rng.random()
        if roll < 0.15 or not orders:
            platform = rng.choice(["kuaishou", "kilimall"])
            paid = now - rng.choice(
                [
                    timedelta(hours=2),
                    timedelta(days=3),
                    timedelta(days=3, hours=5),
                    timedelta(days=40),
                ]
            )
            oid = f"O{i}"
            app.register_order({
                "id": oid, "seller": f"S-{platform}", "buyer": f"B{i % 7}", "platform": platform,
                "amount": rng.choice(["120.00", "80.00", "3000.00"]),
                "currency": "CNY" if platform == "kuaishou" else "KES", "paid_at": paid,
                "shipped_at": paid + timedelta(hours=20), "gs": rng.random() < 0.5,
                "delivered_at": paid + timedelta(days=2) if rng.random() < 0.7 else None,
            })  # fmt: skip
            orders.append(oid)
            continue
        try:
            states = {c["case_id"]: c["state"] for c in app.cases()}
            live = sorted(c for c, s in states.items() if s in LIKELY)
            if roll < 0.35 or (roll < 0.85 and not live):
                free = [o for o in orders if app.get_order(o).open_case_id is None]
                order = app.get_order(rng.choice(free or orders))
                kind = rng.choice(KINDS[:4] if order.platform == "kuaishou" else KINDS)
                amount = None if kind in ("exchange", "repair") else rng.choice([None, "10.00"])
                app.execute(
                    "apply", case=f"C{i}", order=order.order_id, at=now, kind=kind,
                    reason=rng.choice(REASONS), amount=amount,
                )  # fmt: skip
            elif roll < 0.85:
                if rng.random() < 0.1:
                    live = sorted(states)  # now and then, a command on any case
                case = rng.choice(live)
                likely = LIKELY.get(states[case], ())
                name = rng.choice(likely if likely and rng.random() < 0.8 else sorted(ARGS))
                app.execute(name, case=case, at=now, **rng.choice(ARGS[name]))
            else:
                now += rng.choice(JUMPS)
                tally["fired"] += len(app.fire_due(now))
                continue
            tally["accepted"] += 1
        except AfterSalesError:
            tally["refused"] += 1
    return tally


def long_dispute(app: AfterSales, start: datetime) -> None:
    """One case with 120 evidence events: snapshotted at versions 50 and 100."""
    app.register_order({
        "id": "OLONG", "seller": "S-kuaishou", "buyer": "B1", "platform": "kuaishou",
        "amount": "120.00", "currency": "CNY", "paid_at": start - timedelta(days=3),
        "shipped_at": start - timedelta(days=2), "delivered_at": start - timedelta(days=1),
    })  # fmt: skip
    app.execute(
        "apply", case="CLONG", order="OLONG", at=start, kind="refund_only", reason="damaged"
    )
    app.execute(
        "reject", case="CLONG", at=start, category="other", buyer_contacted=True, reason="used"
    )
    app.execute("escalate", case="CLONG", at=start, by="buyer")
    for n in range(120):
        by = "buyer" if n % 2 else "seller"
        app.execute("submit_evidence", case="CLONG", at=start + timedelta(minutes=n), by=by,
                    note=f"evidence {n}")  # fmt: skip
    app.execute("rule", case="CLONG", at=start + timedelta(hours=3), in_favour_of="buyer")


def dump(app: AfterSales) -> dict[str, Any]:
    """Every case with its events, versioned reads of the long case, and the ledger."""
    cases = {c["case_id"]: case_dict(app.get_case(c["case_id"]), app.case_events(c["case_id"]))
             for c in app.cases()}  # fmt: skip
    last = app.get_case("CLONG").version
    versions = {v: case_dict(app.get_case("CLONG", version=v)) for v in range(1, last + 1, 10)}
    ledger = [plain(d) for d in app.deductions()]
    return {"cases": cases, "long_case_versions": versions, "ledger": ledger}


class EventsOnly(AfterSales):
    """The application with snapshotting off: every case from its events alone."""

    name = AfterSales.name  # the same tables and settings prefix as the application
    snapshotting_intervals: ClassVar[dict[type[Aggregate], int]] = {}


def rebuilt_dumps(path: str) -> dict[str, Any]:
    """In this (fresh) process: with snapshots, from events only, read models rebuilt."""
    with_snapshots = AfterSales(path)
    out = {"snapshots": dump(with_snapshots)}
    assert with_snapshots.snapshots is not None
    with_snapshots.close()
    events_only = EventsOnly(path)
    assert events_only.snapshots is None
    out["events_only"] = dump(events_only)
    events_only.close()
    fresh = AfterSales(path)
    fresh.projector.rebuild()
    out["rebuilt_read_models"] = dump(fresh)
    fresh.close()
    return out


def differences(a: Any, b: Any, path: str = "") -> list[str]:
    """Where two JSON-like values differ (paths), for a readable failure."""
    if isinstance(a, dict) and isinstance(b, dict):
        return [
            d
            for k in sorted(set(a) | set(b))
            for d in differences(a.get(k), b.get(k), f"{path}/{k}")
        ]
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        return [
            d
            for i, (x, y) in enumerate(zip(a, b, strict=True))
            for d in differences(x, y, f"{path}/{i}")
        ]
    return [] if a == b else [path or "/"]


def test_cases_rebuilt_in_another_process_tz_and_hash_seed_are_identical(tmp_path: Path) -> None:
    db = tmp_path / "walk.db"
    app = AfterSales(db)
    tally = walk(app, WALK, seed=6)
    long_dispute(app, T0 + timedelta(days=400))
    recorded = dump(app)
    assert app.snapshots is not None
    snapshots = sum(len(list(app.snapshots.get(app.get_case(c).id))) for c in recorded["cases"])
    events = app.notification_count()
    app.close()
    copy = tmp_path / "copy.db"
    for suffix in ("", "-wal", "-shm"):
        if Path(f"{db}{suffix}").exists():
            shutil.copy(f"{db}{suffix}", f"{copy}{suffix}")
    env = {
        **os.environ,
        "TZ": "America/St_Johns" if os.environ.get("TZ") != "America/St_Johns" else "Asia/Kolkata",
        "PYTHONHASHSEED": "4242" if os.environ.get("PYTHONHASHSEED") != "4242" else "7",
        "PYTHONPATH": os.pathsep.join(
            [str(Path(__file__).parents[1]), str(Path(__file__).parents[1] / "src")]
        ),
    }
    done = subprocess.run(
        [sys.executable, "-m", "tests.test_determinism", str(copy)],
        capture_output=True, text=True, env=env, timeout=300, check=False,
        cwd=Path(__file__).parents[1],
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    rebuilt = json.loads(done.stdout)
    expected = json.loads(json.dumps(recorded, sort_keys=True))
    diffs = {way: differences(expected, got) for way, got in rebuilt.items()}
    print(
        f"\ndeterminism: walk {WALK} steps {tally}; {len(recorded['cases'])} cases, {events}"
        f" events, {snapshots} snapshots, {len(recorded['ledger'])} deductions; rebuilt in a"
        f" process with TZ={env['TZ']} PYTHONHASHSEED={env['PYTHONHASHSEED']}: "
        + ", ".join(f"{way} {len(d)} differences" for way, d in diffs.items())
    )
    assert snapshots >= 2 and tally["accepted"] > WALK // 5 and tally["fired"] > 0
    assert all(d == [] for d in diffs.values()), {w: d[:5] for w, d in diffs.items()}


if __name__ == "__main__":  # the fresh process of the test above
    print(json.dumps(rebuilt_dumps(sys.argv[1]), sort_keys=True))
