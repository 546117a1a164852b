"""The after-sales case aggregate: public methods decide, events record.

Each public method checks, in order: the time (not before the case's last
event, no deadline already due), the shared statechart (state, kind, actor),
the rule set and the invariants; then it records one or more events from
:mod:`aftersales_es.events`. Nothing here reads the clock or the store.
The checks and steps the decisions share live in :mod:`.case_steps`, the
checks on a new application in :mod:`.case_apply`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from aftersales_es.domain import events as ev
from aftersales_es.domain.base import case_uuid
from aftersales_es.domain.case_apply import GOODS_KINDS, check_application, express_refund_applies
from aftersales_es.domain.case_steps import CaseSteps, Context
from aftersales_es.domain.deadlines import GOODS_DEADLINE, Deadline, case_deadlines
from aftersales_es.domain.errors import (
    DeadlineNotPendingError,
    NotAllowedError,
    OpenCaseExistsError,
    TransitionNotAllowedError,
    WindowClosedError,
)
from aftersales_es.domain.statechart import OPEN, destination

__all__ = ["GOODS_KINDS", "REFUND_KINDS", "Case", "Context"]

REFUND_KINDS = frozenset({"refund_only", "return_refund", "cancel_undelivered"})


class Case(CaseSteps):
    """One after-sales case. Create it with :meth:`open`, never directly."""

    # Issue 7: class-level defaults, so snapshots taken before lines and fees
    # existed still load (a snapshot restores only the attributes it saved).
    lines: Sequence[dict[str, Any]] = ()
    fee_total: Decimal = Decimal(0)

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
        lines: tuple[dict[str, Any], ...] = (),
    ) -> None:
        self.case_id = case_id
        # A list: what a snapshot of it restores (JSON has no tuples).
        self.lines = [dict(part) for part in lines]
        self.fee_total = amount - amount
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
    def line_ids(self) -> list[str]:
        """The order lines this case covers (empty: the whole order; issue 7)."""
        return [part["line"] for part in self.lines]

    @property
    def is_open(self) -> bool:
        """Whether the case holds its order's single open slot."""
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
        lines: list[dict[str, Any]] | None = None,
    ) -> Case:
        """Apply for after-sales on ``ctx.order`` (the buyer's ``apply``).

        ``lines`` ([{line, quantity}], issue 7) names order lines and
        quantities; None or empty covers the whole order.
        """
        order, rules = ctx.order, ctx.rules
        parts = tuple({"line": p["line"], "quantity": int(p["quantity"])} for p in lines or ())
        amount = check_application(
            case_id, order, rules, at=at, kind=kind, amount=amount, lines=list(parts)
        )
        cap = rules.settings.max_applications_after_rejection  # issue 7: resubmission cap
        after = order.applications_after_rejection
        if cap.value is not None and order.rejected_case_ids and after >= cap.value:
            why = f"after a rejection the buyer may apply again at most {cap.value} time(s)"
            used = f"on order {order.order_id} ({after} used)"
            raise NotAllowedError(case_id, "new", "apply", cap.rule, f"{why} {used}")
        facts: dict[str, Any] = {
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
        if parts:  # an application without lines records exactly what it did before
            facts["lines"] = parts
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
        order.occupy(case_id, at, [p["line"] for p in parts])
        case._after_apply(ctx, at)
        return case

    def _after_apply(self, ctx: Context, at: datetime) -> None:
        """Rules that act on the application at once: KM-1 cancel, KS-9 express refund."""
        order, s = ctx.order, ctx.rules.settings
        if self.kind == "cancel_undelivered":
            rule = s.cancel_shipped_after.rule
            self._refund(ctx, at, self.amount, actor="system", auto=True, rule=rule)
            if order.shipped(at) and s.undelivered_loss_borne_by_seller.value:
                self._deduct(at, "undelivered_loss", self.amount, rule=rule)
        elif express_refund_applies(order, ctx.rules, at, self.kind):
            rule = s.express_refund.rule
            self._refund(ctx, at, self.amount, actor="system", auto=True, rule=rule)

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
            self._refuse(
                NotAllowedError,
                "propose",
                "KM-6",
                f"an exchange or repair plan ({kind}) refunds nothing",
            )
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
            self._refuse(
                NotAllowedError,
                "reject",
                must.rule,
                f"the merchant must support an exchange or repair ({self.kind})",
            )
        self._record(ev.Rejected, **self._common(at, "seller", "rejected", ctx), reason=reason)
        ctx.order.release(self.case_id, at)
        ctx.order.record_rejection(self.case_id, at)  # issue 7: resubmission cap

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
            blocked = ctx.order.blocking(self.line_ids, self.case_id)
            if blocked is not None:
                self._refuse(
                    OpenCaseExistsError,
                    "escalate",
                    blocked[0],
                    f"order {self.order_id} already has open case {blocked[1]}",
                )
            self._check_order_time("escalate", at, ctx.order)
            ctx.order.occupy(self.case_id, at, self.line_ids)
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
        self._check("rule", "platform", at, outcome=f"for_{in_favour_of}")
        # The rule set's dispute rule (KS-8, KM-8, or a user rule set's own id).
        rule_id = ctx.rules.settings.evidence_window.rule
        if in_favour_of == "buyer":
            amount = self.amount if refund_amount is None else refund_amount
            if amount <= 0:
                self._refuse(NotAllowedError, "rule", rule_id, "a ruling for the buyer refunds > 0")
            self._cap(ctx, "rule", amount)
            liable = True if seller_liable is None else seller_liable
            self._record(
                ev.Arbitrated,
                **self._common(at, "platform", self.state, ctx, rule=rule_id),
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
                **self._common(at, "platform", self.state, ctx, rule=rule_id),
                in_favour_of="seller",
                refund_amount=zero,
                seller_liable=False,
            )
            self._close(ctx, at, "ruled_for_seller", actor="platform", auto=False, rule=rule_id)

    def withdraw(self, ctx: Context, *, at: datetime) -> None:
        """The buyer withdraws the application."""
        self._check("withdraw", "buyer", at)
        self._record(ev.Withdrawn, **self._common(at, "buyer", self.state, ctx))
        self._close(ctx, at, "withdrawn", actor="buyer", auto=False, rule=None)

    def request_goods_back(self, ctx: Context, *, at: datetime) -> None:
        """The seller asks for warehouse-held goods back, paying the freight (KM-4).

        Accepted on a refunded case while the goods are held: the goods have a
        life of their own beside the case. Refused once their 90-day scrap
        deadline (or the case's own deadline) has fallen due: that fires first.
        """
        self._check_time("request_goods_back", at, goods=True)
        goods = self.goods or "none"
        if (
            destination("request_goods_back", goods, self.kind, "seller", machine_name="goods")
            is None
        ):
            self._refuse(
                TransitionNotAllowedError,
                "request_goods_back",
                ctx.rules.settings.goods_scrap_after.rule,
                f"no goods held at the warehouse (goods: {goods})",
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
        """Fire the pending deadline ``name`` due at ``due``, stamped with ``due``.

        Deadlines fire in due order: one with an earlier deadline still pending
        is not fired (it is not yet this one's turn).
        """
        pending = self.pending_deadlines
        match = [d for d in pending if d.name == name and d.due == due]
        if not match:
            raise DeadlineNotPendingError(
                f"case {self.case_id} (state {self.state}): no pending deadline {name} due {due}"
            )
        d = match[0]
        earlier = [x for x in pending if x.due < d.due]
        if earlier:
            raise DeadlineNotPendingError(
                f"case {self.case_id}: {earlier[0].name} due {earlier[0].due} fires before {name}"
            )
        at, rule = d.due, d.rule
        if d.action == "scrap_goods":
            rest = [x for x in self.deadlines if x["name"] != GOODS_DEADLINE]
            self._record(
                ev.GoodsScrapped,
                at=at,
                actor="system",
                auto=True,
                rule=rule,
                state=self.state,
                deadlines=rest,
            )
            return
        dest = destination(d.action, self.state, self.kind, "system")
        if dest is None:  # a rule file paired an action with the wrong kind
            raise DeadlineNotPendingError(f"case {self.case_id}: {d.action} not valid here")
        if d.action == "auto_approve":
            self._approve(ctx, at, dest, actor="system", auto=True, rule=rule)
        elif d.action == "auto_arbitrate":
            self._arbitrate_by_buyer_plan(ctx, at, dest, rule)
        elif d.action == "auto_close":
            self._close(ctx, at, "not_shipped_back", actor="system", auto=True, rule=rule)
        elif d.action == "auto_receive":
            self._receive(ctx, at, dest, actor="system", auto=True, rule=rule)
        else:
            self._complete(ctx, at, dest, actor="system", auto=True, rule=rule)
