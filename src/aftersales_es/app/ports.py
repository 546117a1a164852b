"""Ports: what the service layer needs from the layers above it.

The service decides and saves; it does not own the read models. Where it
needs one of their answers (which deadlines are due, which a worker may
claim), it asks through these Protocols, and the composition root
(:mod:`aftersales_es.engine`) plugs the read models in. A scenario plugs in
its in-memory index instead (:class:`aftersales_es.sim.clock.DueIndex`).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager
from datetime import datetime
from typing import Protocol

from aftersales_es.domain.payout import Answer, Instruction

#: A pending deadline as the index lists it: (case id, deadline name, due).
Row = tuple[str, str, datetime]


class DueDeadlines(Protocol):
    """Which deadlines are due: what :meth:`.CaseService.fire_due` sweeps."""

    def due(self, now: datetime, limit: int = 100) -> list[Row]:
        """Deadlines due at ``now``, earliest first (due instant, case id, name)."""
        ...


class DeadlineIndex(DueDeadlines, Protocol):
    """The shared deadline index, as workers in several processes use it."""

    def catch_up(self) -> int:
        """Bring the index up to date with the event log; how many events it read."""
        ...

    def claim(self, now: datetime, limit: int, lease: int) -> AbstractContextManager[list[Row]]:
        """Up to ``limit`` rows due at ``now``, held by this worker while the
        context is open (other workers skip them) and at most ``lease``
        seconds idle. Where the store cannot lock rows, the caller serialises
        workers itself and the rows are merely read."""
        ...


class BlobStore(Protocol):
    """Where attachment bytes live, by the sha256 of their content.

    The events hold only references; the store keeps each content once, so
    two cases attaching the same photo share it. Adapters:
    :mod:`aftersales_es.adapters.blobs` (a folder beside a SQLite store, a
    table in PostgreSQL, memory).
    """

    where: str

    def put(self, digest: str, data: bytes) -> bool:
        """Store ``data`` under ``digest`` (atomically); True if it was not there."""
        ...

    def get(self, digest: str) -> bytes | None:
        """The bytes stored under ``digest``, or None."""
        ...

    def has(self, digest: str) -> bool:
        """Whether ``digest`` is stored."""
        ...

    def delete(self, digest: str) -> None:
        """Remove ``digest`` (nothing if absent)."""
        ...

    def digests(self) -> Iterator[tuple[str, datetime]]:
        """Every stored digest with the instant it was written."""
        ...


class PayoutProvider(Protocol):
    """A payment provider refunds are paid through (adapters in
    :mod:`aftersales_es.adapters.providers`). ``send`` is called with the same
    instruction id (the idempotency key) however often an instruction is sent:
    the provider must pay it at most once. It answers, never raises for a
    refusal: timeouts and server errors are ``unavailable`` (tried again),
    refusals ``declined`` (not tried again)."""

    #: The name recorded on the payout's events.
    name: str
    #: Currencies it pays out (None: any).
    currencies: frozenset[str] | None

    def send(self, instruction: Instruction) -> Answer:
        """Hand the instruction over; its answer (see :class:`Answer`)."""
        ...


class PayoutQueue(Protocol):
    """Which payouts a worker may send now: the payout index."""

    def sendable(self, now: datetime, limit: int = 100) -> list[str]:
        """Ids of payouts pending and due, or sent and unanswered past their lease."""
        ...
