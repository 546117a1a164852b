"""Baselines: a bare eventsourcing aggregate, and raw sqlite3 rows.

``Ticket`` is what a team would hand-write instead of using the engine: one
aggregate, a status field, one event per command, no state machine, no rule
set, no order, no deadlines. ``RawLog`` inserts the row such an event
becomes straight into a table shaped like eventsourcing's ``stored_events``
(same WAL mode, autocommit connection with explicit ``BEGIN``/``COMMIT``),
one row per transaction: the store's own limit.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.application import Application
from eventsourcing.domain import Aggregate, event

NAMESPACE = uuid5(NAMESPACE_URL, "https://aftersales-es.invalid/bench")


def ticket_id(ref: str) -> UUID:
    return uuid5(NAMESPACE, ref)


class Ticket(Aggregate):
    """A hand-written after-sales ticket: a status column, event-sourced."""

    @staticmethod
    def create_id(ref: str) -> UUID:
        """Ids derive from the caller's reference, like the engine's case ids."""
        return ticket_id(ref)

    @event("Opened")
    def __init__(self, ref: str, kind: str, amount: Decimal, at: datetime) -> None:
        self.ref = ref
        self.kind = kind
        self.amount = amount
        self.status = "requested"
        self.updated_at = at

    @event("Moved")
    def move(self, status: str, actor: str, at: datetime) -> None:
        self.status = status
        self.actor = actor
        self.updated_at = at


class Tickets(Application[UUID]):
    """The bare application: get + one event + save per command."""

    name = "tickets"

    def __init__(self, env: Mapping[str, str]) -> None:
        super().__init__(env=dict(env))

    def open(self, ref: str, kind: str, amount: Decimal, at: datetime) -> None:
        self.save(Ticket(ref, kind, amount, at))

    def move(self, ref: str, status: str, actor: str, at: datetime) -> None:
        ticket: Ticket = self.repository.get(ticket_id(ref))
        ticket.move(status, actor, at)
        self.save(ticket)


class RawLog:
    """One ``stored_events``-shaped table written with plain sqlite3."""

    DDL = (
        "CREATE TABLE IF NOT EXISTS stored_events (originator_id TEXT, "
        "originator_version INTEGER, topic TEXT, state BLOB, "
        "PRIMARY KEY (originator_id, originator_version))"
    )

    def __init__(self, path: Path) -> None:
        self.conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute(self.DDL)
        self.versions: dict[str, int] = {}

    def append(self, ref: str, topic: str, payload: dict[str, Any]) -> None:
        """One event row, one transaction."""
        key = ticket_id(ref).hex
        version = self.versions.get(key, 0) + 1
        state = json.dumps(payload, separators=(",", ":"), default=str).encode()
        cur = self.conn.cursor()
        cur.execute("BEGIN")
        cur.execute("INSERT INTO stored_events VALUES (?,?,?,?)", (key, version, topic, state))
        self.conn.commit()
        self.versions[key] = version

    def close(self) -> None:
        self.conn.close()
