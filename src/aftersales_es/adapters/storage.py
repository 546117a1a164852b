"""Where the application meets eventsourcing's store (part of the application layer).

:class:`Stored` is the base of :class:`~aftersales_es.application.AfterSales`:
store locations, loading and saving without per-event overheads the domain
never needs, the key checks of an encrypted store, a per-process cache of the
aggregates a command saved last, the hash chain's heads (each save passes its
aggregates' previous digests to the recorder, :mod:`.recorders`), and, on
SQLite, a write transaction that validates the command's read set.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from typing import Any
from uuid import UUID

from eventsourcing.application import Application, ProcessingEvent
from eventsourcing.domain import Aggregate, DomainEventProtocol
from eventsourcing.persistence import (
    ApplicationRecorder,
    EventStore,
    Mapper,
    MapperDeserialisationError,
    StoredEvent,
)

from aftersales_es.adapters.caseviews import ViewRow
from aftersales_es.adapters.chainstore import ChainedEventStore, ChainHeads, fold_stored
from aftersales_es.adapters.location import DEFAULT_STORE, store_env
from aftersales_es.adapters.recorders import GENESIS, POSTGRES_TOPIC, SQLITE_TOPIC
from aftersales_es.adapters.sql import SqlStore, create_schema, retrying
from aftersales_es.domain.base import TimedAggregate
from aftersales_es.domain.errors import StoreKeyError

__all__ = ["DEFAULT_STORE", "Stored", "fold", "store_env"]


def fold(aggregate: Any, events: Iterable[Any]) -> Any:
    """Fold events into an aggregate (the repository's projector function).

    eventsourcing's default asserts every event against a runtime Protocol,
    which costs ~30 µs an event on Python 3.11: more than decoding it.
    """
    for event in events:
        aggregate = event.mutate(aggregate)
    return aggregate


def stored_versions(recorder: Any, ids: Sequence[UUID]) -> dict[UUID, int]:
    """Each aggregate's latest stored version (PostgreSQL): one indexed,
    prepared statement on an autocommit connection of the recorder's pool
    (no transaction, no ``search_path``: a single round trip)."""
    from psycopg.sql import SQL, Identifier

    datastore = recorder.datastore
    statement = SQL(
        "SELECT originator_id, MAX(originator_version) AS version FROM {}.{}"
        " WHERE originator_id = ANY(%s) GROUP BY originator_id"
    ).format(Identifier(datastore.schema), Identifier(recorder.events_table_name))
    with datastore.get_connection() as conn, conn.cursor() as curs:
        curs.execute(statement, (list(ids),), prepare=True)
        return {r["originator_id"]: r["version"] for r in curs.fetchall()}


class Stored(Application[UUID]):
    """eventsourcing's ``Application`` as the engine uses it (see the module doc)."""

    #: Aggregates this process saved last, kept in memory for the next
    #: command (``AFTERSALES_CACHE_SIZE`` in ``env``; 0 turns it off).
    cache_size = 10_000

    def __init__(self, env: dict[str, str]) -> None:
        size = int(env.get("AFTERSALES_CACHE_SIZE") or self.cache_size)
        self.chain_heads = ChainHeads(2 * size)
        super().__init__(env=env)
        module = self.env.get("PERSISTENCE_MODULE") or ""
        dialect = "postgres" if "postgres" in module else "sqlite"
        self.sql = SqlStore(self.recorder.datastore, dialect)  # type: ignore[attr-defined]
        self._hot: OrderedDict[UUID, TimedAggregate] = OrderedDict()
        self._hot_lock = threading.Lock()
        self._hot_size = int(self.env.get("AFTERSALES_CACHE_SIZE") or self.cache_size)
        # SQLite validates a command's read set when it writes; PostgreSQL
        # (whose inserts eventsourcing pipelines) confirms cached versions
        # with one query before the command decides.
        self.verify_at_write = dialect == "sqlite"
        #: Set by the composition root on SQLite: the view row of an aggregate
        #: after its new events (``None`` for aggregates without a view),
        #: written by the recorder in the insert transaction (:mod:`.caseviews`).
        self.view_rows: Callable[[Any, Sequence[Any]], ViewRow | None] | None = None

    def save(self, *objs: Any, **kwargs: Any) -> Any:
        """eventsourcing's ``save``, minus two runtime-Protocol checks per
        aggregate (~30 µs on Python 3.11) that plain aggregates never need."""
        processing = ProcessingEvent[UUID]()
        others = []
        views = []
        for obj in objs:
            if isinstance(obj, Aggregate):
                new = obj.collect_events()
                processing.events.extend(new)
                processing.aggregates[obj.id] = obj
                if self.view_rows is not None and new:
                    view = self.view_rows(obj, new)
                    if view is not None:
                        views.append(view)
            elif obj is not None:
                others.append(obj)
        if views:
            kwargs["views"] = views
        processing.collect_events(*others, chain=self._previous(processing.events), **kwargs)
        recordings = self._record(processing)
        self.chain_heads.fold(r.notification for r in recordings)
        self._take_snapshots(processing)
        self._notify(recordings)
        self.notify(processing.events)
        return recordings

    def _previous(self, events: Sequence[Any]) -> dict[UUID, str]:
        """Each aggregate's digest before the first of ``events`` it has: known
        from its load or its last save; read back from its stored events only
        when this process no longer knows it (an old snapshot, an evicted head)."""
        prev: dict[UUID, str] = {}
        for e in events:
            uuid, before = e.originator_id, e.originator_version - 1
            if uuid in prev or before == 0:
                continue
            head = self.chain_heads.get(uuid, before)
            if head is None:
                stored = self.recorder.select_events(uuid, lte=before)
                head = fold_stored(stored, GENESIS)
            prev[uuid] = head
        return prev

    def load_many(self, ids: Sequence[UUID]) -> dict[UUID, Any]:
        """Aggregates folded from all their stored events, read in one query
        (no snapshot: for short aggregates read in bulk, like a sweep's cases
        and orders); each one's chain head is noted for its next save."""
        if not ids:
            return {}
        table = self.recorder.events_table_name  # type: ignore[attr-defined]
        sqlite = self.sql.dialect == "sqlite"
        with self.sql.read() as cur:
            cur.execute(
                f"SELECT originator_id, originator_version, topic, state FROM {table}"
                f" WHERE originator_id IN ({', '.join('?' * len(ids))})"
                " ORDER BY originator_id, originator_version",
                [i.hex if sqlite else i for i in ids],
            )
            rows = cur.fetchall()
        stored: dict[UUID, list[StoredEvent]] = {}
        for r in rows:
            uuid = r[0] if isinstance(r[0], UUID) else UUID(r[0])
            stored.setdefault(uuid, []).append(StoredEvent(uuid, r[1], r[2], bytes(r[3])))
        found = {}
        for uuid, events in stored.items():
            found[uuid] = fold(None, map(self.mapper.to_domain_event, events))
            self.chain_heads.put(uuid, events[-1].originator_version, fold_stored(events, GENESIS))
        return found

    def _save(self, *aggregates: TimedAggregate, reads: Iterable[TimedAggregate] = ()) -> None:
        """Save atomically. On SQLite the write transaction also checks that
        each of ``reads`` is still at its version (its decision's read set)."""
        if self.verify_at_write and reads:
            self.save(*aggregates, reads={a.id: a.version for a in reads})
        else:
            self.save(*aggregates)

    # A command takes its aggregates out of the cache (no other thread sees
    # them half-changed) and puts them back only once they are saved; a
    # refused or failed command drops them. Cached state is never trusted
    # alone: see ``verify_at_write``.
    def _checkout(self, *ids: UUID) -> dict[UUID, Any]:
        with self._hot_lock:
            found = [a for i in ids if (a := self._hot.pop(i, None)) is not None]
        if self.verify_at_write:
            return {a.id: a for a in found if not a.pending_events}
        if not found:
            return {}
        stored = stored_versions(self.recorder, [a.id for a in found])
        return {a.id: a for a in found if stored.get(a.id) == a.version and not a.pending_events}

    def _peek(self, aggregate_id: UUID) -> Any:
        """A cached aggregate to read (never to change), or None."""
        with self._hot_lock:
            return self._hot.get(aggregate_id)

    def _keep(self, *aggregates: TimedAggregate) -> None:
        if self._hot_size <= 0:
            return
        with self._hot_lock:
            for a in aggregates:
                self._hot[a.id] = a
                self._hot.move_to_end(a.id)
            while len(self._hot) > self._hot_size:
                self._hot.popitem(last=False)

    # Encryption at rest (CIPHER_TOPIC / CIPHER_KEY, see the README):
    # a store written under a key is readable only with it. A wrong, missing
    # or malformed key fails when the application opens, with StoreKeyError
    # (an AfterSalesError the CLI prints), before anything could be written
    # beside the old events under another key.
    def construct_mapper(self) -> Mapper[UUID]:
        try:
            mapper = super().construct_mapper()
        except (OSError, ValueError) as exc:  # no key; bad base64 or size
            raise StoreKeyError(f"CIPHER_KEY: {exc}") from None
        decode = mapper.to_domain_event

        def to_domain_event(stored: StoredEvent) -> DomainEventProtocol[UUID]:
            try:
                return decode(stored)
            except MapperDeserialisationError as exc:
                raise StoreKeyError(
                    f"cannot decode stored event {stored.topic} (version "
                    f"{stored.originator_version}): {exc.__cause__}; the store was written "
                    "with another CIPHER_KEY or encryption setting than this one"
                ) from None

        mapper.to_domain_event = to_domain_event  # type: ignore[method-assign,assignment]
        return mapper

    def construct_recorder(self) -> ApplicationRecorder:
        recorder = super().construct_recorder()
        first = recorder.select_notifications(start=None, limit=1)
        if first:
            self.mapper.to_domain_event(first[0])  # the key check: decode one event
        return recorder

    def construct_event_store(self) -> EventStore[UUID]:
        return ChainedEventStore(self.mapper, self.recorder, self.chain_heads)

    def construct_snapshot_store(self) -> EventStore[UUID]:
        recorder = self.factory.aggregate_recorder(purpose="snapshots")
        return ChainedEventStore(self.mapper, recorder, self.chain_heads, snapshots=True)

    # A PostgreSQL ``?schema=`` is created on first use, like the
    # tables. Processes starting at once on a fresh database race on
    # eventsourcing's CREATE TABLE/TYPE/FUNCTION (PostgreSQL) or on the first
    # write lock (SQLite); creating the tables again is safe, so retry.
    #
    # The recorders that write the hash chain are registered through
    # eventsourcing's own setting, unless the environment names others.
    def construct_factory(self, env: Any) -> Any:
        module = env.get("PERSISTENCE_MODULE") or ""
        topic = {"eventsourcing.sqlite": SQLITE_TOPIC, "eventsourcing.postgres": POSTGRES_TOPIC}
        if module in topic and not env.get("APPLICATION_RECORDER_TOPIC"):
            env["APPLICATION_RECORDER_TOPIC"] = topic[module]
        factory = super().construct_factory(env)
        create_schema(getattr(factory, "datastore", None))
        for name in ("application_recorder", "aggregate_recorder"):
            setattr(factory, name, retrying(getattr(factory, name)))
        return factory
