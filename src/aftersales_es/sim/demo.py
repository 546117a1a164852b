"""``make demo``: a realistic marketplace day on the SQLite file.

A few hundred cases across Kuaishou and Kilimall with a seeded random mix
of paths (in-time answers, silent sellers, buyers who never ship back,
express refunds, disputes for either side, Kilimall warehouse returns),
driven through the public API with a virtual clock so that deadlines fire
as a worker would fire them. Then it returns what an operator looks at
(the CLI prints it).
"""

from __future__ import annotations

import random
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

from aftersales_es.domain.errors import AfterSalesError
from aftersales_es.domain.ruleload import load_ruleset
from aftersales_es.engine import AfterSales
from aftersales_es.readmodels.views import case_dict

START = datetime.fromisoformat("2026-03-02T09:00:00+08:00")
NAIROBI = timezone(timedelta(hours=3))
Step = tuple[datetime, str, dict[str, Any]]

KS_PATHS = (
    "refund_ok",
    "refund_silent",
    "express",
    "return_ok",
    "return_never_shipped",
    "return_no_receipt",
    "reject_dispute_buyer",
    "reject_dispute_seller",
    "exchange_ok",
)
KM_PATHS = (
    "km_silent_refund",
    "km_silent_return",
    "km_warehouse_back",
    "km_warehouse_scrap",
    "km_cancel",
    "km_partial_proposal",
    "km_dispute",
)


def _plan(path: str, i: int, rng: random.Random) -> tuple[dict[str, Any], list[Step]]:
    """One order and the commands of its case along ``path``."""
    ks = path in KS_PATHS

    def h(n: float) -> timedelta:
        return timedelta(hours=n)

    paid = START + timedelta(minutes=rng.randrange(0, 600))
    if not ks:  # Kilimall orders are placed in Nairobi time
        paid = paid.astimezone(NAIROBI)
    amount = Decimal(rng.randrange(2000, 90000)) / 100 if ks else Decimal(rng.randrange(800, 40000))
    if path == "express":
        amount = Decimal(rng.randrange(1000, 29999)) / 100
    order = {
        "id": f"{'KS' if ks else 'KM'}-{i:05d}",
        "seller": f"{'shop' if ks else 'vendor'}-{rng.randrange(1, 6)}",
        "buyer": f"buyer-{rng.randrange(1, 400)}",
        "platform": "kuaishou" if ks else "kilimall",
        "amount": f"{amount:.2f}",
        "currency": "CNY" if ks else "KES",
        "paid_at": paid,
        "shipped_at": None if path in ("express",) else paid + h(10),
        "delivered_at": None if path in ("express", "km_cancel", "refund_silent") else paid + h(60),
        "gs": path.startswith("km_warehouse") or path == "km_cancel",
    }
    c, o = f"C{i:05d}", order["id"]
    at = paid + (h(2) if path == "express" else h(72 + rng.randrange(0, 48)))
    if path == "km_cancel":
        at = paid + timedelta(days=30, hours=rng.randrange(1, 20))
    kind = {
        "express": "refund_only",
        "refund_ok": "refund_only",
        "refund_silent": "refund_only",
        "km_silent_refund": "refund_only",
        "km_cancel": "cancel_undelivered",
        "exchange_ok": "exchange",
    }.get(path, "return_refund")
    reason = (
        "quality_issue"
        if path.startswith("km_warehouse") or kind == "exchange"
        else (rng.choice(["changed_mind", "damaged", "not_as_described", "other"]))
    )
    ask = None if kind in ("exchange", "cancel_undelivered") else order["amount"]
    steps: list[Step] = [
        (at, "apply", {"case": c, "order": o, "kind": kind, "amount": ask, "reason": reason})
    ]

    def then(hours: float, command: str, **args: Any) -> None:
        steps.append((steps[-1][0] + h(hours), command, {"case": c, **args}))

    waybill = {
        "carrier": rng.choice(["SF", "YTO", "ZTO", "G4S"]),
        "tracking_number": f"TN{rng.randrange(10**9, 10**10)}",
    }
    if path in ("refund_ok",):
        then(rng.randrange(1, 40), "approve")
    elif path in (
        "return_ok",
        "return_never_shipped",
        "return_no_receipt",
        "exchange_ok",
        "km_warehouse_back",
        "km_warehouse_scrap",
    ):
        then(rng.randrange(1, 40), "approve")
        if path != "return_never_shipped":
            then(rng.randrange(6, 200), "ship_back", **waybill)
            if path != "return_no_receipt":
                then(rng.randrange(24, 200), "confirm_receipt")
        if path == "exchange_ok":
            then(30, "ship_replacement", **waybill)
            then(50, "confirm_completion")
        if path == "km_warehouse_back":
            then(24 * rng.randrange(5, 80), "request_goods_back")
    elif path in ("reject_dispute_buyer", "reject_dispute_seller", "km_dispute"):
        then(rng.randrange(1, 40), "reject", reason="the item was used")
        then(rng.randrange(1, 30), "escalate", by="buyer")
        then(20, "submit_evidence", by="seller", note="photos of the parcel")
        favour = "seller" if path == "reject_dispute_seller" or rng.random() < 0.4 else "buyer"
        then(40, "rule", in_favour_of=favour)
    elif path == "km_partial_proposal":
        part = (Decimal(str(order["amount"])) * Decimal("0.4")).quantize(Decimal("1.00"))
        then(rng.randrange(1, 40), "propose", kind="refund_only", amount=str(part))
        then(rng.randrange(1, 30), "accept_proposal")
    return order, steps


