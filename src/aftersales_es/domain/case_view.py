"""The case as its events and its decisions' helpers see it, without the aggregate.

:mod:`.events`, :mod:`.case_checks` and the step modules name the case's
fields through :class:`Case`; the aggregate in :mod:`.case` imports them all,
so they cannot import it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any, Protocol

Deadlines = list[dict[str, Any]]


class Case(Protocol):
    """The case as its events and its decisions' helpers see it.

    :class:`aftersales_es.domain.case.Case` is the one implementation; this
    protocol lets the modules that serve it (events, checks, steps) name its
    fields without importing the aggregate, which imports them.
    """

    case_id: str
    order_id: str
    seller_id: str
    kind: str
    amount: Decimal
    currency: str
    reason: str
    state: str
    deadlines: Deadlines
    last_at: datetime
    lines: Sequence[dict[str, Any]]
    refunded_total: Decimal
    fee_total: Decimal
    deducted_total: Decimal
    proposal: dict[str, Any] | None
    rejection_reason: str | None
    waybill: dict[str, str] | None
    replacement_waybill: dict[str, str] | None
    goods: str | None
    escalated_by: str | None
    evidence_due: datetime | None
    evidence_count: int
    ruling: dict[str, Any] | None
    closed_reason: str | None
    escalated_from: str
    deductions_recorded: Sequence[dict[str, Any]]
    waived_versions: Sequence[int]
    points_total: int
    #: Every attachment reference on the case, with the version that brought it.
    attachments: Sequence[dict[str, Any]]
    #: The evidence items (``E1``, ...): submitted evidence and messages with files.
    evidence: Sequence[dict[str, Any]]
    messages: int
    #: KS-5: where the goods go back, as the approval (or ruling) recorded it.
    return_address: str
    #: A seller's partial-refund offer awaiting the buyer ({amount, reason}).
    offer: dict[str, Any] | None

    def trigger_event(self, event_class: Any, **kwargs: Any) -> None:
        """Record an event of ``event_class`` (eventsourcing's ``Aggregate`` method)."""
        ...
