"""What the case and order aggregates share: business time on every event.

Every event carries ``at``, the instant it happened in business time (from the
command or the deadline's due instant). The store's own ``timestamp`` is set to
the same instant, so nothing here ever reads the clock and a replay anywhere
gives identical bytes.
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import lru_cache
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, AggregateCreated, AggregateEvent

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
NAMESPACE = uuid5(NAMESPACE_URL, "https://aftersales-es.invalid/ids")


@lru_cache(maxsize=65536)  # hashing the id costs more than a look-up
def case_uuid(case_id: str) -> UUID:
    """The store id of a case: stable, derived from the caller's case id."""
    return uuid5(NAMESPACE, f"case:{case_id}")


@lru_cache(maxsize=65536)
def order_uuid(order_id: str) -> UUID:
    """The store id of an order: stable, derived from the caller's order id."""
    return uuid5(NAMESPACE, f"order:{order_id}")


class TimedEvent(AggregateEvent):
    """Base of every event: ``at`` (business time) is also the stored timestamp."""

    at: datetime

    @staticmethod
    def create_timestamp() -> datetime:
        # Replaced by ``at`` in __post_init__; never read the wall clock.
        return _EPOCH

    def __post_init__(self) -> None:
        object.__setattr__(self, "timestamp", self.at)


class TimedCreated(TimedEvent, AggregateCreated):
    """Base of the events that create an aggregate."""


class TimedAggregate(Aggregate):
    """An aggregate whose events are all :class:`TimedEvent`."""

    def _record(self, event_class: type[TimedEvent], **fields: Any) -> None:
        self.trigger_event(event_class, **fields)
