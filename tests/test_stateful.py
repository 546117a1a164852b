"""Stateful property test: random command sequences against the real
application, checked after every step against a small reference model of
SPEC.md written here, independently of the engine.

Hypothesis drives a ``RuleBasedStateMachine`` over five orders (Kuaishou and
Kilimall, global-selling or not, shipped, delivered or not) with random
commands, actors, amounts and clock jumps. A jump either runs the deadline
sweep (``fire_due``) or leaves it for later, so commands also arrive after a
deadline fell due and must be refused. The model knows, from SPEC §2-§3 and
the rule sets' values (not from the engine's code): who may do what from which
state for which kind, the deadlines each state starts, the refund cap and the
one open case per order, when money moves, and the deduction ledger. After
every step the engine must agree on: accepted or refused (a refused command
writes nothing), the deadlines fired, each touched case's state, kind,
amount, refund total, goods and pending deadlines, each touched order's
refund total and open case, and the whole ledger.

Sizes: the default run plays 120 examples of up to 100 steps (>= 10,000
steps, printed), derandomized for CI; ``AFTERSALES_FUZZ=long`` (``make
fuzz``) plays 1,000 examples of up to 200 steps with a random seed.
"""

from __future__ import annotations

import itertools
import os
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta, timezone
from decimal import Decimal
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    rule,
    run_state_machine_as_test,
)

from aftersales_es.domain.deadlines import GOODS_DEADLINES
from aftersales_es.domain.errors import CommandRefusedError
from aftersales_es.domain.ruleload import load_ruleset
from aftersales_es.engine import AfterSales

from .helpers import T0

LONG = os.environ.get("AFTERSALES_FUZZ") == "long"
STEPS = {"steps": 0, "commands": 0, "refused": 0, "fired": 0, "examples": 0, "out of due order": 0}
KINDS = ("refund_only", "return_refund", "exchange", "repair", "cancel_undelivered")
APPLY_KINDS = ("return_refund", "exchange", "refund_only", "repair", "cancel_undelivered")
GOODS_KINDS = {"return_refund", "exchange", "repair"}
REFUND_KINDS = {"refund_only", "return_refund", "cancel_undelivered"}
SELLER_FAULT = ("wrong_item", "missing_item", "quality_issue", "damaged", "not_as_described")
REASONS = ("changed_mind", "not_received", "other", *SELLER_FAULT)
OPEN = {"requested", "proposed", "awaiting_return", "returning", "received", "reshipping"}
OPEN |= {"disputed"}  # SPEC §3: open = non-terminal and not rejected

# --------------------------------------------------------------------- rules
# Who may send a command from which state (SPEC §3; "escalate" by either party,
# KS-8, where the parties disagree; the seller may escalate a malicious
# application at once, KM-6). Kind limits are in Model.command.
MAY: dict[str, dict[str, set[str]]] = {
    "approve": {"requested": {"seller"}},
    "propose": {"requested": {"seller"}},
    "reject": {"requested": {"seller"}},
    "accept_proposal": {"proposed": {"buyer"}},
    "decline_proposal": {"proposed": {"buyer"}},
    "ship_back": {"awaiting_return": {"buyer"}},
    "confirm_receipt": {"returning": {"seller", "platform"}},  # KM-3: the warehouse
    "ship_replacement": {"received": {"seller"}},
    "confirm_completion": {"reshipping": {"buyer"}},
    # KS-8: either party, from every state where the case is being handled.
    "escalate": {
        s: {"buyer", "seller"}
        for s in (
            "requested",
            "proposed",
            "rejected",
            "awaiting_return",
            "returning",
            "received",
            "reshipping",
        )
    },
    "submit_evidence": {"disputed": {"buyer", "seller"}},
    "rule": {"disputed": {"platform"}},
    "withdraw": {s: {"buyer"} for s in ("requested", "proposed", "rejected", "awaiting_return")}
    | {"disputed": {"buyer"}},
}
ACTOR = {
    "approve": "seller", "propose": "seller", "reject": "seller", "confirm_receipt": "seller",
    "ship_replacement": "seller", "request_goods_back": "seller", "rule": "platform",
}  # fmt: skip


