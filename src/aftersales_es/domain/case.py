"""The after-sales case aggregate: public methods decide, events record.

Each public method decides first: the time (not before the case's last
event, no deadline already due) and the shared statechart (state, kind,
actor) through :mod:`.case_checks`, then the rule set and the invariants.
Then it records, through :class:`~.case_steps.Steps`, one or more events
from :mod:`.events`, which only assign fields. The checks on a new
application are in :mod:`.case_apply`. Nothing here reads the clock or the
store.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from aftersales_es.domain import case_checks as checks
from aftersales_es.domain import events as ev
from aftersales_es.domain import freight as freight_rules
from aftersales_es.domain import outcome_checks as outcomes
from aftersales_es.domain.base import TimedAggregate, case_uuid
from aftersales_es.domain.case_apply import application, check_resubmission
from aftersales_es.domain.case_outcomes import CaseOutcomes
from aftersales_es.domain.case_payments import Context
from aftersales_es.domain.case_steps import Steps
from aftersales_es.domain.case_view import Deadlines
from aftersales_es.domain.conversation import Conversation
from aftersales_es.domain.deadlines import Deadline
from aftersales_es.domain.evidence import check_application_evidence, check_files
from aftersales_es.domain.money import zero

__all__ = ["Case", "Context"]


class Case(CaseOutcomes, Conversation, TimedAggregate):
    """One after-sales case. Create it with :meth:`open`, never directly."""

    # Class-level defaults, so snapshots taken before lines and fees existed
    # still load (a snapshot restores only the attributes it saved).
    lines: Sequence[dict[str, Any]] = ()
    fee_total: Decimal = Decimal(0)
    escalated_from: str = ""
    deductions_recorded: Sequence[dict[str, Any]] = ()
    waived_versions: Sequence[int] = ()
    points_total: int = 0
    return_address: str = ""
    offer: dict[str, Any] | None = None

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
        deadlines: Deadlines,
        actor: str,
        auto: bool,
        rule: str | None,
        lines: tuple[dict[str, Any], ...] = (),
    ) -> None:
        self.case_id = case_id
        # A list: what a snapshot of it restores (JSON has no tuples).
        self.lines = [dict(part) for part in lines]
        self.fee_total = zero(currency)
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
        self.refunded_total = zero(currency)
        self.deducted_total = zero(currency)
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
    def pending_deadlines(self) -> list[Deadline]:
        """Every pending deadline: the case's own one and any KM-4 goods deadline."""
        return checks.pending(self)

    @property
    def pending_deadline(self) -> Deadline | None:
        """The earliest pending deadline (what a UI shows as "auto-refund at ...")."""
        found = self.pending_deadlines
        return min(found, key=lambda d: d.due) if found else None

    @property
    def line_ids(self) -> list[str]:
        """The order lines this case covers (empty: the whole order)."""
        return [part["line"] for part in self.lines]

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
        attachments: Sequence[dict[str, Any]] = (),
        note: str = "",
    ) -> Case:
        """Apply for after-sales on ``ctx.order`` (the buyer's ``apply``).

        ``lines`` ([{line, quantity}]) names order lines and quantities;
        None or empty covers the whole order. ``note`` and ``attachments``
        (the buyer's description and photos) follow as the buyer's message.
        """
        order, rules = ctx.order, ctx.rules
        fields = application(
            case_id, order, rules, at=at, kind=kind, amount=amount, lines=lines, reason=reason
        )
        check_resubmission(case_id, order, rules)
        check_files(case_id, "new", "apply", rules, attachments)
        check_application_evidence(case_id, rules, reason, attachments)
        case = cls._create(ev.Applied, id=case_uuid(case_id), at=at, reason=reason, **fields)
        order.occupy(case_id, at, case.line_ids)
        if note.strip() or attachments:
            case.post_message(ctx, at=at, by="buyer", text=note, attachments=attachments)
        Steps(case, ctx).grant_at_once(at)
        return case

    def approve(self, ctx: Context, *, at: datetime, return_address: str | None = None) -> None:
        """The seller approves the application as asked (KS-2, KS-4); goods go
        back to ``return_address``, else the seller's registered one (KS-5)."""
        dest = checks.allowed(self, "approve", "seller", at)
        outcomes.check_approval_address(self, dest, return_address)
        steps = Steps(self, ctx)
        steps.approve(at, dest, actor="seller", auto=False, rule=None, address=return_address)

    def propose(
        self, ctx: Context, *, at: datetime, kind: str, amount: Decimal, offline: bool = False
    ) -> None:
        """The seller proposes another plan (KM-6); it needs the buyer's consent (KM-7)."""
        checks.allowed(self, "propose", "seller", at)
        checks.check_plan(self, kind, amount, offline)
        checks.check_cap(self, ctx.order, "propose", amount)
        fields = {"kind": kind, "amount": amount, "offline": offline}
        Steps(self, ctx).note(ev.Proposed, at, "seller", "proposed", **fields)

    def accept_proposal(self, ctx: Context, *, at: datetime) -> None:
        """The buyer consents: the plan is in force as if the seller approved it (KM-7)."""
        plan = checks.check_proposal(self)
        key = "offline" if plan["offline"] else plan["kind"]
        dest = checks.allowed(self, "accept_proposal", "buyer", at, plan=key)
        kind, amount = plan["kind"], plan["amount"]
        checks.check_cap(self, ctx.order, "accept_proposal", amount)
        Steps(self, ctx).accept(at, dest, kind, amount)

    def decline_proposal(self, ctx: Context, *, at: datetime) -> None:
        """The buyer declines; the case is back with the seller, review deadline anew."""
        dest = checks.allowed(self, "decline_proposal", "buyer", at)
        Steps(self, ctx).note(ev.ProposalDeclined, at, "buyer", dest)

    def reject(
        self,
        ctx: Context,
        *,
        at: datetime,
        reason: str,
        category: str | None = None,
        buyer_contacted: bool = False,
    ) -> None:
        """The seller rejects, giving a reason and its category, having talked to
        the buyer (KS-3; KM-6's ``malicious_return``); the buyer may escalate or apply anew."""
        checks.allowed(self, "reject", "seller", at)
        category = checks.check_rejection(self, ctx.rules, reason, category, buyer_contacted)
        fields = {"reason": reason, "category": category, "buyer_contacted": buyer_contacted}
        Steps(self, ctx).note(ev.Rejected, at, "seller", "rejected", **fields)
        ctx.order.release(self.case_id, at)
        ctx.order.record_rejection(self.case_id, at)

    def ship_back(
        self,
        ctx: Context,
        *,
        at: datetime,
        carrier: str,
        tracking_number: str,
        return_address: str | None = None,
        freight: Decimal | None = None,
        freight_insured: bool = False,
    ) -> None:
        """The buyer ships the goods back, to the approved return address, and
        gives the waybill (KS-5); with ``freight``, the return shipping paid,
        borne as the reason and the rule set say (the seller's share joins the
        ledger as ``return_freight``)."""
        dest = checks.allowed(self, "ship_back", "buyer", at)
        d = ctx.rules.deadline_for("awaiting_return", self.kind)
        checks.check_waybill(self, "ship_back", d.rule if d else "KS-5", carrier, tracking_number)
        to = outcomes.check_return_address(self, return_address, "KS-5")
        steps = Steps(self, ctx)
        paid, rule = freight_rules.ship_back_fields(steps, freight, freight_insured)
        waybill = {"carrier": carrier, "tracking_number": tracking_number, **paid}
        steps.note(ev.ShippedBack, at, "buyer", dest, **waybill, return_address=to)
        freight_rules.charge_return_freight(steps, at, paid, rule)

    def confirm_receipt(self, ctx: Context, *, at: datetime, by: str = "seller") -> None:
        """The goods' receiver confirms receipt; a return is refunded at once (KS-6).

        KM-3: goods bound for the overseas warehouse are received by the
        platform's warehouse, any other return by the seller.
        """
        dest = checks.allowed(self, "confirm_receipt", by, at)
        steps = Steps(self, ctx)
        checks.check_receiver(
            self, by, steps.to_warehouse(), ctx.rules.settings.warehouse_returns.rule
        )
        steps.receive(at, dest, actor=by, auto=False, rule=None)

    def ship_replacement(
        self, ctx: Context, *, at: datetime, carrier: str, tracking_number: str
    ) -> None:
        """The seller sends the replacement or repaired item."""
        dest = checks.allowed(self, "ship_replacement", "seller", at)
        checks.check_waybill(self, "ship_replacement", "KS-7", carrier, tracking_number)
        waybill = {"carrier": carrier, "tracking_number": tracking_number}
        Steps(self, ctx).note(ev.ReplacementShipped, at, "seller", dest, **waybill)

    def confirm_completion(self, ctx: Context, *, at: datetime) -> None:
        """The buyer confirms the exchange or repair is done."""
        dest = checks.allowed(self, "confirm_completion", "buyer", at)
        Steps(self, ctx).complete(at, dest, actor="buyer", auto=False, rule=None)

    def escalate(self, ctx: Context, *, at: datetime, by: str = "buyer") -> None:
        """Either party asks the platform to intervene (KS-8, KM-6)."""
        dest = checks.allowed(self, "escalate", by, at)
        outcomes.check_not_ruled(self, ctx.rules, "escalate")
        if self.state == "rejected":  # the rejection gave up the order's slot: take it back
            checks.check_slot(self, "escalate", at, ctx.order)
            ctx.order.occupy(self.case_id, at, self.line_ids)
        Steps(self, ctx).escalate(at, dest, by=by, actor=by, auto=False, rule=None)

    def waive_deduction(self, ctx: Context, *, at: datetime, deduction: str, note: str) -> None:
        """The platform finds a deduction's cause was not the seller's (KM-1).

        The deduction stays recorded; a reversing entry (``DeductionWaived``)
        with the platform's reason joins the ledger. Only reasons the rule set
        makes waivable, each deduction at most once.
        """
        rule = ctx.rules.settings.waivable_deductions
        checks.check_time(self, "waive_deduction", at, goods=False)
        found = checks.check_waiver(self, rule.value, rule.rule, deduction, note)
        Steps(self, ctx).waive(at, found, note, rule=rule.rule)

    def withdraw(self, ctx: Context, *, at: datetime) -> None:
        """The buyer withdraws the application."""
        checks.allowed(self, "withdraw", "buyer", at)
        steps = Steps(self, ctx)
        steps.record(ev.Withdrawn, **steps.common(at, "buyer", self.state))
        steps.close(at, "withdrawn", actor="buyer", auto=False, rule=None)

    def request_goods_back(self, ctx: Context, *, at: datetime) -> None:
        """The seller asks for warehouse-held goods back, paying the freight (KM-4).

        Accepted on a refunded case while the goods are held: the goods have a
        life of their own beside the case. Refused once their 90-day scrap
        deadline (or the case's own deadline) has fallen due: that fires first.
        """
        checks.check_time(self, "request_goods_back", at, goods=True)
        checks.check_goods_held(self, ctx.rules.settings.goods_scrap_after.rule)
        freight_rules.request_back(Steps(self, ctx), at)

    def send_goods_back(
        self,
        ctx: Context,
        *,
        at: datetime,
        carrier: str = "",
        tracking_number: str = "",
        freight: Decimal | None = None,
    ) -> None:
        """The warehouse (platform) sends goods asked back to the seller, who
        bears the ``freight`` (KM-4; the rule set's tariff when not given)."""
        rule = ctx.rules.settings.goods_scrap_after.rule
        checks.check_time(self, "send_goods_back", at, goods=True)
        checks.check_goods_held(self, rule, "send_goods_back", "platform")
        freight_rules.send_back(
            Steps(self, ctx),
            at,
            actor="platform",
            carrier=carrier,
            tracking_number=tracking_number,
            freight=freight,
        )

    def fire(self, ctx: Context, *, name: str, due: datetime) -> None:
        """Fire the pending deadline ``name`` due at ``due``, stamped with ``due``.

        Deadlines fire in due order: one with an earlier deadline still pending
        is not fired (it is not yet this one's turn).
        """
        Steps(self, ctx).fire_due(checks.due_deadline(self, name, due))
