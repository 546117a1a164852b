"""The recording steps of richer outcomes: a ruling's remedy (KM-8), a seller's
partial-refund offer on returned goods (KM-6, KM-7) and where the goods go
back (KS-5).

:class:`~aftersales_es.domain.case_steps.Steps` builds on :class:`OutcomeSteps`,
as it does on the payment steps.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from aftersales_es.domain import events as ev
from aftersales_es.domain.case_payments import PaymentSteps
from aftersales_es.domain.money import zero
from aftersales_es.domain.rulings import Ruling


class OutcomeSteps(PaymentSteps):
    """Steps that rule, offer and address; ``case`` and ``ctx`` as in :class:`PaymentSteps`."""

    __slots__ = ()

    def return_address(self, given: str | None = None) -> str:
        """KS-5: where the goods go back: as given on approval, else the seller's
        return address registered with the order ("" when neither says)."""
        return (given or "").strip() or self.ctx.order.return_address

    def rule_on_order(self, at: datetime) -> None:
        """KS-8: the ruling is final for this case's lines and grounds (if the rule set says so)."""
        case = self.case
        if self.ctx.rules.settings.ruling_final.value:
            lines = [p["line"] for p in case.lines]
            self.ctx.order.record_ruling(case.case_id, at, lines, case.reason)

    def arbitrate(self, at: datetime, ruling: Ruling, *, rule: str, **why: Any) -> None:
        """The platform's ruling (KS-8, KM-8): a refund now, the case closed, or a
        remedy in force from where the goods are. A liable seller is charged
        what is refunded now; a refund ordered on the goods' receipt is
        charged when it is paid (:meth:`charge_ordered_refund`). ``why``: the
        evidence it considered and its reasoning."""
        case, dest = self.case, ruling.dest
        ends = dest in ("refunded", "closed")
        resting = case.state if ends else dest  # the remedy's state, with its deadline
        fields = self.common(at, "platform", resting, kind=ruling.kind or None, rule=rule)
        self.record(
            ev.Arbitrated,
            **fields,
            in_favour_of=ruling.in_favour_of,
            refund_amount=ruling.amount,
            seller_liable=ruling.liable,
            outcome=ruling.outcome,
            kind=ruling.kind,
            return_address=self.return_address() if dest == "awaiting_return" else "",
            **why,
        )
        self.rule_on_order(at)
        if ruling.liable:
            now = ruling.amount if dest == "refunded" else zero(case.currency)
            self.penalise(at, "ruled_liable", now, rule=rule, actor="platform", auto=False)
        if dest == "refunded":
            self.refund(at, ruling.amount, actor="platform", auto=False, rule=rule)
        elif dest == "closed":
            self.close(at, "ruled_for_seller", actor="platform", auto=False, rule=rule)

    def close(self, at: datetime, reason: str, *, actor: str, auto: bool, rule: str | None) -> None:
        """The case ends without a refund."""
        fields = self.common(at, actor, "closed", rule=rule, auto=auto)
        self.record(ev.Closed, **fields, reason=reason)
        self.ctx.order.release(self.case.case_id, at)

    def ordered_refund(self) -> bool:
        """Whether the case's refund is one a ruling ordered on the goods' receipt."""
        ruling = self.case.ruling
        return ruling is not None and ruling.get("outcome") == "return_then_refund"

    def charge_ordered_refund(self, at: datetime) -> None:
        """KM-8: a seller ruled liable for a return-then-refund is charged the
        refund when it is paid, by the ruling's rule (its points, if any, were
        recorded with the ruling)."""
        ruling, case = self.case.ruling, self.case
        if ruling is None or not ruling["seller_liable"]:
            return
        if self.ctx.rules.penalty("ruled_liable").money:
            rule = self.ctx.rules.settings.evidence_window.rule
            self.deduct(at, "ruled_liable", case.amount, rule=rule)

    def offer(self, at: datetime, dest: str, amount: Decimal, reason: str) -> None:
        """KM-6: the seller, having the goods back, offers a partial refund.

        The goods are received first (the buyer's answer deadline starts as the
        case enters ``received``), then the offer keeps that deadline running.
        """
        fields = self.common(at, "seller", dest)
        self.record(ev.Received, **fields, to_warehouse=False)
        kept = self.common(at, "seller", dest, keep=True)
        self.record(ev.PartialRefundProposed, **kept, amount=amount, reason=reason)

    def accept_offer(self, at: datetime) -> None:
        """KM-7: the buyer consents; the offered amount is refunded, no return fee
        kept from it (the offer is what the buyer gets)."""
        case = self.case
        assert case.offer is not None  # checked by the decision
        amount = case.offer["amount"]
        self.record(ev.PartialRefundAccepted, **self.common(at, "buyer", case.state), amount=amount)
        self.refund(at, amount, actor="buyer", auto=False, rule=None)