@dataclass(frozen=True)
class Rules:
    """The values of a shipped rule set the model needs (data, read from the file)."""

    kinds: frozenset[str]
    deadlines: dict[
        tuple[str, str], tuple[str, timedelta, str]
    ]  # (state, kind) -> name, after, action
    validity: timedelta
    evidence: timedelta
    must_support: bool
    cancel_after: timedelta
    loss_on_seller: bool
    warehouse: bool
    warehouse_reasons: frozenset[str]
    fee: Decimal
    scrap_after: timedelta
    no_reply_deduction: bool
    express: tuple[timedelta, Decimal, str]  # paid within, amount below, currency

    @classmethod
    def load(cls, name: str) -> Rules:
        r = RULESETS[name]
        s = r.settings
        table: dict[tuple[str, str], tuple[str, timedelta, str]] = {
            (d.state, k): (d.name, d.after, d.action) for d in r.deadlines for k in d.kinds
        }
        return cls(
            frozenset(r.kinds), table, s.after_sales_validity.value, s.evidence_window.value,
            s.exchange_repair_must_be_supported.value, s.cancel_shipped_after.value,
            s.undelivered_loss_borne_by_seller.value, s.warehouse_returns.value,
            frozenset(s.warehouse_return_reasons.value), s.return_processing_fee.value,
            s.goods_scrap_after.value, s.no_reply_deduction.value,
            (s.express_refund_paid_within.value, s.express_refund_amount_below.value, r.currency),
        )  # fmt: skip


RULESETS = {name: load_ruleset(name) for name in ("kuaishou", "kilimall")}


def window_end(received: datetime, period: timedelta, counting: str) -> datetime:
    """KS-10: when a validity window closes (exclusive); the statute's way counts
    whole days from the day after receipt, to midnight after the last one."""
    if counting == "from_next_day":
        last = received.date() + timedelta(days=period.days)
        return datetime.combine(last + timedelta(days=1), time(0), tzinfo=received.tzinfo)
    return received + period + timedelta(microseconds=1)


RULES = {name: Rules.load(name) for name in RULESETS}


@dataclass
class MOrder:
    id: str
    platform: str
    amount: Decimal
    paid: datetime
    shipped: datetime | None
    delivered: datetime | None
    gs: bool
    refunded: Decimal = Decimal("0.00")
    open: str | None = None
    ruled: set[str] = field(default_factory=set)  # KS-8: grounds ruled on (whole order)


@dataclass
class MCase:
    id: str
    order: MOrder
    kind: str
    amount: Decimal
    reason: str
    state: str = "requested"
    deadlines: dict[str, tuple[datetime, str]] = field(default_factory=dict)  # name -> due, action
    goods: str | None = None
    evidence_due: datetime | None = None
    plan: tuple[str, Decimal, bool] | None = None
    refunded: Decimal = Decimal("0.00")
    source: str = ""  # the state it was escalated from
    ruled: bool = False  # KS-8: the platform ruled on it (final: never escalated again)


class Refused(Exception):
    """The model refuses the command (the engine must too)."""


