"""The steps every decision shares and those that move money: the fields each
event carries, refunds, their allocation over lines, penalties and deductions.

:class:`~aftersales_es.domain.case_steps.Steps` builds on :class:`PaymentSteps`;
they are apart so each module holds one concern of recording a command.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from aftersales_es.domain import events as ev
from aftersales_es.domain.case_checks import check_cap
from aftersales_es.domain.case_view import Case
from aftersales_es.domain.deadlines import GOODS_DEADLINES, case_deadlines
from aftersales_es.domain.fees import allocate, return_fee
from aftersales_es.domain.money import zero
from aftersales_es.domain.order import Order
from aftersales_es.domain.rules import RuleSet


@dataclass(frozen=True, slots=True)
class Context:
    """What a decision needs besides the case: its order and its rule set."""

    order: Order
    rules: RuleSet


class PaymentSteps:
    """What :class:`~aftersales_es.domain.case_steps.Steps` records with: its
    ``case`` and ``ctx`` are the dataclass fields of that subclass."""

    __slots__ = ()

    case: Case
    ctx: Context

    def record(self, event_class: type[ev.CaseEvent], **fields: Any) -> None:
        self.case.trigger_event(event_class, **fields)

    def common(
        self,
        at: datetime,
        actor: str,
        state: str,
        *,
        kind: str | None = None,
        rule: str | None = None,
        auto: bool = False,
        keep: bool = False,
    ) -> dict[str, Any]:
        """Fields every event has, including the deadlines pending after it."""
        case = self.case
        goods = [d for d in case.deadlines if d["name"] in GOODS_DEADLINES]
        # Entering a state starts its deadline. An event that keeps the state is
        # either a step inside one command (the next event decides: none
        # pending) or, with ``keep``, a self-loop such as evidence in a dispute,
        # which leaves the running deadline as it was: the state still ends.
        entering = state != case.state
        own = [dict(d) for d in case.deadlines if d["name"] not in GOODS_DEADLINES] if keep else []
        flow = case_deadlines(state, kind or case.kind, at, self.ctx.rules) if entering else own
        return {
            "at": at,
            "actor": actor,
            "auto": auto or actor == "system",
            "rule": rule,
            "state": state,
            "deadlines": flow + goods,
        }

    def waive(self, at: datetime, deduction: dict[str, Any], note: str, *, rule: str) -> None:
        """KM-1: the reversing entry of a deduction, by the platform, with its reason."""
        case = self.case
        self.record(
            ev.DeductionWaived,
            at=at,
            actor="platform",
            auto=False,
            rule=rule,
            state=case.state,
            deadlines=[dict(d) for d in case.deadlines],
            seller_id=case.seller_id,
            reason=deduction["reason"],
            amount=deduction["amount"],
            currency=case.currency,
            deduction_version=deduction["version"],
            note=note,
        )

    def refund(
        self,
        at: datetime,
        amount: Decimal,
        *,
        actor: str,
        auto: bool,
        rule: str | None,
        returned: bool = False,
    ) -> None:
        """Refund what was asked (``amount``) less the buyer's return fee, if
        ``returned`` goods (only a return_refund case is refunded on their
        receipt) carry one; a line case's refund and fee are allocated over
        its lines."""
        case, order, settings = self.case, self.ctx.order, self.ctx.rules.settings
        check_cap(case, order, "refund", amount)
        fee = zero(case.currency)
        if returned:
            fee = return_fee(settings.return_fee.value, amount, case.currency, case.reason)
        refund = amount - fee
        extra: dict[str, Any] = {}
        if fee:
            extra["fee"] = fee
            extra["rule"] = rule or settings.return_fee.rule
        if case.lines:
            extra["lines"] = self.allocate(refund, fee)
        common = self.common(at, actor, "refunded", rule=rule, auto=auto)
        total = case.refunded_total + refund
        self.record(ev.Refunded, **{**common, **extra}, amount=refund, refunded_total=total)
        lines = list(extra.get("lines", ()))
        order.record_refund(case.case_id, refund, at, fee=fee, lines=lines)
        order.release(case.case_id, at)

    def allocate(self, refund: Decimal, fee: Decimal) -> tuple[dict[str, Any], ...]:
        """Refund, then fee, pro rata over the case's lines, within each line's cap."""
        case = self.case
        caps = self.ctx.order.line_caps(list(case.lines))
        refunds = allocate(refund, caps, case.currency)
        left = [c - r for c, r in zip(caps, refunds, strict=True)]
        fees = allocate(fee, left, case.currency)
        return tuple(
            {"line": p["line"], "quantity": p["quantity"], "amount": r, "fee": f}
            for p, r, f in zip(case.lines, refunds, fees, strict=True)
        )

    def penalise(
        self,
        at: datetime,
        reason: str,
        amount: Decimal,
        *,
        rule: str,
        actor: str = "system",
        auto: bool = True,
    ) -> None:
        """KM-5: a seller penalty for ``reason`` in money, points or both, as the
        rule set says; money only when there is an amount to charge."""
        case = self.case
        penalty = self.ctx.rules.penalty(reason)
        if penalty.money and amount > 0:
            self.deduct(at, reason, amount, rule=rule, actor=actor, auto=auto)
        if penalty.form != "money":
            self.record(
                ev.PointsDeducted,
                at=at,
                actor=actor,
                auto=auto,
                rule=penalty.rule if penalty.rule != "default" else rule,
                state=case.state,
                deadlines=[dict(d) for d in case.deadlines],
                seller_id=case.seller_id,
                reason=reason,
                points=penalty.points,
            )

    def deduct(
        self,
        at: datetime,
        reason: str,
        amount: Decimal,
        *,
        rule: str,
        actor: str = "system",
        auto: bool = True,
    ) -> None:
        """A deduction from the seller (KM-1, KM-3, KM-5, KS-8)."""
        case = self.case
        self.record(
            ev.DeductionRecorded,
            at=at,
            actor=actor,
            auto=auto,
            rule=rule,
            state=case.state,
            # A copy: the event must not share a list with the live aggregate.
            deadlines=[dict(d) for d in case.deadlines],
            seller_id=case.seller_id,
            reason=reason,
            amount=amount,
            currency=case.currency,
        )
