"""The event store's recorders: eventsourcing's, plus a hash chain written with every event.

Each stored event of every aggregate (cases, orders, rule-set records,
idempotency records, and any aggregate added later) gets a digest row in
:data:`DIGESTS`, inserted **in the same transaction** as the event::

    digest_n = sha256(digest_{n-1} | aggregate uuid | n | topic | stored bytes)

``digest_0`` is :data:`GENESIS`; the stored bytes are the ``state`` column
exactly as written (after compression and encryption, when configured). The
recorder never reads the store to compute a digest: the application passes
each aggregate's previous digest with the save (``chain={id: digest}``), and a
save of version ``n > 1`` without it is refused. The recorders are registered
through eventsourcing's ``APPLICATION_RECORDER_TOPIC`` (see
``Stored.construct_factory``).

On SQLite the insert transaction also validates a command's read set
(``reads={id: version}``): the events go in first, which takes the write
lock, so no other writer can slip in between the check and the commit. It
also writes the views of the cases saved (``views=[ViewRow]``, see
:mod:`.caseviews`), so a view is never ahead of or behind its events.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from typing import Any
from uuid import UUID

from eventsourcing.persistence import ProgrammingError, RecordConflictError, StoredEvent
from eventsourcing.sqlite import SQLiteApplicationRecorder, SQLiteCursor, SQLiteDatastore

from aftersales_es.adapters import caseviews

#: One row per stored event: (originator_id, originator_version, digest).
DIGESTS = "aftersales_digests"
#: Facts about the chain itself (where a migration began it, for one).
CHAIN_META = "aftersales_chain_meta"
GENESIS = hashlib.sha256(b"aftersales-chain-v1").hexdigest()
SQLITE_TOPIC = "aftersales_es.adapters.recorders:ChainedSQLiteRecorder"
POSTGRES_TOPIC = "aftersales_es.adapters.pgrecorder:ChainedPostgresRecorder"


def link(prev: str, uuid: UUID, version: int, topic: str, data: bytes) -> str:
    """One chain step. Every field before the payload is newline-free, so the
    concatenation is unambiguous."""
    head = f"{prev}\n{uuid.hex}\n{version}\n{topic}\n".encode()
    return hashlib.sha256(head + data).hexdigest()


def as_uuid(value: UUID | str) -> UUID:
    """A stored originator id as a UUID (recorders return either)."""
    return value if isinstance(value, UUID) else UUID(value)


class ChainError(ProgrammingError):
    """An event was to be written without its aggregate's previous digest."""


def chain_rows(
    stored_events: Sequence[StoredEvent], prev: Mapping[UUID, str]
) -> list[tuple[UUID, int, str]]:
    """(uuid, version, digest) of each event, each aggregate continuing from
    ``prev`` (its digest before these events; version 1 starts at GENESIS)."""
    heads: dict[UUID, tuple[int, str]] = {}
    rows = []
    for s in stored_events:
        uuid = as_uuid(s.originator_id)
        version = s.originator_version
        last = heads.get(uuid)
        if last is not None and last[0] == version - 1:
            before = last[1]
        elif version == 1:
            before = GENESIS
        elif uuid in prev:
            before = prev[uuid]
        else:
            raise ChainError(f"{uuid} version {version}: the previous digest was not given")
        digest = link(before, uuid, version, s.topic, bytes(s.state))
        heads[uuid] = (version, digest)
        rows.append((uuid, version, digest))
    return rows


def check_reads(cur: Any, table: str, reads: Mapping[UUID, int], *, sqlite: bool) -> None:
    """Raise a conflict unless each aggregate is stored at exactly its read version."""
    ids = list(reads)
    marks = ", ".join(["?" if sqlite else "%s"] * len(ids))
    cur.execute(
        f"SELECT originator_id, MAX(originator_version) FROM {table}"
        f" WHERE originator_id IN ({marks}) GROUP BY originator_id",
        [i.hex if sqlite else i for i in ids],
    )
    stored = {as_uuid(r[0]): r[1] for r in cur.fetchall()}
    for key, version in reads.items():
        if stored.get(key) != version:
            raise RecordConflictError(f"{key} is at version {stored.get(key)}, not {version}")


class ChainedSQLiteRecorder(SQLiteApplicationRecorder):
    """SQLite recorder that writes each event's digest, and checks read sets."""

    def __init__(self, datastore: SQLiteDatastore, events_table_name: str = "stored_events"):
        super().__init__(datastore, events_table_name)
        self.insert_digests_statement = f"INSERT INTO {DIGESTS} VALUES (?, ?, ?)"

    def construct_create_table_statements(self) -> list[str]:
        return [
            *super().construct_create_table_statements(),
            f"CREATE TABLE IF NOT EXISTS {DIGESTS} (originator_id TEXT NOT NULL,"
            " originator_version INTEGER NOT NULL, digest TEXT NOT NULL,"
            " PRIMARY KEY (originator_id, originator_version)) WITHOUT ROWID",
            f"CREATE TABLE IF NOT EXISTS {CHAIN_META} (name TEXT PRIMARY KEY, value TEXT)",
            *caseviews.DDL,
        ]

    def _insert_events(
        self, c: SQLiteCursor, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        rows = chain_rows(stored_events, kwargs.get("chain") or {})
        ids = super()._insert_events(c, stored_events, **kwargs)
        c.executemany(self.insert_digests_statement, [(u.hex, v, d) for u, v, d in rows])
        reads: Mapping[UUID, int] | None = kwargs.get("reads")
        if reads:
            check_reads(c, self.events_table_name, reads, sqlite=True)
        views: Sequence[caseviews.ViewRow] | None = kwargs.get("views")
        if views:
            caseviews.write(c, views)
        return ids
