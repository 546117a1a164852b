"""What the case's decisions share; private to :mod:`aftersales_es.case`.

:class:`CaseSteps` holds the checks every command makes (time, deadlines
already due, the statechart, the refund cap) and the steps several decisions
end in (approve, escalate, receive, complete, close, refund, deduct), each
recording its events. Only :class:`~aftersales_es.case.Case` derives from it;
it was split from ``case.py`` to keep each module short enough to read.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, NoReturn

from aftersales_es.domain import events as ev
from aftersales_es.domain.base import TimedAggregate
from aftersales_es.domain.deadlines import (
    GOODS_DEADLINE,
    Deadline,
    case_deadlines,
    goods_deadline,
    later,
    overdue,
)
from aftersales_es.domain.errors import (
    CommandRefusedError,
    DeadlineNotPendingError,
    RefundCapError,
    TransitionNotAllowedError,
    WindowClosedError,
)
from aftersales_es.domain.fees import allocate, return_fee
from aftersales_es.domain.money import fmt
from aftersales_es.domain.order import Order
from aftersales_es.domain.rules import RuleSet
from aftersales_es.domain.statechart import destination, triggers_from


@dataclass(frozen=True, slots=True)
class Context:
    """What a decision needs besides the case: its order and its rule set."""

    order: Order
    rules: RuleSet


class CaseSteps(TimedAggregate):
    """Checks and recording steps shared by the decisions of :class:`Case`."""

    if TYPE_CHECKING:  # set by Case.__init__ and the events; not dataclass fields
        case_id: str
        order_id: str
        seller_id: str
        kind: str
        amount: Decimal
        currency: str
        reason: str
        state: str
        deadlines: ev.Deadlines
        last_at: datetime
        refunded_total: Decimal
        lines: Sequence[dict[str, Any]]
        fee_total: Decimal

    @property
    def pending_deadlines(self) -> list[Deadline]:
        """Every pending deadline: the case's own one and any KM-4 goods deadline."""
        return [Deadline.from_dict(d) for d in self.deadlines]

    # ----------------------------------------------------------------- checks
    def _check_time(self, trigger: str, at: datetime, *, goods: bool = False) -> None:
        """Refuse a command dated before the case's history, or after a deadline fell due.

        ``goods``: also count the KM-4 goods deadline (commands on the goods).
        """
        if at < self.last_at:
            self._refuse(
                WindowClosedError,
                trigger,
                "time",
                f"at {at.isoformat()} is before the case's last event ({self.last_at.isoformat()})",
            )
        pending = self.pending_deadlines
        late = overdue(pending, at)
        if late is None and goods:
            late = next((d for d in pending if d.due <= at), None)
        if late is not None:
            self._refuse(
                WindowClosedError,
                trigger,
                late.rule,
                f"the {late.name} deadline fell due at {late.due.isoformat()} "
                f"({late.action} fires first)",
            )

    def _check_order_time(self, trigger: str, at: datetime, order: Order) -> None:
        """Refuse taking the order's open slot at an instant before its last case event."""
        if order.last_case_at is not None and at < order.last_case_at:
            self._refuse(
                WindowClosedError,
                trigger,
                "time",
                f"at {at.isoformat()} is before the last case event on order "
                f"{order.order_id} ({order.last_case_at.isoformat()})",
            )

    def _check(
        self,
        trigger: str,
        actor: str,
        at: datetime,
        *,
        plan: str | None = None,
        outcome: str | None = None,
    ) -> str:
        """Time, then the statechart: the destination state, or a refusal."""
        self._check_time(trigger, at)
        dest = destination(trigger, self.state, self.kind, actor, plan, outcome)
        if dest is None:
            allowed = ", ".join(triggers_from(self.state)) or "nothing"
            self._refuse(
                TransitionNotAllowedError,
                trigger,
                "statechart",
                f"not allowed for a {self.kind} case by the {actor} (from {self.state}: {allowed})",
            )
        return dest

    def _refuse(
        self, err: type[CommandRefusedError], command: str, rule: str, why: str
    ) -> NoReturn:
        raise err(self.case_id, self.state, command, rule, why)

    def _cap(self, ctx: Context, command: str, amount: Decimal) -> None:
        order = ctx.order
        if amount > order.remaining:
            self._refuse(
                RefundCapError,
                command,
                "INV-cap",
                f"{fmt(amount)} exceeds the {fmt(order.remaining)} {order.currency} "
                f"left to refund on order {order.order_id}",
            )
        if self.lines:  # issue 7: a line case refunds at most what its lines may
            cap = sum(order.line_caps(list(self.lines)), Decimal(0))
            if amount > cap:
                names = ", ".join(p["line"] for p in self.lines)
                self._refuse(
                    RefundCapError,
                    command,
                    "INV-line-cap",
                    f"{fmt(amount)} exceeds the {fmt(cap)} {order.currency} that line(s) "
                    f"{names} of order {order.order_id} may still refund",
                )

    def _deadline_rule(self, state: str, ctx: Context, default: str) -> str:
        d = ctx.rules.deadline_for(state, self.kind)
        return d.rule if d else default

    def _common(
        self,
        at: datetime,
        actor: str,
        state: str,
        ctx: Context,
        *,
        kind: str | None = None,
        rule: str | None = None,
        auto: bool = False,
    ) -> dict[str, Any]:
        """Fields every event has, including the deadlines pending after it."""
        goods = [d for d in self.deadlines if d["name"] == GOODS_DEADLINE]
        # Entering a state starts its deadline; an event that keeps the state is
        # either a step inside one command (the next event decides) or happens
        # where no deadline runs, so it leaves no case deadline pending.
        flow = (
            case_deadlines(state, kind or self.kind, at, ctx.rules) if state != self.state else []
        )
        return {
            "at": at,
            "actor": actor,
            "auto": auto or actor == "system",
            "rule": rule,
            "state": state,
            "deadlines": flow + goods,
        }

    # ------------------------------------------------------------------ steps
    def _approve(
        self, ctx: Context, at: datetime, dest: str, *, actor: str, auto: bool, rule: str | None
    ) -> None:
        if dest == "refunded":
            self._cap(ctx, "approve", self.amount)
        resting = self.state if dest == "refunded" else dest
        self._record(ev.Approved, **self._common(at, actor, resting, ctx, rule=rule, auto=auto))
        if dest == "refunded":
            self._refund(ctx, at, self.amount, actor=actor, auto=auto, rule=rule)

    def _escalate(
        self,
        ctx: Context,
        at: datetime,
        dest: str,
        *,
        by: str,
        actor: str,
        auto: bool,
        rule: str | None,
    ) -> None:
        due = later(at, ctx.rules.settings.evidence_window.value)
        self._record(
            ev.Escalated,
            **self._common(at, actor, dest, ctx, rule=rule, auto=auto),
            by=by,
            evidence_due=due,
        )

    def _arbitrate_by_buyer_plan(self, ctx: Context, at: datetime, dest: str, rule: str) -> None:
        """KM-5: a silent seller's case is arbitrated by the buyer's plan, with a deduction."""
        self._escalate(ctx, at, dest, by="system", actor="system", auto=True, rule=rule)
        self._record(
            ev.Arbitrated,
            **self._common(at, "system", dest, ctx, rule=rule),
            in_favour_of="buyer",
            refund_amount=self.amount,
            seller_liable=True,
        )
        if ctx.rules.settings.no_reply_deduction.value and self.amount > 0:
            self._deduct(at, "no_reply_arbitration", self.amount, rule=rule)
        plan = destination("enforce_plan", self.state, self.kind, "system")
        if plan is None:  # the table has a plan for every kind a rule set may arbitrate
            raise DeadlineNotPendingError(f"case {self.case_id}: no plan to enforce")
        self._approve(ctx, at, plan, actor="platform", auto=True, rule=rule)

    def _receive(
        self, ctx: Context, at: datetime, dest: str, *, actor: str, auto: bool, rule: str | None
    ) -> None:
        s, order = ctx.rules.settings, ctx.order
        warehouse = bool(
            s.warehouse_returns.value
            and order.gs
            and self.reason in s.warehouse_return_reasons.value
        )
        if dest == "refunded":
            self._cap(ctx, "confirm_receipt", self.amount)
        resting = self.state if dest == "refunded" else dest
        common = self._common(at, actor, resting, ctx, rule=rule, auto=auto)
        if warehouse:
            common["deadlines"] = [*common["deadlines"], goods_deadline(at, ctx.rules)]
        self._record(ev.Received, **common, to_warehouse=warehouse)
        if warehouse and s.return_processing_fee.value > 0:
            fee = s.return_processing_fee
            self._deduct(
                at, "return_processing_fee", fee.value.quantize(self.amount), rule=fee.rule
            )
        if dest == "refunded":
            # Issue 7: the buyer-side return fee applies to refunds of returned goods.
            self._refund(ctx, at, self.amount, actor=actor, auto=auto, rule=rule, returned=True)

    def _complete(
        self, ctx: Context, at: datetime, dest: str, *, actor: str, auto: bool, rule: str | None
    ) -> None:
        self._record(ev.Completed, **self._common(at, actor, dest, ctx, rule=rule, auto=auto))
        ctx.order.release(self.case_id, at)

    def _close(
        self, ctx: Context, at: datetime, reason: str, *, actor: str, auto: bool, rule: str | None
    ) -> None:
        self._record(
            ev.Closed, **self._common(at, actor, "closed", ctx, rule=rule, auto=auto), reason=reason
        )
        ctx.order.release(self.case_id, at)

    def _refund(
        self,
        ctx: Context,
        at: datetime,
        amount: Decimal,
        *,
        actor: str,
        auto: bool,
        rule: str | None,
        returned: bool = False,
    ) -> None:
        """Refund what was asked (``amount``) less the buyer's return fee, if
        ``returned`` goods of a return_refund case carry one (issue 7); a line
        case's refund and fee are allocated over its lines."""
        self._cap(ctx, "refund", amount)
        spec = ctx.rules.settings.return_fee.value
        fee = amount - amount
        if returned and self.kind == "return_refund":
            fee = return_fee(spec, amount, self.currency, self.reason)
        refund = amount - fee
        extra: dict[str, Any] = {}
        if fee:
            extra["fee"] = fee
            extra["rule"] = rule or ctx.rules.settings.return_fee.rule
        if self.lines:
            extra["lines"] = self._allocate(ctx.order, refund, fee)
        common = self._common(at, actor, "refunded", ctx, rule=rule, auto=auto)
        self._record(
            ev.Refunded,
            **{**common, **extra},
            amount=refund,
            refunded_total=self.refunded_total + refund,
        )
        ctx.order.record_refund(
            self.case_id, refund, at, fee=fee, lines=list(extra.get("lines", ()))
        )
        ctx.order.release(self.case_id, at)

    def _allocate(self, order: Order, refund: Decimal, fee: Decimal) -> tuple[dict[str, Any], ...]:
        """Refund, then fee, pro rata over the case's lines, within each line's cap."""
        caps = order.line_caps(list(self.lines))
        refunds = allocate(refund, caps, self.currency)
        fees = allocate(fee, [c - r for c, r in zip(caps, refunds, strict=True)], self.currency)
        return tuple(
            {"line": p["line"], "quantity": p["quantity"], "amount": r, "fee": f}
            for p, r, f in zip(self.lines, refunds, fees, strict=True)
        )

    def _deduct(
        self,
        at: datetime,
        reason: str,
        amount: Decimal,
        *,
        rule: str,
        actor: str = "system",
        auto: bool = True,
    ) -> None:
        self._record(
            ev.DeductionRecorded,
            at=at,
            actor=actor,
            auto=auto,
            rule=rule,
            state=self.state,
            # A copy: the event must not share a list with the live aggregate.
            deadlines=[dict(d) for d in self.deadlines],
            seller_id=self.seller_id,
            reason=reason,
            amount=amount,
            currency=self.currency,
        )
