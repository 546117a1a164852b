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
from eventsourcing.utils import register_topic

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


#: A stored event names its class by topic (``module:Class``), so topics are
#: part of the stored format. Classes keep the topic they were first stored
#: under, whatever module they live in now: old stores read, and new stores
#: write the same bytes.
STORED_MODULES = {
    "aftersales_es.domain.events": "aftersales_es.events",
    "aftersales_es.domain.case_event": "aftersales_es.events",
    "aftersales_es.domain.ledger_events": "aftersales_es.events",
    "aftersales_es.domain.message_events": "aftersales_es.events",
    "aftersales_es.domain.offer_events": "aftersales_es.events",
    "aftersales_es.domain.case": "aftersales_es.case",
    "aftersales_es.domain.order": "aftersales_es.order",
    "aftersales_es.domain.ruleset_record": "aftersales_es.application",
    "aftersales_es.app.idempotency": "aftersales_es.idempotency",
}


def pin_topic(cls: type) -> None:
    """Give ``cls`` its stored topic and register it for decoding."""
    module = STORED_MODULES.get(cls.__module__)
    if module is not None and "TOPIC" not in cls.__dict__:
        topic = f"{module}:{cls.__qualname__}"
        cls.TOPIC = topic  # type: ignore[attr-defined]
        register_topic(topic, cls)


class TimedEvent(AggregateEvent):
    """Base of every event: ``at`` (business time) is also the stored timestamp."""

    at: datetime

    @staticmethod
    def create_timestamp() -> datetime:
        # Replaced by ``at`` in __post_init__; never read the wall clock.
        return _EPOCH

    def __post_init__(self) -> None:
        object.__setattr__(self, "timestamp", self.at)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        pin_topic(cls)


class TimedCreated(TimedEvent, AggregateCreated):
    """Base of the events that create an aggregate."""


class TimedAggregate(Aggregate):
    """An aggregate whose events are all :class:`TimedEvent`."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        pin_topic(cls)

    def _record(self, event_class: type[TimedEvent], **fields: Any) -> None:
        self.trigger_event(event_class, **fields)
