"""The case's ledger events: deductions, their waivers, points penalties.

Part of :mod:`.events` (which re-exports them); their stored topics stay
``aftersales_es.events:<ClassName>`` (see :data:`~.base.STORED_MODULES`).
"""

from __future__ import annotations

from decimal import Decimal

from aftersales_es.domain.case_event import CaseEvent
from aftersales_es.domain.case_view import Case


class DeductionRecorded(CaseEvent):
    seller_id: str
    reason: str
    amount: Decimal
    currency: str

    def record(self, case: Case) -> None:
        case.deducted_total += self.amount
        entry = {"version": self.originator_version, "reason": self.reason, "amount": self.amount}
        case.deductions_recorded = [*case.deductions_recorded, entry]


class DeductionWaived(CaseEvent):
    """The platform waives a recorded deduction (KM-1's exception).

    The deduction at ``deduction_version`` stays as it was; this is its
    reversing ledger entry, with the platform's ``note`` (why).
    """

    seller_id: str
    reason: str
    amount: Decimal
    currency: str
    deduction_version: int
    note: str

    def record(self, case: Case) -> None:
        case.deducted_total -= self.amount
        case.waived_versions = [*case.waived_versions, self.deduction_version]


class PointsDeducted(CaseEvent):
    """A points penalty on the seller for ``reason`` (KM-5's "deduction item")."""

    seller_id: str
    reason: str
    points: int

    def record(self, case: Case) -> None:
        case.points_total += self.points