class Model:
    """SPEC §2-§3 as a small state machine over plain data."""

    def __init__(self, express: bool) -> None:
        self.express = express
        self.orders: dict[str, MOrder] = {}
        self.cases: dict[str, MCase] = {}
        self.ledger: list[tuple[str, str, Decimal]] = []  # case, reason, amount

    # -- helpers
    def rules(self, c: MCase | MOrder) -> Rules:
        return RULES[c.order.platform if isinstance(c, MCase) else c.platform]

    def enter(self, c: MCase, state: str, at: datetime, kind: str | None = None) -> None:
        """Entering a state starts its deadline (rule set); the goods deadline stays."""
        c.state = state
        c.deadlines = {n: d for n, d in c.deadlines.items() if n in GOODS_DEADLINES}
        spec = self.rules(c).deadlines.get((state, kind or c.kind))
        if spec is not None:
            c.deadlines[spec[0]] = (at + spec[1], spec[2])
        if state not in OPEN and c.order.open == c.id:
            c.order.open = None

    def refund(self, c: MCase, amount: Decimal, at: datetime) -> None:
        if amount > c.order.amount - c.order.refunded:
            raise Refused("INV-cap")
        c.refunded += amount
        c.order.refunded += amount
        self.enter(c, "refunded", at)

    def deduct(self, c: MCase, reason: str, amount: Decimal) -> None:
        penalty = RULESETS[c.order.platform].penalty(reason)  # KM-5: money, points or both
        if amount > 0 and penalty.form != "points":
            self.ledger.append((c.id, reason, amount))
        if penalty.form != "money":
            self.ledger.append((c.id, reason, Decimal(penalty.points)))

    def warehouse(self, c: MCase) -> bool:
        s = RULESETS[c.order.platform].settings
        reasons = {*s.warehouse_return_reasons.value, *s.warehouse_return_extra_reasons.value}
        return s.warehouse_returns.value and c.order.gs and c.reason in reasons

    def receive(self, c: MCase, at: datetime) -> None:
        r = self.rules(c)
        if self.warehouse(c):  # KM-3
            c.goods = "held"
            self.deduct(c, "return_processing_fee", r.fee)
            c.deadlines["goods_scrap"] = (at + r.scrap_after, "scrap_goods")  # KM-4
        if c.kind == "return_refund":
            self.refund(c, c.amount, at)  # KS-6
        else:
            self.enter(c, "received", at)

    def approve(self, c: MCase, at: datetime) -> None:
        if c.kind == "refund_only":
            self.refund(c, c.amount, at)  # KS-2
        else:
            self.enter(c, "awaiting_return", at)  # KS-4

    # -- the buyer's application
    def apply(
        self, cid: str, o: MOrder, at: datetime, kind: str, amount: Decimal | None, reason: str
    ) -> None:
        r = self.rules(o)
        left = o.amount - o.refunded
        if kind not in r.kinds or at < o.paid or o.open is not None:
            raise Refused("kind, time or INV-open")
        if kind in ("exchange", "repair"):
            if amount not in (None, Decimal(0)):
                raise Refused("exchange/repair ask no money")
            amount = Decimal("0.00")
        elif left <= 0:
            raise Refused("INV-cap: nothing left to refund")
        elif amount == 0:
            raise Refused("a refund asks for more than 0")
        amount = left if amount is None else amount
        if amount > left:
            raise Refused("INV-cap")
        delivered = o.delivered is not None and o.delivered <= at
        rs = RULESETS[o.platform]
        w = rs.window_for(kind, "", reason)  # KS-10, KM-2: per kind (no category here)
        if w is not None or kind in GOODS_KINDS:
            if w is not None and w.after is None:
                raise Refused("non-returnable")
            period = w.after if w is not None and w.after is not None else r.validity
            counting = rs.settings.validity_counting.value
            if not delivered or at >= window_end(o.delivered, period, counting):  # type: ignore[arg-type]
                raise Refused("validity")
        shipped = o.shipped is not None and o.shipped <= at
        if kind == "cancel_undelivered" and (
            delivered
            or (shipped and at < o.paid + r.cancel_after)
            or (rs.settings.cancel_gs_only.value and not o.gs)
        ):
            raise Refused("KM-1")
        if reason in o.ruled:
            raise Refused("KS-8: the ruling is final")
        c = MCase(cid, o, kind, amount, reason)
        self.cases[cid] = c
        o.open = cid
        self.enter(c, "requested", at)
        within, below, currency = r.express
        if kind == "cancel_undelivered":  # KM-1: granted at once
            self.refund(c, amount, at)
            if shipped and r.loss_on_seller:
                self.deduct(c, "undelivered_loss", amount)
        elif (
            self.express and kind == "refund_only" and at - o.paid < within
            and o.amount < below and currency == ("CNY" if o.platform == "kuaishou" else "KES")
            and not shipped
        ):  # fmt: skip
            self.refund(c, amount, at)  # KS-9

    # -- every other command
    def command(self, name: str, c: MCase, at: datetime, by: str, **args: Any) -> None:
        r = self.rules(c)
        if name == "request_goods_back":  # KM-4: the goods beside the case
            if any(due <= at for due, _ in c.deadlines.values()) or c.goods != "held":
                raise Refused("goods")
            c.goods = "requested_back"
            del c.deadlines["goods_scrap"]
            # KM-4: the warehouse sends them back, else the system does (KM-A8).
            within = RULESETS["kilimall"].settings.goods_send_back_within.value
            c.deadlines["goods_send_back"] = (at + within, "send_goods_back")
            return
        flow = [due for n, (due, _) in c.deadlines.items() if n not in GOODS_DEADLINES]
        if any(due <= at for due in flow):
            raise Refused("a deadline fell due: it fires first")
        if by not in MAY[name].get(c.state, set()):
            raise Refused("statechart")
        goods = c.kind in GOODS_KINDS
        if name in ("ship_back",) and not goods:
            raise Refused("statechart")
        if name in ("ship_replacement", "confirm_completion") and c.kind not in (
            "exchange",
            "repair",
        ):
            raise Refused("statechart")
        if (
            name == "escalate"
            and c.state in ("received", "reshipping")
            and c.kind not in ("exchange", "repair")
        ):
            raise Refused("statechart")
        if name == "confirm_receipt" and (by == "platform") != self.warehouse(c):
            raise Refused("KM-3: who receives the goods")
        if name == "approve":
            self.approve(c, at)
        elif name == "propose":
            kind, amount, offline = args["kind"], args["amount"], args["offline"]
            if offline and kind not in ("exchange", "repair"):
                raise Refused("KS-7")
            if (kind in ("exchange", "repair")) != (amount == 0):
                raise Refused("KM-6")
            if amount > c.order.amount - c.order.refunded:
                raise Refused("INV-cap")
            c.plan = (kind, amount, offline)
            self.enter(c, "proposed", at)
        elif name == "accept_proposal":
            assert c.plan is not None
            kind, amount, offline = c.plan
            if amount > c.order.amount - c.order.refunded:
                raise Refused("INV-cap")
            c.kind, c.amount, c.plan = kind, amount, None  # KM-7: as if approved
            if offline:
                self.enter(c, "closed", at)  # KS-7
            else:
                self.approve(c, at)
        elif name == "decline_proposal":
            c.plan = None
            self.enter(c, "requested", at)  # the review deadline starts again
        elif name == "reject":
            if r.must_support and c.kind in ("exchange", "repair"):
                raise Refused("KS-7")
            self.enter(c, "rejected", at)
        elif name == "ship_back":
            self.enter(c, "returning", at)
        elif name == "confirm_receipt":
            self.receive(c, at)
        elif name == "ship_replacement":
            self.enter(c, "reshipping", at)
        elif name == "confirm_completion":
            self.enter(c, "completed", at)
        elif name == "escalate":
            if c.ruled:
                raise Refused("KS-8: the ruling is final")
            if c.state == "rejected":
                if c.order.open not in (None, c.id):
                    raise Refused("INV-open")
                c.order.open = c.id
            c.source = c.state
            c.evidence_due = at + r.evidence
            self.enter(c, "disputed", at)
        elif name == "submit_evidence":
            if c.evidence_due is not None and at > c.evidence_due:
                raise Refused("evidence window")
        elif name == "rule":
            self.rule(c, at, **args)
        elif name == "withdraw":
            self.enter(c, "closed", at)

    def rule(
        self,
        c: MCase,
        at: datetime,
        in_favour_of: str,
        refund_amount: Decimal | None,
        seller_liable: bool | None,
    ) -> None:
        if in_favour_of == "seller":
            c.order.ruled.add(c.reason)
            self.enter(c, "closed", at)
            return
        amount = c.amount if refund_amount is None else refund_amount
        if amount <= 0 or amount > c.order.amount - c.order.refunded:
            raise Refused("ruling amount")
        c.ruled = True
        c.order.ruled.add(c.reason)
        if seller_liable is not False:
            self.deduct(c, "ruled_liable", amount)
        self.refund(c, amount, at)

    # -- deadlines
    def fire_due(self, now: datetime) -> list[tuple[str, str, datetime]]:
        fired: list[tuple[str, str, datetime]] = []
        while True:
            due = sorted(
                (d, c.id, n)
                for c in self.cases.values()
                for n, (d, _) in c.deadlines.items()
                if d <= now
            )
            if not due:
                return fired
            at, cid, name = due[0]
            self.fire(self.cases[cid], name, at)
            fired.append((cid, name, at))

    def fire(self, c: MCase, name: str, at: datetime) -> None:
        action = c.deadlines.pop(name)[1]
        if action == "scrap_goods":
            c.goods = "scrapped"
        elif action == "send_goods_back":  # KM-4: at the tariff, charged to the seller
            c.goods = "sent_back"
            tariff = RULESETS["kilimall"].settings.send_back_freight.value
            self.deduct(c, "send_back_freight", tariff)
        elif action == "auto_approve":  # KS-1, KS-4
            self.approve(c, at)
        elif action == "auto_arbitrate":  # KM-5: by the buyer's plan, with a deduction
            c.order.ruled.add(c.reason)
            c.ruled = True
            if self.rules(c).no_reply_deduction:
                self.deduct(c, "no_reply_arbitration", c.amount)
            c.evidence_due = at + self.rules(c).evidence
            self.approve(c, at)
        elif action == "auto_close":  # KS-5
            self.enter(c, "closed", at)
        elif action == "auto_receive":  # KS-6
            self.receive(c, at)
        elif action == "lapse_proposal":  # back to the seller's review
            c.plan = None
            self.enter(c, "requested", at)
        elif action == "auto_refund":  # not reshipped: the goods' price back
            self.refund(c, c.order.amount - c.order.refunded, at)
        elif action == "close_rejected":
            self.enter(c, "closed", at)
        elif action == "auto_rule":  # no ruling in time: the buyer's plan, where the goods are
            c.order.ruled.add(c.reason)
            c.ruled = True
            self.settle(c, at)
        else:  # auto_complete
            self.enter(c, "completed", at)

    def settle(self, c: MCase, at: datetime) -> None:
        if c.kind == "refund_only" or (c.kind == "return_refund" and c.source == "returning"):
            self.refund(c, c.amount, at)
        elif c.kind == "return_refund" or c.source not in ("returning", "received", "reshipping"):
            self.enter(c, "awaiting_return", at)
        elif c.source == "reshipping":
            self.enter(c, "reshipping", at)
        else:
            self.enter(c, "received", at)


