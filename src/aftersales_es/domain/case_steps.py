"""The recording steps a case's decisions end in: approve, escalate, arbitrate,
receive, complete, close, refund, deduct.

:class:`Steps` is built by a decision of :class:`~aftersales_es.domain.case.Case`
for one command, once its checks have passed, and records that command's
events on the case (and the case's facts on its order) in order. Each event
is recorded at once, so the next step sees the state it left; the only
checks here are the refund cap, made before the event that pays. The steps
that move money (refund, penalise, deduct, waive) are in :mod:`.case_payments`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from aftersales_es.domain import events as ev
from aftersales_es.domain import freight
from aftersales_es.domain.case_apply import express_refund_applies
from aftersales_es.domain.case_checks import check_cap
from aftersales_es.domain.case_payments import Context
from aftersales_es.domain.case_view import Case
from aftersales_es.domain.deadlines import GOODS_DEADLINES, Deadline, goods_deadline, later
from aftersales_es.domain.errors import DeadlineNotPendingError
from aftersales_es.domain.money import quantum, zero
from aftersales_es.domain.outcome_steps import OutcomeSteps
from aftersales_es.domain.statechart import destination


@dataclass(frozen=True, slots=True)
class Steps(OutcomeSteps):
    """Records one command's events on ``case`` under ``ctx``."""

    case: Case
    ctx: Context

    def grant_at_once(self, at: datetime) -> None:
        """Rules that act on an application at once: KM-1 cancel, KS-9 express refund."""
        case, order, rules = self.case, self.ctx.order, self.ctx.rules
        s = rules.settings
        if destination("grant_cancel", case.state, case.kind, "system") is not None:
            rule = s.cancel_shipped_after.rule
            self.refund(at, case.amount, actor="system", auto=True, rule=rule)
            if order.shipped(at) and s.undelivered_loss_borne_by_seller.value:
                self.penalise(at, "undelivered_loss", case.amount, rule=rule)
        elif express_refund_applies(order, rules, at, case.kind):
            rule = s.express_refund.rule
            self.refund(at, case.amount, actor="system", auto=True, rule=rule)

    def fire_due(self, d: Deadline) -> None:
        """Fire the due deadline ``d``, stamped with its due instant."""
        if d.action == "scrap_goods":
            self.goods_leave(ev.GoodsScrapped, d.due, actor="system", rule=d.rule)
            return
        if d.action == "send_goods_back":
            freight.send_back(self, d.due, actor="system")
            return
        case = self.case
        outcome = self.settlement() if d.action == "auto_rule" else None
        dest = destination(d.action, case.state, case.kind, "system", outcome=outcome)
        if dest is None:  # a rule file paired an action with the wrong kind
            raise DeadlineNotPendingError(f"case {case.case_id}: {d.action} not valid here")
        self.fire(d.action, d.due, dest, d.rule)

    def fire(self, action: str, at: datetime, dest: str, rule: str) -> None:
        """What a deadline's ``action`` does when it fires at ``at`` (toward ``dest``)."""
        if action == "auto_approve":
            self.approve(at, dest, actor="system", auto=True, rule=rule)
        elif action == "auto_arbitrate":
            self.arbitrate_by_buyer_plan(at, dest, rule)
        elif action == "auto_close":
            self.close(at, "not_shipped_back", actor="system", auto=True, rule=rule)
        elif action == "auto_receive":
            self.receive(at, dest, actor="system", auto=True, rule=rule)
        elif action == "lapse_proposal":
            self.record(ev.ProposalLapsed, **self.common(at, "system", dest, rule=rule))
        elif action == "auto_refund":
            price = self.goods_price()
            self.refund(at, price, actor="system", auto=True, rule=rule)
        elif action == "close_rejected":
            self.close(at, "rejection_not_pursued", actor="system", auto=True, rule=rule)
        elif action == "auto_rule":
            self.settle(at, dest, rule)
        elif action == "auto_escalate":
            self.escalate(at, dest, by="system", actor="system", auto=True, rule=rule)
        else:
            self.complete(at, dest, actor="system", auto=True, rule=rule)

    def note(
        self, event_class: type[ev.CaseEvent], at: datetime, actor: str, state: str, **fields: Any
    ) -> None:
        """Record ``event_class`` by ``actor`` into ``state``, with its own ``fields``."""
        self.record(event_class, **self.common(at, actor, state), **fields)

    def accept(self, at: datetime, dest: str, kind: str, amount: Decimal) -> None:
        """The buyer consents to the proposal: its plan is in force (KM-7)."""
        resting = dest if dest == "awaiting_return" else self.case.state
        fields = self.common(at, "buyer", resting, kind=kind)
        where = self.return_address() if dest == "awaiting_return" else ""
        self.record(ev.ProposalAccepted, **fields, kind=kind, amount=amount, return_address=where)
        if dest == "refunded":
            self.refund(at, amount, actor="buyer", auto=False, rule=None)
        elif dest == "closed":
            self.close(at, "resolved_offline", actor="buyer", auto=False, rule="KS-7")

    def goods_price(self) -> Decimal:
        """What the goods of an exchange or repair case are worth: its lines' caps,
        or what is left on the order (the refund when no replacement comes)."""
        case, order = self.case, self.ctx.order
        if case.lines:
            return min(sum(order.line_caps(list(case.lines)), Decimal(0)), order.remaining)
        return order.remaining

    def settlement(self) -> str:
        """Where a dispute the platform did not rule on in time goes (the buyer's
        plan, from where the goods are): an outcome guard of ``auto_rule``."""
        case = self.case
        source = case.escalated_from
        if case.kind == "refund_only":
            return "to_refund"
        if case.kind == "return_refund":
            return "to_refund" if source in ("returning", "received") else "to_return"
        if source == "reshipping":
            return "to_replacement"
        if source in ("returning", "received"):
            return "to_receipt"
        return "to_return"

    def settle(self, at: datetime, dest: str, rule: str) -> None:
        """KS-8 and the rule set's ruling deadline: no ruling in time, so the
        buyer's plan is in force from where the goods are; nobody is found liable."""
        case = self.case
        amount = case.amount if dest == "refunded" else zero(case.currency)
        self.record(
            ev.Arbitrated,
            **self.common(at, "system", dest if dest != "refunded" else case.state, rule=rule),
            in_favour_of="buyer",
            refund_amount=amount,
            seller_liable=False,
            return_address=self.return_address() if dest == "awaiting_return" else "",
        )
        self.rule_on_order(at)
        if dest == "refunded":
            self.refund(
                at, amount, actor="system", auto=True, rule=rule, returned=bool(case.waybill)
            )

    def goods_leave(
        self, event_class: type[ev.CaseEvent], at: datetime, *, actor: str, rule: str | None
    ) -> None:
        """The goods leave the warehouse's hands: their deadline is no longer pending."""
        case = self.case
        rest = [d for d in case.deadlines if d["name"] not in GOODS_DEADLINES]
        auto = actor == "system"
        self.record(
            event_class, at=at, actor=actor, auto=auto, rule=rule, state=case.state, deadlines=rest
        )

    def approve(
        self,
        at: datetime,
        dest: str,
        *,
        actor: str,
        auto: bool,
        rule: str | None,
        address: str | None = None,
    ) -> None:
        """The application in force: a refund-only case is refunded at once; goods
        go back to ``address`` or the seller's registered one (KS-5)."""
        case = self.case
        if dest == "refunded":
            check_cap(case, self.ctx.order, "approve", case.amount)
        resting = case.state if dest == "refunded" else dest
        where = self.return_address(address) if dest == "awaiting_return" else ""
        fields = self.common(at, actor, resting, rule=rule, auto=auto)
        self.record(ev.Approved, **fields, return_address=where)
        if dest == "refunded":
            self.refund(at, case.amount, actor=actor, auto=auto, rule=rule)

    def escalate(
        self, at: datetime, dest: str, *, by: str, actor: str, auto: bool, rule: str | None
    ) -> None:
        """The platform intervenes; the parties' evidence is due within its window (KS-8)."""
        due = later(at, self.ctx.rules.settings.evidence_window.value)
        source = self.case.state
        fields = self.common(at, actor, dest, rule=rule, auto=auto)
        self.record(ev.Escalated, **fields, by=by, evidence_due=due, source=source)

    def to_warehouse(self) -> bool:
        """KM-3: whether this case's returned goods go to the overseas warehouse."""
        s, case = self.ctx.rules.settings, self.case
        reasons = [*s.warehouse_return_reasons.value, *s.warehouse_return_extra_reasons.value]
        return bool(s.warehouse_returns.value and self.ctx.order.gs and case.reason in reasons)

    def arbitrate_by_buyer_plan(self, at: datetime, dest: str, rule: str) -> None:
        """KM-5: a silent seller's case is arbitrated by the buyer's plan, with a deduction."""
        case = self.case
        self.escalate(at, dest, by="system", actor="system", auto=True, rule=rule)
        self.record(
            ev.Arbitrated,
            **self.common(at, "system", dest, rule=rule),
            in_favour_of="buyer",
            refund_amount=case.amount,
            seller_liable=True,
        )
        self.rule_on_order(at)
        if self.ctx.rules.settings.no_reply_deduction.value:
            self.penalise(at, "no_reply_arbitration", case.amount, rule=rule)
        plan = destination("enforce_plan", case.state, case.kind, "system")
        if plan is None:  # the table has a plan for every kind a rule set may arbitrate
            raise DeadlineNotPendingError(f"case {case.case_id}: no plan to enforce")
        self.approve(at, plan, actor="platform", auto=True, rule=rule)

    def receive(self, at: datetime, dest: str, *, actor: str, auto: bool, rule: str | None) -> None:
        """The goods are back: a return is refunded, a GS return may go to the warehouse."""
        case, s, order = self.case, self.ctx.rules.settings, self.ctx.order
        warehouse = self.to_warehouse()
        if dest == "refunded":
            check_cap(case, order, "confirm_receipt", case.amount)
        resting = case.state if dest == "refunded" else dest
        common = self.common(at, actor, resting, rule=rule, auto=auto)
        if warehouse:
            common["deadlines"] = [*common["deadlines"], goods_deadline(at, self.ctx.rules)]
        self.record(ev.Received, **common, to_warehouse=warehouse)
        fee = s.return_processing_fee
        if warehouse and fee.value > 0:
            charged = fee.value.quantize(quantum(case.currency))
            self.penalise(at, "return_processing_fee", charged, rule=fee.rule)
        if dest == "refunded":
            # The buyer-side return fee applies to refunds of returned goods,
            # not to one a ruling ordered (its amount is what the buyer gets).
            ordered = self.ordered_refund()
            self.refund(at, case.amount, actor=actor, auto=auto, rule=rule, returned=not ordered)
            if ordered:
                self.charge_ordered_refund(at)

    def complete(
        self, at: datetime, dest: str, *, actor: str, auto: bool, rule: str | None
    ) -> None:
        """The exchange or repair is done."""
        self.record(ev.Completed, **self.common(at, actor, dest, rule=rule, auto=auto))
        self.ctx.order.release(self.case.case_id, at)
