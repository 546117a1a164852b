"""The case's decisions on richer outcomes: the platform's ruling and what it
orders (KS-8, KM-8, :mod:`.rulings`), and a seller's partial-refund offer on
returned goods with the buyer's consent (KM-6, KM-7).

A mixin of :class:`~aftersales_es.domain.case.Case`: each method decides
(statechart, rule set, caps) through the checks, then records through
:class:`~aftersales_es.domain.case_steps.Steps`, like the case's own methods.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal

from aftersales_es.domain import case_checks as checks
from aftersales_es.domain import outcome_checks as outcomes
from aftersales_es.domain import rulings
from aftersales_es.domain.case_payments import Context
from aftersales_es.domain.case_steps import Steps
from aftersales_es.domain.case_view import Case as CaseView
from aftersales_es.domain.evidence import check_considered


class CaseOutcomes:
    """The ruling and the partial-refund offer, as methods of the case."""

    def rule(
        self: CaseView,
        ctx: Context,
        *,
        at: datetime,
        in_favour_of: str,
        outcome: str | None = None,
        refund_amount: Decimal | None = None,
        seller_liable: bool | None = None,
        evidence: Sequence[str] = (),
        reasoning: str = "",
    ) -> None:
        """The platform rules; final (KS-8, KM-8). For the seller the case closes;
        for the buyer it orders an ``outcome`` (:mod:`.rulings`): a refund or a
        partial refund now, or the goods back for a refund, replacement or repair.
        It records the ``evidence`` items (``E1``, ...) it considered and its ``reasoning``."""
        checks.allowed(self, "rule", "platform", at, outcome=f"for_{in_favour_of}")
        # The rule set's dispute rule (KS-8, KM-8, or a user rule set's own id).
        rule_id = ctx.rules.settings.evidence_window.rule
        ruling = rulings.decide(
            self,
            ctx.order,
            in_favour_of=in_favour_of,
            outcome=outcome,
            refund_amount=refund_amount,
            seller_liable=seller_liable,
            rule=rule_id,
        )
        check_considered(self, list(evidence), rule_id)
        why = {"evidence": tuple(evidence), "reasoning": reasoning}
        Steps(self, ctx).arbitrate(at, ruling, rule=rule_id, **why)

    def propose_partial_refund(
        self: CaseView, ctx: Context, *, at: datetime, amount: Decimal, reason: str
    ) -> None:
        """Having received and inspected the returned goods, the seller offers a
        partial refund for ``reason`` (KM-6); it needs the buyer's consent (KM-7)."""
        dest = checks.allowed(self, "propose_partial_refund", "seller", at)
        steps = Steps(self, ctx)
        outcomes.check_offer(self, ctx.order, ctx.rules, amount, reason, steps.to_warehouse())
        steps.offer(at, dest, amount, reason.strip())

    def accept_partial_refund(self: CaseView, ctx: Context, *, at: datetime) -> None:
        """The buyer consents to the seller's offer: it is refunded (KM-7)."""
        checks.allowed(self, "accept_partial_refund", "buyer", at)
        outcomes.check_offered(self)
        Steps(self, ctx).accept_offer(at)
