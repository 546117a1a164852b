"""The order aggregate: the facts cases are checked against, and the
cross-case invariants (one open case, refunds within the order amount).

A case command that opens, releases or refunds saves the order's new events
in the same transaction as the case's, so a concurrent writer on the same
order gets a version conflict instead of breaking an invariant.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from .base import TimedAggregate, TimedCreated, TimedEvent, order_uuid


class Registered(TimedCreated):
    order_id: str
    seller_id: str
    buyer_id: str
    platform: str
    amount: Decimal
    currency: str
    paid_at: datetime
    shipped_at: datetime | None
    delivered_at: datetime | None
    gs: bool
    lines: list[dict[str, Any]]


class Shipped(TimedEvent):
    def apply(self, order: Order) -> None:
        order.shipped_at = self.at


class Delivered(TimedEvent):
    def apply(self, order: Order) -> None:
        order.delivered_at = self.at


class CaseFact(TimedEvent):
    """Base of the events a case's decision records on its order."""

    case_id: str

    def apply(self, order: Order) -> None:
        # Cases check new commands against this, so that the order's case
        # history stays in time order across its cases.
        order.last_case_at = max(order.last_case_at or self.at, self.at)
        self.record(order)

    def record(self, order: Order) -> None:
        """Assign this event's own fields."""


class CaseOpened(CaseFact):
    def record(self, order: Order) -> None:
        order.open_case_id = self.case_id
        if self.case_id not in order.case_ids:
            order.case_ids.append(self.case_id)


class CaseReleased(CaseFact):
    def record(self, order: Order) -> None:
        order.open_case_id = None


class RefundRecorded(CaseFact):
    amount: Decimal

    def record(self, order: Order) -> None:
        order.refunded_total += self.amount


class CaseRejected(TimedEvent):
    """A seller rejected a case on this order (counted for the resubmission cap; issue 7)."""

    case_id: str

    def apply(self, order: Order) -> None:
        order.rejected_case_ids = (*order.rejected_case_ids, self.case_id)


class Order(TimedAggregate):
    """An order that after-sales cases are applied on."""

    #: Cases on this order a seller rejected, in order (issue 7). A class-level
    #: default, so orders stored or snapshotted before it existed still load.
    rejected_case_ids: tuple[str, ...] = ()

    def __init__(
        self,
        order_id: str,
        seller_id: str,
        buyer_id: str,
        platform: str,
        amount: Decimal,
        currency: str,
        paid_at: datetime,
        shipped_at: datetime | None,
        delivered_at: datetime | None,
        gs: bool,
        lines: list[dict[str, Any]],
    ) -> None:
        self.order_id = order_id
        self.seller_id = seller_id
        self.buyer_id = buyer_id
        self.platform = platform
        self.amount = amount
        self.currency = currency
        self.paid_at = paid_at
        self.shipped_at = shipped_at
        self.delivered_at = delivered_at
        self.gs = gs
        self.lines = lines
        self.refunded_total = Decimal(0) * amount
        self.open_case_id: str | None = None
        self.case_ids: list[str] = []
        #: When a case last recorded something on this order (None: never).
        self.last_case_at: datetime | None = None

    @classmethod
    def register(cls, *, at: datetime, **facts: Any) -> Order:
        """Create an order from validated facts (see ``commands.RegisterOrder``)."""
        return cls._create(Registered, id=order_uuid(facts["order_id"]), at=at, **facts)

    @property
    def remaining(self) -> Decimal:
        """What may still be refunded on this order."""
        return self.amount - self.refunded_total

    def shipped(self, at: datetime) -> bool:
        """Whether the order had been shipped at ``at``."""
        return self.shipped_at is not None and self.shipped_at <= at

    def delivered(self, at: datetime) -> bool:
        """Whether the order had been delivered at ``at``."""
        return self.delivered_at is not None and self.delivered_at <= at

    def mark_shipped(self, at: datetime) -> None:
        self._record(Shipped, at=at)

    def mark_delivered(self, at: datetime) -> None:
        self._record(Delivered, at=at)

    # Called by a case's decisions, which have already checked the invariants.
    def occupy(self, case_id: str, at: datetime) -> None:
        self._record(CaseOpened, at=at, case_id=case_id)

    def release(self, case_id: str, at: datetime) -> None:
        if self.open_case_id == case_id:
            self._record(CaseReleased, at=at, case_id=case_id)

    def record_refund(self, case_id: str, amount: Decimal, at: datetime) -> None:
        self._record(RefundRecorded, at=at, case_id=case_id, amount=amount)

    # Resubmission cap (issue 7): what ``max_applications_after_rejection`` counts.
    def record_rejection(self, case_id: str, at: datetime) -> None:
        self._record(CaseRejected, at=at, case_id=case_id)

    @property
    def applications_after_rejection(self) -> int:
        """How many cases were applied for on this order after its first rejected one."""
        if not self.rejected_case_ids:
            return 0
        return len(self.case_ids) - 1 - self.case_ids.index(self.rejected_case_ids[0])


def new_id(order_id: str) -> UUID:
    return order_uuid(order_id)
