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
from datetime import timedelta
from decimal import Decimal
from typing import Any

from aftersales_es.domain.errors import AfterSalesError
from aftersales_es.domain.ruleload import load_ruleset
from aftersales_es.engine import AfterSales
from aftersales_es.readmodels.views import case_dict
from aftersales_es.sim.demo_payouts import pay_refunds
from aftersales_es.sim.demo_plans import KM_PATHS, KS_PATHS, lines_plan, plan


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
    plans = [plan(rng.choice(KS_PATHS + KM_PATHS), i, rng) for i in range(1, cases + 1)]
    # Multi-line orders with partial returns, on their own generator so the
    # random plans above stay as they were.
    lines_rng = random.Random(seed + 1)
    plans += [lines_plan(i, lines_rng) for i in range(cases + 1, cases + 1 + max(cases // 25, 2))]
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
    paid, totals = pay_refunds(app, end)
    report.summary += f"\n{paid}"
    cols = ["currency", "seller_id", "refunds", "decided", "payouts", "paid", "failed", "pending"]
    report.tables.append(("Payout reconciliation per currency and seller", totals, cols))
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