# ------------------------------------------------------------------ machine
ORDERS = (
    # id, platform, tz hours, amount, shipped after, delivered after, gs
    ("K1", "kuaishou", 8, "120.00", timedelta(hours=20), timedelta(days=2), False),
    ("K2", "kuaishou", 8, "80.00", None, None, False),
    ("M1", "kilimall", 3, "5000.00", timedelta(days=1), timedelta(days=3), True),
    ("M2", "kilimall", 3, "3000.00", timedelta(days=1), None, True),
    ("M3", "kilimall", 3, "2000.00", timedelta(days=1), timedelta(days=2), False),
)
JUMPS = [timedelta(minutes=m) for m in (1, 30)] + [
    timedelta(hours=h) for h in (5, 24, 47, 48, 71, 72)
]
JUMPS += [timedelta(days=d) for d in (3, 7, 10, 11, 30, 91)]
STEP_MIX = ("act", "apply", "advance", "act", "poke", "act", "apply", "advance")
AGES = [timedelta(days=3), timedelta(hours=1), timedelta(days=5), timedelta(days=9)]
COMMANDS = (
    "approve", "propose", "accept_proposal", "decline_proposal", "reject", "ship_back",
    "confirm_receipt", "ship_replacement", "confirm_completion", "escalate", "submit_evidence",
    "rule", "withdraw", "request_goods_back",
)  # fmt: skip


