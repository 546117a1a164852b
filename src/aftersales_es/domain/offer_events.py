"""The events of a seller's partial-refund offer on returned goods (KM-6, KM-7).

Part of :mod:`.events` (which re-exports them); their stored topics are
``aftersales_es.events:<ClassName>`` (see :data:`~.base.STORED_MODULES`).
"""

from __future__ import annotations

from decimal import Decimal

from aftersales_es.domain.case_event import CaseEvent
from aftersales_es.domain.case_view import Case


class PartialRefundProposed(CaseEvent):
    """Having inspected the returned goods, the seller offers ``amount`` for ``reason``."""

    amount: Decimal
    reason: str

    def record(self, case: Case) -> None:
        case.offer = {"amount": self.amount, "reason": self.reason}


class PartialRefundAccepted(CaseEvent):
    """The buyer consents to the offer: ``amount`` is refunded (the ``Refunded`` event)."""

    amount: Decimal

    def record(self, case: Case) -> None:
        case.offer = None