def _lines_plan(i: int, rng: random.Random) -> tuple[dict[str, Any], list[Step]]:
    """A Kuaishou order with two lines; the buyer returns 1 of the 3
    of line L1 and, on every other order, gets a partial refund on L2."""
    paid = START + timedelta(minutes=rng.randrange(0, 600))
    unit, other = Decimal(rng.randrange(1000, 9000)) / 100, Decimal(rng.randrange(500, 5000)) / 100
    order = {
        "id": f"KS-{i:05d}",
        "seller": f"shop-{rng.randrange(1, 6)}",
        "buyer": f"buyer-{rng.randrange(1, 400)}",
        "platform": "kuaishou",
        "amount": f"{3 * unit + other + 8:.2f}",  # 8.00 shipping
        "currency": "CNY",
        "paid_at": paid,
        "shipped_at": paid + timedelta(hours=10),
        "delivered_at": paid + timedelta(hours=60),
        "lines": [
            {"line": "L1", "sku": "TEE-M", "title": "T-shirt", "quantity": 3,
             "unit_price": f"{unit:.2f}"},
            {"line": "L2", "sku": "CAP-1", "title": "Cap", "quantity": 1,
             "unit_price": f"{other:.2f}"},
        ],
    }  # fmt: skip
    at, c, o = paid + timedelta(hours=80), f"C{i:05d}", order["id"]
    waybill = {"carrier": "SF", "tracking_number": f"TN{rng.randrange(10**9, 10**10)}"}
    steps: list[Step] = [
        (at, "apply", {"case": c, "order": o, "kind": "return_refund", "lines": "L1:1",
                       "reason": "changed_mind"}),
        (at + timedelta(hours=5), "approve", {"case": c}),
        (at + timedelta(hours=30), "ship_back", {"case": c, **waybill}),
        (at + timedelta(hours=90), "confirm_receipt", {"case": c}),
    ]  # fmt: skip
    if i % 2:
        part = f"{other / 2:.2f}"
        c2 = f"C{i:05d}b"
        steps += [
            (at + timedelta(hours=1), "apply", {"case": c2, "order": o, "kind": "refund_only",
             "lines": "L2:1", "amount": part, "reason": "damaged"}),
            (at + timedelta(hours=6), "approve", {"case": c2}),
        ]  # fmt: skip
    return order, steps


@dataclass
class DemoReport:
    """What the demo shows an operator: a summary line and titled tables."""

    summary: str
    tables: list[tuple[str, list[dict[str, Any]], list[str]]] = field(default_factory=list)


def is_empty(app: AfterSales) -> bool:
    """Whether the store holds no events (the demo writes only into such a store)."""
    return app.notification_count() == 0


