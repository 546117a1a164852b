"""The after-sales case aggregate: public methods decide, events record.

Each public method checks, in order: the time (not before the case's last
event, no deadline already due), the shared statechart (state, kind, actor),
the rule set and the invariants; then it records one or more events from
:mod:`aftersales_es.events`. Nothing here reads the clock or the store.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from . import events as ev
from .base import TimedAggregate, case_uuid
from .deadlines import GOODS_DEADLINE, Deadline, case_deadlines, goods_deadline, overdue
from .errors import (
    CommandRefusedError,
    DeadlineNotPendingError,
    NotAllowedError,
    OpenCaseExistsError,
    RefundCapError,
    TransitionNotAllowedError,
    WindowClosedError,
)
from .money import fmt
from .order import Order
from .rules import RuleSet
from .statechart import OPEN, destination, triggers_from

REFUND_KINDS = frozenset({"refund_only", "return_refund", "cancel_undelivered"})
GOODS_KINDS = frozenset({"return_refund", "exchange", "repair"})


@dataclass(frozen=True, slots=True)
class Context:
    """What a decision needs besides the case: its order and its rule set."""

    order: Order
    rules: RuleSet


class Case(TimedAggregate):
    """One after-sales case. Create it with :meth:`open`, never directly."""

    def __init__(
        self,
        *,
        at: datetime,
        case_id: str,
        order_id: str,
        seller_id: str,
        buyer_id: str,
        platform: str,
        ruleset: dict[str, Any],
        kind: str,
        amount: Decimal,
        currency: str,
        reason: str,
        state: str,
        deadlines: ev.Deadlines,
        actor: str,
        auto: bool,
        rule: str | None,
    ) -> None:
        self.case_id = case_id
        self.order_id = order_id
        self.seller_id = seller_id
        self.buyer_id = buyer_id
        self.platform = platform
        self.ruleset = ruleset
        self.kind = kind
        self.applied_kind = kind
        self.amount = amount
        self.currency = currency
        self.reason = reason
        self.state = state
        self.deadlines = deadlines
        self.applied_at = at
        self.last_at = at
        self.refunded_total = amount - amount
        self.deducted_total = amount - amount
        self.proposal: dict[str, Any] | None = None
        self.rejection_reason: str | None = None
        self.waybill: dict[str, str] | None = None
        self.replacement_waybill: dict[str, str] | None = None
        self.goods: str | None = None
        self.escalated_by: str | None = None
        self.evidence_due: datetime | None = None
        self.evidence_count = 0
        self.ruling: dict[str, Any] | None = None
        self.closed_reason: str | None = None

    # ------------------------------------------------------------------ views
    @property
    def pending_deadline(self) -> Deadline | None:
        """The earliest pending deadline (what a UI shows as "auto-refund at ...")."""
        pending = self.pending_deadlines
        return min(pending, key=lambda d: d.due) if pending else None

    @property
    def pending_deadlines(self) -> list[Deadline]:
        return [Deadline.from_dict(d) for d in self.deadlines]

    @property
    def is_open(self) -> bool:
        return self.state in OPEN

    # ------------------------------------------------------------- decisions
    @classmethod
    def open(
        cls,
        case_id: str,
        ctx: Context,
        *,
        at: datetime,
        kind: str,
        amount: Decimal | None,
        reason: str,
    ) -> Case:
        """Apply for after-sales on ``ctx.order`` (the buyer's ``apply``)."""
        order, rules = ctx.order, ctx.rules

        def refuse(err: type[CommandRefusedError], rule: str, why: str) -> CommandRefusedError:
            return err(case_id, "new", "apply", rule, why)

        if kind not in rules.kinds:
            offered = ", ".join(rules.kinds)
            raise refuse(NotAllowedError, f"{rules.name}.kinds", f"{kind} not offered ({offered})")
        if at < order.paid_at:
            raise refuse(WindowClosedError, "order", f"applied before payment ({order.paid_at})")
        if order.open_case_id is not None:
            raise refuse(
                OpenCaseExistsError,
                "INV-open",
                f"order {order.order_id} already has open case {order.open_case_id}",
            )
        zero = Decimal(0).quantize(order.amount)
        if kind in ("exchange", "repair"):
            if amount not in (None, zero) and amount != 0:
                raise refuse(NotAllowedError, "apply", f"a {kind} asks for no refund (amount 0)")
            amount = zero
        elif amount is None:
            amount = order.remaining
        elif amount == 0:
            raise refuse(NotAllowedError, "apply", f"a {kind} case asks for an amount above 0")
        if amount > order.remaining:
            raise refuse(
                RefundCapError,
                "INV-cap",
                f"asks {fmt(amount)} but only {fmt(order.remaining)} {order.currency} of order "
                f"{order.order_id} is left to refund",
            )
        s = rules.settings
        if kind in GOODS_KINDS:
            validity = s.after_sales_validity
            if not order.delivered(at):
                raise refuse(NotAllowedError, validity.rule, "the goods have not been delivered")
            assert order.delivered_at is not None
            if at > order.delivered_at + validity.value:
                raise refuse(
                    WindowClosedError,
                    validity.rule,
                    f"after-sales validity ended {order.delivered_at + validity.value}",
                )
        if kind == "cancel_undelivered":
            if order.delivered(at):
                raise refuse(
                    NotAllowedError, s.cancel_shipped_after.rule, "the goods were received"
                )
            opens = order.paid_at + s.cancel_shipped_after.value
            if order.shipped(at) and at < opens:
                raise refuse(
                    WindowClosedError,
                    s.cancel_shipped_after.rule,
                    f"a shipped order may be cancelled only from {opens.isoformat()}",
                )
        facts = {
            "case_id": case_id,
            "order_id": order.order_id,
            "seller_id": order.seller_id,
            "buyer_id": order.buyer_id,
            "platform": rules.name,
            "kind": kind,
            "amount": amount,
            "currency": order.currency,
            "reason": reason,
        }
        ruleset = {"name": rules.name, "version": rules.version, "digest": rules.digest}
        case = cls._create(
            ev.Applied,
            id=case_uuid(case_id),
            at=at,
            actor="buyer",
            auto=False,
            rule=None,
            state="requested",
            deadlines=case_deadlines("requested", kind, at, rules),
            ruleset=ruleset,
            **facts,
        )
        order.occupy(case_id, at)
        case._after_apply(ctx, at)
        return case

    def _after_apply(self, ctx: Context, at: datetime) -> None:
        order, s = ctx.order, ctx.rules.settings
        if self.kind == "cancel_undelivered":
            rule = s.cancel_shipped_after.rule
            self._refund(ctx, at, self.amount, actor="system", auto=True, rule=rule)
            if order.shipped(at) and s.undelivered_loss_borne_by_seller.value:
                self._deduct(at, "undelivered_loss", self.amount, rule=rule)
        elif (
            self.kind == "refund_only"
            and s.express_refund.value
            and at - order.paid_at < s.express_refund_paid_within.value
            and order.currency == ctx.rules.currency
            and order.amount < s.express_refund_amount_below.value
            and not order.shipped(at)
        ):
            self._refund(
                ctx, at, self.amount, actor="system", auto=True, rule=s.express_refund.rule
            )

    def approve(self, ctx: Context, *, at: datetime) -> None:
        """The seller approves the application as asked (KS-2, KS-4)."""
        dest = self._check("approve", "seller", at)
        self._approve(ctx, at, dest, actor="seller", auto=False, rule=None)

    def propose(
        self, ctx: Context, *, at: datetime, kind: str, amount: Decimal, offline: bool = False
    ) -> None:
        """The seller proposes another plan (KM-6); it needs the buyer's consent (KM-7)."""
        self._check("propose", "seller", at)
        if kind not in ("refund_only", "return_refund", "exchange", "repair"):
            self._refuse(NotAllowedError, "propose", "KM-6", f"cannot propose a {kind} plan")
        if offline and kind not in ("exchange", "repair"):
            self._refuse(NotAllowedError, "propose", "KS-7", "only exchange/repair go offline")
        if kind in ("exchange", "repair") and amount != 0:
            self._refuse(NotAllowedError, "propose", "KM-6", f"a {kind} plan refunds nothing")
        if kind in REFUND_KINDS and amount <= 0:
            self._refuse(NotAllowedError, "propose", "KM-6", "a refund plan needs an amount > 0")
        self._cap(ctx, "propose", amount)
        self._record(
            ev.Proposed,
            **self._common(at, "seller", "proposed", ctx),
            kind=kind,
            amount=amount,
            offline=offline,
        )

    def accept_proposal(self, ctx: Context, *, at: datetime) -> None:
        """The buyer consents: the plan is in force as if the seller approved it (KM-7)."""
        plan = self.proposal
        if plan is None:
            self._refuse(TransitionNotAllowedError, "accept_proposal", "KM-7", "nothing proposed")
        assert plan is not None
        key = "offline" if plan["offline"] else plan["kind"]
        dest = self._check("accept_proposal", "buyer", at, plan=key)
        kind, amount = plan["kind"], plan["amount"]
        self._cap(ctx, "accept_proposal", amount)
        resting = dest if dest == "awaiting_return" else self.state
        self._record(
            ev.ProposalAccepted,
            **self._common(at, "buyer", resting, ctx, kind=kind),
            kind=kind,
            amount=amount,
        )
        if dest == "refunded":
            self._refund(ctx, at, amount, actor="buyer", auto=False, rule=None)
        elif dest == "closed":
            self._close(ctx, at, "resolved_offline", actor="buyer", auto=False, rule="KS-7")

    def decline_proposal(self, ctx: Context, *, at: datetime) -> None:
        """The buyer declines; the case is back with the seller, review deadline anew."""
        dest = self._check("decline_proposal", "buyer", at)
        self._record(ev.ProposalDeclined, **self._common(at, "buyer", dest, ctx))

    def reject(self, ctx: Context, *, at: datetime, reason: str) -> None:
        """The seller rejects, giving a reason (KS-3); the buyer may escalate or apply anew."""
        self._check("reject", "seller", at)
        if not reason.strip():
            self._refuse(NotAllowedError, "reject", "KS-3", "a rejection carries a reason")
        must = ctx.rules.settings.exchange_repair_must_be_supported
        if must.value and self.kind in ("exchange", "repair"):
            self._refuse(NotAllowedError, "reject", must.rule, f"a {self.kind} must be supported")
        self._record(ev.Rejected, **self._common(at, "seller", "rejected", ctx), reason=reason)
        ctx.order.release(self.case_id, at)

    def ship_back(self, ctx: Context, *, at: datetime, carrier: str, tracking_number: str) -> None:
        """The buyer ships the goods back and gives the waybill (KS-5)."""
        dest = self._check("ship_back", "buyer", at)
        if not carrier.strip() or not tracking_number.strip():
            rule = self._deadline_rule("awaiting_return", ctx, "KS-5")
            self._refuse(NotAllowedError, "ship_back", rule, "carrier and tracking number needed")
        self._record(
            ev.ShippedBack,
            **self._common(at, "buyer", dest, ctx),
            carrier=carrier,
            tracking_number=tracking_number,
        )

    def confirm_receipt(self, ctx: Context, *, at: datetime) -> None:
        """The seller confirms receipt; a return is refunded at once (KS-6)."""
        dest = self._check("confirm_receipt", "seller", at)
        self._receive(ctx, at, dest, actor="seller", auto=False, rule=None)

    def ship_replacement(
        self, ctx: Context, *, at: datetime, carrier: str, tracking_number: str
    ) -> None:
        """The seller sends the replacement or repaired item."""
        dest = self._check("ship_replacement", "seller", at)
        if not carrier.strip() or not tracking_number.strip():
            self._refuse(NotAllowedError, "ship_replacement", "KS-7", "carrier and tracking needed")
        self._record(
            ev.ReplacementShipped,
            **self._common(at, "seller", dest, ctx),
            carrier=carrier,
            tracking_number=tracking_number,
        )

    def confirm_completion(self, ctx: Context, *, at: datetime) -> None:
        """The buyer confirms the exchange or repair is done."""
        dest = self._check("confirm_completion", "buyer", at)
        self._complete(ctx, at, dest, actor="buyer", auto=False, rule=None)

    def escalate(self, ctx: Context, *, at: datetime, by: str = "buyer") -> None:
        """Either party asks the platform to intervene (KS-8, KM-6)."""
        dest = self._check("escalate", by, at)
        if self.state == "rejected":
            holder = ctx.order.open_case_id
            if holder is not None and holder != self.case_id:
                self._refuse(
                    OpenCaseExistsError,
                    "escalate",
                    "INV-open",
                    f"order {self.order_id} already has open case {holder}",
                )
            ctx.order.occupy(self.case_id, at)
        self._escalate(ctx, at, dest, by=by, actor=by, auto=False, rule=None)

    def submit_evidence(self, ctx: Context, *, at: datetime, by: str = "buyer", note: str) -> None:
        """A party submits evidence within the platform's time limit (KS-8)."""
        dest = self._check("submit_evidence", by, at)
        window = ctx.rules.settings.evidence_window
        if self.evidence_due is not None and at > self.evidence_due:
            self._refuse(
                WindowClosedError,
                "submit_evidence",
                window.rule,
                f"evidence was due by {self.evidence_due.isoformat()}",
            )
        if not note.strip():
            self._refuse(NotAllowedError, "submit_evidence", window.rule, "evidence needs a note")
        self._record(ev.EvidenceSubmitted, **self._common(at, by, dest, ctx), by=by, note=note)

    def rule(
        self,
        ctx: Context,
        *,
        at: datetime,
        in_favour_of: str,
        refund_amount: Decimal | None = None,
        seller_liable: bool | None = None,
    ) -> None:
        """The platform rules; final (KS-8, KM-8). For the buyer: refund; else close."""
        dest = self._check("rule", "platform", at, outcome=f"for_{in_favour_of}")
        rule_id = "KM-8" if ctx.rules.name == "kilimall" else "KS-8"
        if in_favour_of == "buyer":
            amount = self.amount if refund_amount is None else refund_amount
            if amount <= 0:
                self._refuse(NotAllowedError, "rule", rule_id, "a ruling for the buyer refunds > 0")
            self._cap(ctx, "rule", amount)
            liable = True if seller_liable is None else seller_liable
            self._record(
                ev.Arbitrated,
                **self._common(at, "platform", self.state, ctx),
                in_favour_of="buyer",
                refund_amount=amount,
                seller_liable=liable,
            )
            if liable:
                self._deduct(at, "ruled_liable", amount, rule=rule_id, actor="platform", auto=False)
            self._refund(ctx, at, amount, actor="platform", auto=False, rule=rule_id)
        else:
            zero = self.amount - self.amount
            self._record(
                ev.Arbitrated,
                **self._common(at, "platform", self.state, ctx),
                in_favour_of="seller",
                refund_amount=zero,
                seller_liable=False,
            )
            self._close(ctx, at, "ruled_for_seller", actor="platform", auto=False, rule=rule_id)
        assert dest in ("refunded", "closed")

    def withdraw(self, ctx: Context, *, at: datetime) -> None:
        """The buyer withdraws the application."""
        self._check("withdraw", "buyer", at)
        self._record(ev.Withdrawn, **self._common(at, "buyer", self.state, ctx))
        self._close(ctx, at, "withdrawn", actor="buyer", auto=False, rule=None)

    def request_goods_back(self, ctx: Context, *, at: datetime) -> None:
        """The seller asks for warehouse-held goods back, paying the freight (KM-4)."""
        rule = ctx.rules.settings.goods_scrap_after.rule
        goods = self.goods or "none"
        if (
            destination("request_goods_back", goods, self.kind, "seller", None, None, "goods")
            is None
        ):
            self._refuse(
                TransitionNotAllowedError,
                "request_goods_back",
                rule,
                f"no goods held at the warehouse (goods: {goods})",
            )
        for d in self.pending_deadlines:
            if d.name == GOODS_DEADLINE and d.due <= at:
                self._refuse(
                    WindowClosedError,
                    "request_goods_back",
                    rule,
                    f"the goods were due for scrapping at {d.due.isoformat()}",
                )
        if at < self.last_at:
            self._refuse(
                WindowClosedError,
                "request_goods_back",
                "time",
                f"at {at.isoformat()} is before the case's last event",
            )
        rest = [d for d in self.deadlines if d["name"] != GOODS_DEADLINE]
        self._record(
            ev.GoodsReturnToSellerRequested,
            at=at,
            actor="seller",
            auto=False,
            rule=None,
            state=self.state,
            deadlines=rest,
        )

    def fire(self, ctx: Context, *, name: str, due: datetime) -> None:
        """Fire the pending deadline ``name`` due at ``due``, stamped with ``due``."""
        match = [d for d in self.pending_deadlines if d.name == name and d.due == due]
        if not match:
            raise DeadlineNotPendingError(
                f"case {self.case_id} (state {self.state}): no pending deadline {name} due {due}"
            )
        d = match[0]
        at, rule, kw = d.due, d.rule, {"actor": "system", "auto": True, "rule": d.rule}
        if d.action == "scrap_goods":
            rest = [x for x in self.deadlines if x["name"] != GOODS_DEADLINE]
            self._record(ev.GoodsScrapped, at=at, state=self.state, deadlines=rest, **kw)
            return
        dest = destination(d.action, self.state, self.kind, "system")
        if dest is None:  # a rule file paired an action with the wrong kind
            raise DeadlineNotPendingError(f"case {self.case_id}: {d.action} not valid here")
        if d.action == "auto_approve":
            self._approve(ctx, at, dest, **kw)
        elif d.action == "auto_arbitrate":
            self._escalate(ctx, at, dest, by="system", **kw)
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
            assert plan is not None
            self._approve(ctx, at, plan, actor="platform", auto=True, rule=rule)
        elif d.action == "auto_close":
            self._close(ctx, at, "not_shipped_back", **kw)
        elif d.action == "auto_receive":
            self._receive(ctx, at, dest, **kw)
        else:
            self._complete(ctx, at, dest, **kw)

    # --------------------------------------------------------------- helpers
    def _check(
        self,
        trigger: str,
        actor: str,
        at: datetime,
        *,
        plan: str | None = None,
        outcome: str | None = None,
    ) -> str:
        if at < self.last_at:
            self._refuse(
                WindowClosedError,
                trigger,
                "time",
                f"at {at.isoformat()} is before the case's last event ({self.last_at.isoformat()})",
            )
        late = overdue(self.pending_deadlines, at)
        if late is not None:
            self._refuse(
                WindowClosedError,
                trigger,
                late.rule,
                f"the {late.name} deadline fell due at {late.due.isoformat()} "
                f"({late.action} fires first)",
            )
        dest = destination(trigger, self.state, self.kind, actor, plan, outcome)
        if dest is None:
            allowed = ", ".join(triggers_from(self.state)) or "nothing"
            self._refuse(
                TransitionNotAllowedError,
                trigger,
                "statechart",
                f"not allowed for a {self.kind} case by the {actor} (from {self.state}: {allowed})",
            )
        assert dest is not None
        return dest

    def _refuse(self, err: type[CommandRefusedError], command: str, rule: str, why: str) -> None:
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
        due = at + ctx.rules.settings.evidence_window.value
        self._record(
            ev.Escalated,
            **self._common(at, actor, dest, ctx, rule=rule, auto=auto),
            by=by,
            evidence_due=due,
        )

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
            self._refund(ctx, at, self.amount, actor=actor, auto=auto, rule=rule)

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
    ) -> None:
        self._cap(ctx, "refund", amount)
        self._record(
            ev.Refunded,
            **self._common(at, actor, "refunded", ctx, rule=rule, auto=auto),
            amount=amount,
            refunded_total=self.refunded_total + amount,
        )
        ctx.order.record_refund(self.case_id, amount, at)
        ctx.order.release(self.case_id, at)

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
            deadlines=self.deadlines,
            seller_id=self.seller_id,
            reason=reason,
            amount=amount,
            currency=self.currency,
        )
