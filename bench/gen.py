"""Generated workloads: orders, case flows, command mixes, scenario files.

Every case runs one *flow*: a list of steps (command, arguments, offset from
the order's delivery) that the engine accepts on the Kuaishou or Kilimall
rule set, each step inside the deadlines that are pending at the time, so a
flow never races its own deadlines. ``fire`` steps fire the case's pending
deadline at its due instant (used only where data is generated in bulk).

:func:`bulk_cases` writes many cases fast: it runs the real domain methods
on in-memory aggregates (the same events the application would write) and
saves a few hundred cases per transaction, so the benchmarks can build
100,000-case stores in minutes instead of hours.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from aftersales_es.domain.case import Case, Context
from aftersales_es.domain.money import parse_amount
from aftersales_es.domain.order import Order
from aftersales_es.domain.ruleset_record import ruleset_uuid
from aftersales_es.engine import AfterSales

T0 = datetime.fromisoformat("2026-03-01T09:00:00+08:00")
H = timedelta(hours=1)
D = timedelta(days=1)
SELLERS = 200

Step = tuple[str, dict[str, Any], timedelta]

#: Kuaishou flows for the command mix (SPEC §3), offsets from delivery.
FLOWS: dict[str, list[Step]] = {
    "return": [
        ("apply", {"kind": "return_refund", "reason": "quality_issue"}, 1 * D),
        ("approve", {}, 1 * D + 2 * H),
        ("ship_back", {"carrier": "YTO", "tracking_number": "YT8812345678"}, 2 * D),
        ("confirm_receipt", {}, 5 * D),
    ],
    "refund": [
        ("apply", {"kind": "refund_only", "amount": "120.00", "reason": "changed_mind"}, 1 * D),
        ("approve", {}, 1 * D + 1 * H),
    ],
    "propose": [
        ("apply", {"kind": "return_refund", "reason": "damaged"}, 1 * D),
        ("propose", {"kind": "refund_only", "amount": "60.00"}, 1 * D + 3 * H),
        ("accept_proposal", {}, 1 * D + 5 * H),
    ],
    "propose_decline": [
        ("apply", {"kind": "refund_only", "amount": "50.00", "reason": "other"}, 1 * D),
        ("propose", {"kind": "refund_only", "amount": "30.00"}, 1 * D + 2 * H),
        ("decline_proposal", {}, 1 * D + 4 * H),
        ("approve", {}, 1 * D + 6 * H),
    ],
    "reject": [
        ("apply", {"kind": "refund_only", "amount": "120.00", "reason": "changed_mind"}, 1 * D),
        # KS-3: a category, after talking to the buyer.
        (
            "reject",
            {"reason": "the item was used", "category": "other", "buyer_contacted": True},
            1 * D + 4 * H,
        ),
    ],
    "dispute": [
        ("apply", {"kind": "return_refund", "reason": "not_as_described"}, 1 * D),
        (
            "reject",
            {
                "reason": "the item matches the listing",
                "category": "no_quality_issue",
                "buyer_contacted": True,
            },
            1 * D + 4 * H,
        ),
        ("escalate", {"by": "buyer"}, 2 * D),
        ("submit_evidence", {"by": "buyer", "note": "photos of the defect"}, 2 * D + 1 * H),
        ("rule", {"in_favour_of": "buyer"}, 3 * D),
    ],
    "exchange": [
        ("apply", {"kind": "exchange", "reason": "wrong_item"}, 1 * D),
        ("approve", {}, 1 * D + 2 * H),
        ("ship_back", {"carrier": "SF", "tracking_number": "SF1234567"}, 2 * D),
        ("confirm_receipt", {}, 4 * D),
        ("ship_replacement", {"carrier": "SF", "tracking_number": "SF7654321"}, 4 * D + 2 * H),
        ("confirm_completion", {}, 6 * D),
    ],
}
#: How often each flow occurs in the command mix (percent).
MIX: dict[str, int] = {
    "return": 30,
    "refund": 25,
    "propose": 10,
    "propose_decline": 5,
    "reject": 10,
    "dispute": 10,
    "exchange": 10,
}
#: Extra flows for bulk histories: deadlines fire (KS-1, KS-5, KM-5) and
#: Kilimall warehouse returns charge a fee (KM-3), so the ledger is not empty.
BULK_FLOWS: dict[str, list[Step]] = {
    **FLOWS,
    "silent_refund": [
        ("apply", {"kind": "refund_only", "amount": "120.00", "reason": "other"}, 1 * D),
        ("fire", {}, 1 * D),
    ],
    "no_waybill": [
        ("apply", {"kind": "return_refund", "reason": "changed_mind"}, 1 * D),
        ("approve", {}, 1 * D + 1 * H),
        ("fire", {}, 1 * D),
    ],
    "km_silent": [
        ("apply", {"kind": "refund_only", "amount": "120.00", "reason": "not_received"}, 1 * D),
        ("fire", {}, 1 * D),
    ],
    "km_warehouse": [
        ("apply", {"kind": "return_refund", "reason": "wrong_item"}, 1 * D),
        ("approve", {}, 1 * D + 2 * H),
        ("ship_back", {"carrier": "DHL", "tracking_number": "DHL1234"}, 2 * D),
        ("confirm_receipt", {"by": "platform"}, 4 * D),  # KM-3: the warehouse receives
    ],
    # Applied and left alone: the seller-review deadline (KS-1, KS-4) is pending.
    "due_refund": [("apply", {"kind": "refund_only", "amount": "120.00"}, 1 * D)],
    "due_return": [("apply", {"kind": "return_refund", "reason": "damaged"}, 1 * D)],
}
BULK_MIX: dict[str, int] = {**MIX, "silent_refund": 5, "no_waybill": 3, "km_silent": 4}
KILIMALL_FLOWS = frozenset({"km_silent", "km_warehouse"})
BULK_MIX["km_warehouse"] = 4


@dataclass
class Plan:
    """Generated cases: order facts plus the flow each case follows."""

    orders: list[dict[str, Any]] = field(default_factory=list)
    cases: list[tuple[str, str, str]] = field(default_factory=list)  # case, order, flow

    def steps(self, i: int) -> list[Step]:
        return BULK_FLOWS[self.cases[i][2]]


def order_facts(
    i: int, prefix: str = "O", platform: str = "kuaishou", spacing: timedelta = timedelta(minutes=1)
) -> dict[str, Any]:
    """Order ``i``: paid at T0 + i x spacing, shipped 20 h and delivered 2 days later."""
    paid = T0 + i * spacing
    kilimall = platform == "kilimall"
    return {
        "id": f"{prefix}{i}",
        "seller": f"S{i % SELLERS}",
        "buyer": f"B{i}",
        "platform": platform,
        "amount": "120.00",
        "currency": "KES" if kilimall else "CNY",
        "paid_at": paid,
        "shipped_at": paid + 20 * H,
        "delivered_at": paid + 2 * D,
        "gs": kilimall,
    }


def plan(
    n_cases: int,
    *,
    mix: dict[str, int] | None = None,
    seed: int = 7,
    prefix: str = "",
    spacing: timedelta = timedelta(minutes=1),
) -> Plan:
    """``n_cases`` cases, each with its own order, flows drawn from ``mix``."""
    rng = random.Random(seed)
    weights = mix or MIX
    names = list(weights)
    out = Plan()
    for i in range(n_cases):
        flow = rng.choices(names, weights=[weights[n] for n in names])[0]
        platform = "kilimall" if flow in KILIMALL_FLOWS else "kuaishou"
        facts = order_facts(i, prefix=f"{prefix}O", platform=platform, spacing=spacing)
        out.orders.append(facts)
        out.cases.append((f"{prefix}C{i}", facts["id"], flow))
    return out


def commands(
    p: Plan, limit: int | None = None, block: int = 50
) -> list[tuple[str, dict[str, Any]]]:
    """The plan's commands as ``app.execute`` arguments, interleaved.

    Cases are taken ``block`` at a time and their steps interleaved (step 0
    of each case in the block, then step 1, ...), so many cases are open at
    once, as in a real shop; each case's own steps stay in time order.
    """
    out: list[tuple[str, dict[str, Any]]] = []
    for start in range(0, len(p.cases), block):
        chunk = range(start, min(start + block, len(p.cases)))
        depth = max(len(p.steps(i)) for i in chunk)
        for k in range(depth):
            for i in chunk:
                steps = p.steps(i)
                if k < len(steps):
                    out.append(_command(p, i, steps[k]))
                    if limit is not None and len(out) >= limit:
                        return out
    return out


def _command(p: Plan, i: int, step: Step) -> tuple[str, dict[str, Any]]:
    name, args, offset = step
    case_id, order_id, _ = p.cases[i]
    at = p.orders[i]["delivered_at"] + offset
    data: dict[str, Any] = {**args, "case": case_id, "at": at}
    if name == "apply":
        data["order"] = order_id
    return name, data


def cases_for(n_commands: int, mix: dict[str, int] | None = None) -> int:
    """How many cases of ``mix`` give at least ``n_commands`` commands."""
    weights = mix or MIX
    mean = sum(len(BULK_FLOWS[k]) * w for k, w in weights.items()) / sum(weights.values())
    return int(n_commands / mean * 1.1) + 50


# ------------------------------------------------------------------ bulk writes
def seed_rulesets(app: AfterSales, platforms: Iterable[str]) -> None:
    """Record each platform's rule set through the real API, once per store.

    A case stores only its rule set's digest; the values are recorded by the
    application on the first ``apply``. Bulk writes bypass ``execute``, so
    one seed case per platform is applied (and withdrawn, leaving no
    deadline behind) through the API first.
    """
    for platform in sorted(set(platforms)):
        digest = app.ruleset(platform).digest
        if ruleset_uuid(digest) in app.repository:
            continue
        facts = order_facts(0, prefix=f"seed-{platform}-O", platform=platform)
        app.register_order(facts)
        at = facts["delivered_at"] + D
        case = f"seed-{platform}-C0"
        app.execute("apply", case=case, order=facts["id"], at=at, kind="return_refund")
        app.execute("withdraw", case=case, at=at + H)


def new_order(facts: dict[str, Any]) -> Order:
    """An unsaved order aggregate with the facts ``register_order`` would record."""
    currency = facts["currency"]
    return Order.register(
        at=facts["paid_at"],
        order_id=facts["id"],
        seller_id=facts["seller"],
        buyer_id=facts["buyer"],
        platform=facts["platform"],
        amount=parse_amount(facts["amount"], currency),
        currency=currency,
        paid_at=facts["paid_at"],
        shipped_at=facts["shipped_at"],
        delivered_at=facts["delivered_at"],
        gs=facts["gs"],
        lines=[],
    )


def bulk_orders(app: AfterSales, orders: Sequence[dict[str, Any]], batch: int = 500) -> None:
    """Register orders fast (``batch`` per transaction), for untimed setup."""
    for part in chunks(orders, batch):
        app.save(*(new_order(o) for o in part))


def build_case(
    app: AfterSales, facts: dict[str, Any], case_id: str, steps: Sequence[Step]
) -> list[Any]:
    """Run ``steps`` on fresh in-memory aggregates; return them (unsaved)."""
    rules = app.ruleset(facts["platform"])
    currency = facts["currency"]
    order = new_order(facts)
    ctx = Context(order, rules)
    base = facts["delivered_at"]
    case: Case | None = None
    for name, args, offset in steps:
        at = base + offset
        if name == "apply":
            amount = args.get("amount")
            case = Case.open(
                case_id,
                ctx,
                at=at,
                kind=args["kind"],
                amount=None if amount is None else parse_amount(amount, currency),
                reason=args.get("reason", "other"),
            )
            continue
        assert case is not None
        if name == "fire":
            d = case.pending_deadline
            assert d is not None, f"{case_id}: nothing to fire"
            case.fire(ctx, name=d.name, due=d.due)
            continue
        kw = dict(args)
        for key in ("amount", "refund_amount"):
            if kw.get(key) is not None:
                kw[key] = parse_amount(kw[key], currency)
        getattr(case, name)(ctx, at=at, **kw)
    return [order, case]


def bulk_cases(app: AfterSales, p: Plan, *, batch: int = 250, steps: int | None = None) -> int:
    """Save every case of ``p`` (``steps`` first steps of each flow), ``batch``
    cases per transaction; return the number of aggregates saved."""
    seed_rulesets(app, (o["platform"] for o in p.orders))
    saved = 0
    pending: list[Any] = []
    for i, (case_id, _, _) in enumerate(p.cases):
        flow = p.steps(i) if steps is None else p.steps(i)[:steps]
        pending += build_case(app, p.orders[i], case_id, flow)
        if len(pending) >= 2 * batch:
            app.save(*pending)
            saved += len(pending)
            pending = []
    if pending:
        app.save(*pending)
        saved += len(pending)
    return saved


def scenario(p: Plan, platform: str = "kuaishou") -> dict[str, Any]:
    """A SPEC §4 scenario file running the plan's commands in time order."""
    steps: list[tuple[datetime, int, dict[str, Any]]] = []
    for i in range(len(p.cases)):
        for name, data in (_command(p, i, s) for s in p.steps(i)):
            if name == "fire":  # a scenario fires deadlines as its clock passes them
                continue
            step: dict[str, Any] = {"at": data.pop("at").isoformat(), "command": name}
            step["case"] = data.pop("case")
            if "order" in data:
                step["order"] = data.pop("order")
            if data:
                step["args"] = data
            steps.append((datetime.fromisoformat(step["at"]), len(steps), step))
    steps.sort(key=lambda s: (s[0], s[1]))
    orders = []
    for o in p.orders:
        facts = {k: v for k, v in o.items() if k != "platform"}
        for key in ("paid_at", "shipped_at", "delivered_at"):
            facts[key] = facts[key].isoformat()
        orders.append(facts)
    return {"platform": platform, "orders": orders, "steps": [s[2] for s in steps]}


def chunks(items: Sequence[Any], n: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), n):
        yield items[start : start + n]