def amount_choices(o: MOrder) -> st.SearchStrategy[Decimal | None]:
    """Half, small, None (all that is left), all, zero, and more than the order.

    Hypothesis favours the first choices, so the useful ones come first.
    """
    a = o.amount
    half = (a / 2).quantize(Decimal("0.01"))
    return st.sampled_from([half, Decimal("1.00"), None, a, Decimal("0.00"), a + 1])


class CaseMachine(RuleBasedStateMachine):
    """The application and the model, stepped together."""

    def __init__(self) -> None:
        super().__init__()
        self.app: AfterSales | None = None
        self.model = Model(express=False)
        self.now = T0
        self.n = 0

    @initialize(
        express=st.booleans(),
        start=st.sampled_from([timedelta(hours=1), timedelta(days=2, hours=2)]),
    )
    def open_store(self, express: bool, start: timedelta) -> None:
        settings = {"express_refund": True} if express else {}
        self.app = AfterSales("memory", rulesets=RULESETS, settings=settings)
        self.model = Model(express)
        STEPS["examples"] += 1
        for template in ORDERS:
            self.register_order(template[0], template, T0)
        self.now = T0 + start

    def register_order(self, oid: str, template: tuple[Any, ...], paid_utc: datetime) -> None:
        _, platform, tz, amount, shipped, delivered, gs = template
        paid = paid_utc.astimezone(timezone(timedelta(hours=tz)))  # each order in its own zone
        o = MOrder(oid, platform, Decimal(amount), paid,
                   paid + shipped if shipped else None,
                   paid + delivered if delivered else None, gs)  # fmt: skip
        self.model.orders[oid] = o
        assert self.app is not None
        self.app.register_order({
            "id": oid, "seller": f"S-{platform}", "buyer": "B1", "platform": platform,
            "amount": amount, "currency": "CNY" if platform == "kuaishou" else "KES",
            "paid_at": o.paid, "shipped_at": o.shipped, "delivered_at": o.delivered, "gs": gs,
        })  # fmt: skip

    @rule(data=st.data())
    def step(self, data: st.DataObject) -> None:
        """One step, by explicit weights (hypothesis would favour the cheapest rule):
        a likely command 3/8, an application 2/8, a clock jump 2/8, any command 1/8."""
        what = data.draw(
            st.sampled_from(
                ["act", "apply", "advance", "act", "poke", "act"] * 1 + ["apply", "advance"]
            )
        )
        if what == "act" and self.live():
            self.act(data)
        elif what == "poke" and self.model.cases:
            self.poke(data)
        elif what == "advance":
            self.advance(data)
        else:
            self.apply(data)

    def teardown(self) -> None:
        if self.app is not None:
            self.app.close()

    # -- steps
    def expect(self, send: Any, predict: Any, case_ids: list[str], touched: list[Any]) -> None:
        """Run the model's prediction and the engine's command; they must agree.

        ``touched``: the model objects (case, order) the command may change,
        restored if the model refuses it part-way.
        """
        assert self.app is not None
        STEPS["steps"] += 1
        STEPS["commands"] += 1
        before = self.app.notification_count()
        saved = [
            (o, {k: v.copy() if isinstance(v, dict) else v for k, v in vars(o).items()})
            for o in touched
        ]
        ledger, cases = len(self.model.ledger), set(self.model.cases)
        try:
            predict()
            expected = None
        except Refused as why:
            for o, fields in saved:
                vars(o).update(fields)
            del self.model.ledger[ledger:]
            for extra in set(self.model.cases) - cases:
                del self.model.cases[extra]
            expected = str(why)
        try:
            returned = send()
            got = None
        except CommandRefusedError as exc:
            got = str(exc)
        assert (expected is None) == (got is None), f"model: {expected!r}; engine: {got!r}"
        if got is not None:
            STEPS["refused"] += 1
            assert self.app.notification_count() == before, "a refused command wrote events"
            return  # nothing changed on either side since the last check
        self.check(case_ids, changed=True, returned=returned)

    def fits(self, o: MOrder, kind: str) -> bool:
        """A rough pre-filter so most applications have a chance (the model decides)."""
        if o.open is not None or o.refunded > 0 or kind not in RULES[o.platform].kinds:
            return False
        delivered = o.delivered is not None and o.delivered <= self.now
        if kind in GOODS_KINDS:
            return delivered and self.now - o.delivered <= timedelta(days=7)  # type: ignore[operator]
        return not delivered if kind == "cancel_undelivered" else True

    def apply(self, data: st.DataObject) -> None:
        """The buyer applies, mostly on an order that fits the kind (else a fresh one)."""
        kind = data.draw(st.sampled_from(APPLY_KINDS))
        orders = self.model.orders
        fit = sorted(o for o in orders if self.fits(orders[o], kind))
        if not fit:  # keep the buyers busy: a fresh order to apply on
            self.n += 1
            template = data.draw(st.sampled_from(ORDERS))
            oid = f"{template[0]}-{self.n}"
            self.register_order(oid, template, self.now - data.draw(st.sampled_from(AGES)))
            fit = [oid]
        anywhere = data.draw(st.integers(0, 4)) == 4
        o = orders[data.draw(st.sampled_from(sorted(orders) if anywhere else fit))]
        if kind in ("exchange", "repair"):
            amount = data.draw(st.sampled_from([None, Decimal("0.00"), Decimal("1.00")]))
        else:
            amount = data.draw(amount_choices(o))
        reason = data.draw(st.sampled_from(REASONS))
        self.n += 1
        cid, at = f"C{self.n}", self.now
        assert self.app is not None
        app = self.app
        self.expect(
            lambda: app.execute("apply", case=cid, order=o.id, at=at, kind=kind, reason=reason,
                                amount=None if amount is None else str(amount)),
            lambda: self.model.apply(cid, o, at, kind, amount, reason),
            [cid],
            [o],
        )  # fmt: skip

    def live(self) -> list[str]:
        """Cases a command can still move: not terminal, or with goods held."""
        cases = self.model.cases
        terminal = ("refunded", "completed", "closed")
        return sorted(
            c for c in cases if cases[c].state not in terminal or cases[c].goods == "held"
        )

    def act(self, data: st.DataObject) -> None:
        """A command the statechart has from a live case's state, by any actor."""
        c = self.model.cases[data.draw(st.sampled_from(self.live()))]
        likely = [n for n in COMMANDS if c.state in MAY.get(n, {})]
        likely += ["request_goods_back"] * (c.goods == "held")
        self.send(data, c, data.draw(st.sampled_from(likely or list(COMMANDS))))

    def poke(self, data: st.DataObject) -> None:
        """Any command on any case, however unlikely to be allowed."""
        c = self.model.cases[data.draw(st.sampled_from(sorted(self.model.cases)))]
        self.send(data, c, data.draw(st.sampled_from(COMMANDS)))

    def send(self, data: st.DataObject, c: MCase, name: str) -> None:
        cid = c.id
        args: dict[str, Any] = {}
        by = ACTOR.get(name, "buyer")
        if name == "confirm_receipt":
            by = data.draw(st.sampled_from(["seller", "platform"]))
            args["by"] = by
        if name in ("escalate", "submit_evidence"):
            by = data.draw(st.sampled_from(["buyer", "seller"]))
            args["by"] = by
        if name == "submit_evidence":
            args["note"] = "photos of the damage"
        if name == "reject":
            args |= {"reason": "the seal is broken", "buyer_contacted": True}
            if c.order.platform == "kuaishou":  # KS-3; Kilimall's one category is implied
                args["category"] = "other"
        if name in ("ship_back", "ship_replacement"):
            args |= {"carrier": "SF", "tracking_number": f"SF{self.n:06d}"}
        if name == "propose":
            args["kind"] = kind = data.draw(st.sampled_from(KINDS[:4]))
            if kind in ("exchange", "repair"):
                args["amount"] = data.draw(st.sampled_from([Decimal("0.00"), Decimal("1.00")]))
            else:
                args["amount"] = data.draw(amount_choices(c.order).filter(lambda a: a is not None))
            args["offline"] = data.draw(st.sampled_from([False, True]))
        if name == "rule":
            args["in_favour_of"] = data.draw(st.sampled_from(["buyer", "seller"]))
            over = c.order.amount - c.order.refunded + Decimal("0.01")  # just above INV-cap
            args["refund_amount"] = data.draw(st.one_of(st.just(over), amount_choices(c.order)))
            args["seller_liable"] = data.draw(st.sampled_from([None, True, False]))
        sent = {
            k: (str(v) if isinstance(v, Decimal) else v) for k, v in args.items() if v is not None
        }
        at = self.now
        model_args = {
            k: v
            for k, v in args.items()
            if k not in ("by", "note", "reason", "carrier", "tracking_number", "category")
            and k != "buyer_contacted"
        }
        assert self.app is not None
        app = self.app
        self.expect(
            lambda: app.execute(name, case=cid, at=at, **sent),
            lambda: self.model.command(name, c, at, by, **model_args),
            [cid],
            [c, c.order],
        )

    def advance(self, data: st.DataObject) -> None:
        """The clock moves; the sweep runs now (2/3), or later (commands meet due deadlines)."""
        jump = data.draw(st.sampled_from(JUMPS))
        sweep = data.draw(st.sampled_from([True, False, True]))
        assert self.app is not None
        STEPS["steps"] += 1
        self.now += jump
        if not sweep:
            return
        expected = self.model.fire_due(self.now)
        got = [(f.case_id, f.name, f.due) for f in self.app.fire_due(self.now)]
        assert sorted(got) == sorted(expected), f"fired: engine {got}, model {expected}"
        for cid in {c for c, _, _ in got}:  # each case's deadlines fire in due order
            dues = [due for c, _, due in got if c == cid]
            assert dues == sorted(dues), f"{cid} fired out of due order: {got}"
        # Across cases the engine may fire out of due order (a known engine bug,
        # see test_fire_due_keeps_due_order_across_cases): counted, not asserted.
        dues = [due for _, _, due in got]
        STEPS["out of due order"] += sum(a > b for a, b in itertools.pairwise(dues))
        STEPS["fired"] += len(got)
        self.check(sorted({cid for cid, _, _ in got}), changed=bool(got))

    # -- the checks after every step
    def check(self, case_ids: list[str], changed: bool, returned: Any = None) -> None:
        """Touched cases and their orders as the model has them; the ledger if
        anything was written. ``returned``: the case the command returned (as
        saved), which saves reading it again."""
        assert self.app is not None
        m = self.model
        for cid in case_ids:
            if cid not in m.cases:
                continue
            ec = returned if returned is not None and returned.case_id == cid else None
            mc, ec = m.cases[cid], ec or self.app.get_case(cid)
            want = (mc.state, mc.kind, mc.amount, mc.refunded, mc.goods)
            got = (ec.state, ec.kind, ec.amount, ec.refunded_total, ec.goods)
            assert got == want, f"{cid}: engine {got}, model {want}"
            pending = {(d.name, d.due) for d in ec.pending_deadlines}
            assert pending == {(n, d) for n, (d, _) in mc.deadlines.items()}, cid
            mo, eo = mc.order, self.app.get_order(mc.order.id)
            assert (eo.refunded_total, eo.open_case_id) == (mo.refunded, mo.open), mo.id
        for o in m.orders.values():
            assert o.refunded <= o.amount  # INV-cap
            assert sum(c.state in OPEN for c in m.cases.values() if c.order is o) <= 1  # INV-open
        if changed:
            ledger = sorted(
                (d["case_id"], d["reason"], d["amount"])
                for d in self.app.deductions()
                if d["amount"] > 0
            )
            assert ledger == sorted(m.ledger), f"ledger: engine {ledger}, model {sorted(m.ledger)}"