def run_demo(
    app: AfterSales,
    *,
    cases: int = 300,
    seed: int = 7,
    progress: Callable[[int, int], None] | None = None,
) -> DemoReport:
    """Run the marketplace day on ``app`` and return the operator's views.

    ``app`` should be empty: the final sweep fires every deadline due up to
    four months after the day, whoever's cases they are.
    """
    rng = random.Random(seed)
    plans = [_plan(rng.choice(KS_PATHS + KM_PATHS), i, rng) for i in range(1, cases + 1)]
    # Multi-line orders with partial returns, on their own generator so the
    # random plans above stay as they were.
    lines_rng = random.Random(seed + 1)
    plans += [_lines_plan(i, lines_rng) for i in range(cases + 1, cases + 1 + max(cases // 25, 2))]
    for order, _ in plans:
        app.register_order(order)
    steps = sorted((s for _, ss in plans for s in ss), key=lambda s: (s[0], s[2]["case"]))
    refused: Counter[str] = Counter()
    for n, (at, command, args) in enumerate(steps, 1):
        app.fire_due(at)
        try:
            app.execute(command, at=at, **args)
        except AfterSalesError as exc:
            # e.g. a seller answering after the 48 h deadline already fired
            refused[getattr(exc, "rule", type(exc).__name__)] += 1
        if progress is not None and (n % 25 == 0 or n == len(steps)):
            progress(n, len(steps))
    end = steps[-1][0] + timedelta(days=120)
    fired = app.fire_due(end)
    why = ", ".join(f"{rule}: {n}" for rule, n in sorted(refused.items())) or "none"
    report = DemoReport(
        f"{cases} cases, {len(steps)} commands, {sum(refused.values())} refused ({why}); "
        f"{len(fired)} deadlines fired in the final sweep to {end.isoformat()}"
    )
    _report(app, report)
    _report_lines(app, [o["id"] for o, _ in plans if o.get("lines")], report)
    return report


def demo_rulesets() -> dict[str, Any]:
    """The demo's rule sets: Kuaishou with express refunds switched on."""
    return {"kuaishou": load_ruleset("kuaishou", {"express_refund": True})}


def _report_lines(app: AfterSales, order_ids: list[str], report: DemoReport) -> None:
    """What the multi-line orders' lines have given back."""
    rows = []
    for order_id in order_ids[:8]:
        o = app.get_order(order_id)
        for ln in o.lines:
            rows.append(
                {
                    "order": order_id,
                    "line": ln["line"],
                    "bought": ln["quantity"],
                    "unit_price": ln["unit_price"],
                    "returned": o.line_quantity.get(ln["line"], 0),
                    "settled": o.line_settled.get(ln["line"], Decimal(0)),
                }
            )
    report.tables.append(
        (
            f"Multi-line orders ({len(order_ids)}; first 8): per line",
            rows,
            ["order", "line", "bought", "unit_price", "returned", "settled"],
        )
    )


def _report(app: AfterSales, report: DemoReport) -> None:
    rows = app.cases()
    per: Counter[tuple[str, str]] = Counter((r["platform"], r["state"]) for r in rows)
    report.tables.append(
        (
            "Cases per state per platform",
            [{"platform": p, "state": s, "cases": n} for (p, s), n in sorted(per.items())],
            ["platform", "state", "cases"],
        )
    )
    totals: dict[tuple[str, str, str], Decimal] = defaultdict(Decimal)
    counts: Counter[tuple[str, str, str]] = Counter()
    for d in app.deductions():
        key = (d["seller_id"], d["reason"], d["currency"])
        totals[key] += d["amount"]
        counts[key] += 1
    report.tables.append(
        (
            "Seller deductions by seller and reason",
            [
                {
                    "seller": k[0],
                    "reason": k[1],
                    "count": counts[k],
                    "total": totals[k],
                    "currency": k[2],
                }
                for k in sorted(totals)
            ],
            ["seller", "reason", "count", "total", "currency"],
        )
    )
    # The longest Kilimall history makes the most instructive timeline.
    pick = max(rows, key=lambda r: (r["platform"] == "kilimall", r["version"], r["case_id"]))[
        "case_id"
    ]
    view = case_dict(app.get_case(pick), app.case_events(pick))
    report.tables.append(
        (
            f"Timeline of case {pick} ({view['platform']}, {view['kind']}, {view['state']})",
            [
                {
                    "v": e["version"],
                    "at": e["at"],
                    "event": e["type"],
                    "by": e["rule"] if e["auto"] else e["actor"],
                    "state": e["state"],
                    "amount": e.get("amount", ""),
                }
                for e in view["events"]
            ],
            ["v", "at", "event", "by", "state", "amount"],
        )
    )