SETTINGS = settings(
    max_examples=1000 if LONG else 120,
    stateful_step_count=200 if LONG else 100,
    derandomize=not LONG,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def test_engine_agrees_with_the_model_at_every_step() -> None:
    run_state_machine_as_test(CaseMachine, settings=SETTINGS)
    print(
        f"\nstateful: {STEPS['examples']} examples, {STEPS['steps']} steps"
        f" ({STEPS['commands']} commands, {STEPS['refused']} refused by both,"
        f" {STEPS['fired']} deadlines fired), 0 disagreements; cross-case firings out of"
        f" due order: {STEPS['out of due order']}"
    )
    assert STEPS["steps"] >= 10_000


def test_fire_due_keeps_due_order_across_cases() -> None:
    """SPEC §3 "deadlines fire ... in due order": a KM-5 arbitration at +7d starts a
    7-day ship-back deadline (+14d) that must fire before another case's +15d one."""
    app = AfterSales("memory", rulesets=RULESETS)
    day = timedelta(days=1)
    for oid, platform, currency in (("K1", "kuaishou", "CNY"), ("M3", "kilimall", "KES"),
                                    ("K6", "kuaishou", "CNY")):  # fmt: skip
        app.register_order({
            "id": oid, "seller": "S", "buyer": "B", "platform": platform, "amount": "120.00",
            "currency": currency, "paid_at": T0, "shipped_at": T0 + day,
            "delivered_at": T0 + 2 * day,
        })  # fmt: skip
    common = {"kind": "return_refund", "amount": "60.00", "reason": "changed_mind"}
    app.execute("apply", case="C3", order="K1", at=T0 + 2 * day, **common)
    app.execute("approve", case="C3", at=T0 + 2 * day)
    app.execute("ship_back", case="C3", at=T0 + 3 * day, carrier="SF", tracking_number="1")
    app.execute("apply", case="C4", order="M3", at=T0 + 4 * day, **common)
    app.execute("apply", case="C6", order="K6", at=T0 + 4 * day, **common)
    app.execute("approve", case="C6", at=T0 + 5 * day)
    fired = [(f.case_id, f.due - T0) for f in app.fire_due(T0 + 16 * day)]
    app.close()
    assert fired == [("C4", 7 * day), ("C3", 13 * day), ("C4", 14 * day), ("C6", 15 * day)]
