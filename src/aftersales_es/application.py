"""The application service: the only module that touches the event store.

:class:`AfterSales` registers orders, runs commands on cases (loading the
case, its order and its rule set, deciding, and saving the case's and the
order's new events in one atomic, version-checked transaction), fires due
deadlines in due order, and answers queries from the read models.
"""

from __future__ import annotations

import os
import threading
import uuid
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import parse_qs, unquote, urlparse
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application, ProcessingEvent
from eventsourcing.domain import Aggregate, DomainEventProtocol
from eventsourcing.persistence import (
    ApplicationRecorder,
    Mapper,
    MapperDeserialisationError,
    RecordConflictError,
    StoredEvent,
)
from eventsourcing.sqlite import SQLiteApplicationRecorder

from . import commands as cmds
from .base import TimedAggregate, TimedCreated, case_uuid, order_uuid
from .case import Case, Context
from .errors import (
    AfterSalesError,
    AlreadyExistsError,
    CaseNotFoundError,
    CommandRefusedError,
    ConcurrencyError,
    DeadlineNotPendingError,
    InvalidInputError,
    OrderNotFoundError,
    StoreKeyError,
)
from .events import CaseEvent
from .idempotency import DEFAULT_RETENTION, CommandRecord, key_uuid
from .money import check_currency, parse_amount
from .order import Order
from .projections import CASES, DEADLINES, DEDUCTIONS, Projector, utc_key
from .rules import RuleSet, load_ruleset, parse_ruleset

DEFAULT_STORE = "aftersales.db"


class RuleSetRecorded(TimedCreated):
    """The exact values of a rule set, stored once per digest."""

    values: dict[str, Any]


class RuleSetRecord(TimedAggregate):
    """Keeps the values a case was applied under, whatever files say later."""

    def __init__(self, values: dict[str, Any]) -> None:
        self.values = values


def ruleset_uuid(digest: str) -> UUID:
    return uuid.uuid5(uuid.NAMESPACE_URL, f"aftersales-ruleset:{digest}")


def store_env(store: str | os.PathLike[str] | None) -> dict[str, str]:
    """eventsourcing settings for a store location.

    ``None`` -> ``$AFTERSALES_STORE`` or ``./aftersales.db``; ``memory`` -> a
    private in-memory SQLite; ``postgresql://user:pw@host:port/db?schema=s``
    -> PostgreSQL; anything else is a SQLite file path.
    """
    location = (
        str(store) if store is not None else os.environ.get("AFTERSALES_STORE", DEFAULT_STORE)
    )
    if location in ("memory", ":memory:"):
        name = f"file:aftersales-{uuid.uuid4().hex}?mode=memory&cache=shared"
        return {"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": name}
    if location.startswith(("postgresql://", "postgres://")):
        url = urlparse(location)
        query = parse_qs(url.query)
        env = {
            "PERSISTENCE_MODULE": "eventsourcing.postgres",
            "POSTGRES_DBNAME": (url.path or "/postgres").lstrip("/") or "postgres",
            "POSTGRES_HOST": url.hostname or "127.0.0.1",
            "POSTGRES_PORT": str(url.port or 5432),
            "POSTGRES_USER": unquote(url.username or "postgres"),
            "POSTGRES_PASSWORD": unquote(url.password or ""),
            "POSTGRES_LOCK_TIMEOUT": "10",
            "POSTGRES_POOL_SIZE": "2",
            "POSTGRES_MAX_OVERFLOW": "8",
        }
        if "schema" in query:
            env["POSTGRES_SCHEMA"] = query["schema"][0]
        return env
    return {
        "PERSISTENCE_MODULE": "eventsourcing.sqlite",
        "SQLITE_DBNAME": str(Path(location)),
        "SQLITE_LOCK_TIMEOUT": "30",
    }


def replay(aggregate: Any, events: Iterable[Any]) -> Any:
    """Fold events into an aggregate (the repository's projector function).

    eventsourcing's default asserts every event against a runtime Protocol,
    which costs ~30 µs an event on Python 3.11: more than decoding it.
    """
    for event in events:
        aggregate = event.mutate(aggregate)
    return aggregate


def _check_reads_on_insert(recorder: SQLiteApplicationRecorder) -> None:
    """Make the recorder's insert transaction validate a command's read set.

    ``save(..., reads={id: version})`` fails with a conflict, and writes
    nothing, unless each aggregate is stored at exactly that version once the
    new events are in. The events go in first: that takes SQLite's write
    lock, so no other writer can slip in between the check and the commit.
    """
    insert = recorder._insert_events
    sql = (
        f"SELECT originator_id, MAX(originator_version) FROM {recorder.events_table_name}"
        " WHERE originator_id IN (?, ?) GROUP BY originator_id"
    )

    def insert_and_check(c: Any, stored_events: Any, **kwargs: Any) -> Any:
        ids = insert(c, stored_events, **kwargs)
        reads: dict[UUID, int] | None = kwargs.get("reads")
        if reads:
            keys = [i.hex for i in reads]
            c.execute(sql, (keys * 2)[:2])
            stored = dict(c.fetchall())
            for key, version in zip(keys, reads.values(), strict=True):
                if stored.get(key) != version:
                    raise RecordConflictError(
                        f"{key} is at version {stored.get(key)}, not {version}"
                    )
        return ids

    recorder._insert_events = insert_and_check  # type: ignore[method-assign]


class _StaleError(Exception):
    """A refusal decided on cached state that the write-time check never saw:
    decide again on state loaded from the store before refusing."""


@dataclass(frozen=True)
class Fired:
    """A deadline that a sweep fired."""

    case_id: str
    name: str
    due: datetime
    rule: str


class AfterSales(Application[UUID]):
    """After-sales cases on an event store (SQLite file by default)."""

    name = "aftersales"
    max_tries = 5

    def __init_subclass__(cls, **kwargs: Any) -> None:
        # eventsourcing names tables after the class: a subclass (an
        # embedding service's, a test's) must share the same store.
        super().__init_subclass__(**kwargs)
        cls.name = "aftersales"

    # issue 4: long cases load from a snapshot
    snapshotting_intervals: ClassVar[dict[type[Any], int]] = {Case: 50}
    #: How long idempotency keys are remembered (see :mod:`.idempotency`).
    key_retention = DEFAULT_RETENTION
    #: Cases and orders this process saved last, kept in memory for the next
    #: command (``AFTERSALES_CACHE_SIZE`` in ``env``; 0 turns it off).
    cache_size = 10_000

    def __init__(
        self,
        store: str | os.PathLike[str] | None = None,
        *,
        rulesets: Mapping[str, str | Path | RuleSet] | None = None,
        settings: Mapping[str, Any] | None = None,
        env: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(env={**store_env(store), **(env or {})})
        from .sqlstore import SqlStore

        module = self.env.get("PERSISTENCE_MODULE") or ""
        dialect = "postgres" if "postgres" in module else "sqlite"
        self.sql = SqlStore(self.recorder.datastore, dialect)  # type: ignore[attr-defined]
        self.projector = Projector(
            self.sql,
            lambda start, limit: self.recorder.select_notifications(start=start, limit=limit),
            self.mapper.to_domain_event,
        )
        self._sources: dict[str, str | Path | RuleSet] = dict(rulesets or {})
        self._settings = dict(settings or {})
        self._by_name: dict[str, RuleSet] = {}
        self._by_digest: dict[str, RuleSet] = {}
        self._recorded: set[str] = set()  # rule-set digests known to be stored
        self._conflicted: set[str] = set()  # case ids whose apply met a conflict
        self._hot: OrderedDict[UUID, TimedAggregate] = OrderedDict()
        self._hot_lock = threading.Lock()
        self._hot_size = int(self.env.get("AFTERSALES_CACHE_SIZE") or self.cache_size)
        self._verify_at_write = self.sql.dialect == "sqlite"
        self._probe_sql = (
            f"SELECT originator_id, MAX(originator_version) FROM {self.recorder.events_table_name}"  # type: ignore[attr-defined]
            " WHERE originator_id IN (?, ?) GROUP BY originator_id"
        )

    # ---------------------------------------------------------------- rules
    def ruleset(self, platform: str) -> RuleSet:
        """The rule set new cases on ``platform`` are applied under."""
        if platform not in self._by_name:
            source = self._sources.get(platform, platform)
            rules = source if isinstance(source, RuleSet) else load_ruleset(source)
            self._by_name[platform] = rules.with_overrides(self._settings)
        rules = self._by_name[platform]
        self._by_digest.setdefault(rules.digest, rules)
        return rules

    def ruleset_of(self, case: Case) -> RuleSet:
        """The rule set a case was applied under (from the store, not from files)."""
        digest = case.ruleset["digest"]
        if digest not in self._by_digest:
            record: RuleSetRecord = self.repository.get(ruleset_uuid(digest))
            self._by_digest[digest] = parse_ruleset(record.values, origin=f"ruleset {digest}")
        return self._by_digest[digest]

    # --------------------------------------------------------------- orders
    def register_order(self, facts: Mapping[str, Any] | cmds.RegisterOrder) -> Order:
        """Register an order (validated; refused if the id is taken)."""
        o = facts if isinstance(facts, cmds.RegisterOrder) else cmds.parse_order(dict(facts))
        check_currency(o.currency)
        self.ruleset(o.platform)
        amount = parse_amount(o.amount, o.currency, allow_zero=False)
        lines = [
            {**ln.model_dump(), "unit_price": str(parse_amount(ln.unit_price, o.currency))}
            for ln in o.lines
        ]
        if order_uuid(o.id) in self.repository:
            raise AlreadyExistsError(f"order {o.id!r} already exists")
        order = Order.register(
            at=o.paid_at,
            order_id=o.id,
            seller_id=o.seller,
            buyer_id=o.buyer,
            platform=o.platform,
            amount=amount,
            currency=o.currency,
            paid_at=o.paid_at,
            shipped_at=o.shipped_at,
            delivered_at=o.delivered_at,
            gs=o.gs,
            lines=lines,
        )
        self._save(order)
        self._keep(order)
        return order

    def get_order(self, order_id: str) -> Order:
        try:
            if Order in self.snapshotting_intervals:
                order: Order = self.repository.get(order_uuid(order_id), projector_func=replay)
                return order
        except AggregateNotFoundError:
            raise OrderNotFoundError(order_id) from None
        # Orders are never snapshotted: skip the repository's snapshot query.
        found: Order | None = replay(None, self.events.get(order_uuid(order_id)))
        if found is None:
            raise OrderNotFoundError(order_id)
        return found

    def mark_shipped(self, order_id: str, at: datetime) -> None:
        self._order_fact(order_id, at, "shipped")

    def mark_delivered(self, order_id: str, at: datetime) -> None:
        self._order_fact(order_id, at, "delivered")

    def _order_fact(self, order_id: str, at: datetime, what: str) -> None:
        order = self.get_order(order_id)
        if at.tzinfo is None:
            raise InvalidInputError(f"{what}_at: needs a timezone")
        if at < order.paid_at:
            raise InvalidInputError(f"{what}_at: before the order was paid")
        if getattr(order, f"{what}_at") is not None:
            raise InvalidInputError(f"order {order_id}: already {what}")
        getattr(order, f"mark_{what}")(at)
        self._save(order)

    # ---------------------------------------------------------------- cases
    def get_case(self, case_id: str, version: int | None = None) -> Case:
        """The case as it is now, or as it was at ``version``."""
        try:
            case: Case = self.repository.get(
                case_uuid(case_id), version=version, projector_func=replay
            )
        except AggregateNotFoundError:
            raise CaseNotFoundError(case_id) from None
        return case

    def case_events(self, case_id: str) -> list[CaseEvent]:
        """Every stored event of a case, in order."""
        found = list(self.repository.event_store.get(case_uuid(case_id)))
        if not found:
            raise CaseNotFoundError(case_id)
        return [e for e in found if isinstance(e, CaseEvent)]

    def execute(self, command: cmds.Command | str, /, **data: Any) -> Case:
        """Run one command (a model, or a name plus fields) and return the case.

        A refused command raises and writes nothing. A version conflict with a
        concurrent writer is retried on fresh state a few times, then raised as
        :class:`ConcurrencyError`.
        """
        cmd = command if isinstance(command, cmds.Command) else cmds.parse_command(command, data)
        fresh = False
        for _ in range(self.max_tries):
            try:
                return self._execute(cmd, fresh)
            except (RecordConflictError, _StaleError):
                fresh = True  # decide again on state loaded from the store
                continue
            except (CommandRefusedError, AlreadyExistsError):
                # The same keyed command may have just won in another thread or
                # process, changing the state this one was decided on (issue 6:
                # for apply, creating the case between our key and id look-ups).
                record = self._key_record(cmd)
                if record is None:
                    raise
                record.check(cmd)
                return self.get_case(record.case_id, version=record.case_version)
        raise ConcurrencyError(f"case {cmd.case}: {cmd.name} kept conflicting; try again")

    def _execute(self, cmd: cmds.Command, fresh: bool) -> Case:
        record = self._key_record(cmd)
        if record is not None and not record.expired(cmd.at, self.key_retention):
            record.check(cmd)
            return self.get_case(record.case_id, version=record.case_version)
        with self._refusal(fresh):
            return self._decide(cmd, record, fresh)

    def _decide(self, cmd: cmds.Command, record: CommandRecord | None, fresh: bool) -> Case:
        if isinstance(cmd, cmds.Apply):
            taken = {} if fresh else self._checkout(order_uuid(cmd.order))
            order = taken.get(order_uuid(cmd.order)) or self.get_order(cmd.order)
            rules = self.ruleset(order.platform)
            amount = None if cmd.amount is None else parse_amount(cmd.amount, order.currency)
            if cmd.case in self._conflicted and case_uuid(cmd.case) in self.repository:
                raise AlreadyExistsError(f"case {cmd.case!r} already exists")
            case = Case.open(
                cmd.case,
                Context(order, rules),
                at=cmd.at,
                kind=cmd.kind,
                amount=amount,
                reason=cmd.reason,
                # issue 7: order lines named by the application (None: whole order)
                lines=None if cmd.lines is None else [p.model_dump() for p in cmd.lines],
            )
            extra: list[TimedAggregate] = []
            known = rules.digest in self._recorded
            if not known and ruleset_uuid(rules.digest) not in self.repository:
                extra.append(
                    RuleSetRecord._create(
                        RuleSetRecorded,
                        id=ruleset_uuid(rules.digest),
                        at=cmd.at,
                        values=rules.model_dump(mode="json"),
                    )
                )
        else:
            case, order = self._case_and_order(cmd.case, fresh)
            args = cmd.args()
            for key in ("amount", "refund_amount"):
                if args.get(key) is not None:
                    args[key] = parse_amount(args[key], order.currency, field=key)
            getattr(case, cmd.name)(Context(order, self.ruleset_of(case)), at=cmd.at, **args)
            extra = []
        if cmd.idempotency_key is not None:
            if record is None:
                extra.append(CommandRecord.record(cmd, case.version))
            else:
                record.renew(cmd, case.version)
                extra.append(record)
        try:
            self._save(case, order, *extra, reads=(case, order))
        except RecordConflictError:
            # A taken case id shows up as a conflict on version 1: the retry
            # looks it up instead of every apply paying for a look-up.
            self._conflicted.add(cmd.case)
            raise
        self._recorded.add(case.ruleset["digest"])
        self._keep(case, order)
        return case

    def _key_record(self, cmd: cmds.Command) -> CommandRecord | None:
        if cmd.idempotency_key is None:
            return None
        try:
            record: CommandRecord = self.repository.get(key_uuid(cmd.idempotency_key))
        except AggregateNotFoundError:
            return None
        return record

    def _save(self, *aggregates: TimedAggregate, reads: Iterable[TimedAggregate] = ()) -> None:
        """Save atomically. On SQLite the write transaction also checks that
        each of ``reads`` is still at its version (its decision's read set)."""
        if self._verify_at_write and reads:
            self.save(*aggregates, reads={a.id: a.version for a in reads})
        else:
            self.save(*aggregates)

    def save(self, *objs: Any, **kwargs: Any) -> Any:
        """eventsourcing's ``save``, minus two runtime-Protocol checks per
        aggregate (~30 µs on Python 3.11) that plain aggregates never need."""
        processing = ProcessingEvent[UUID]()
        others = []
        for obj in objs:
            if isinstance(obj, Aggregate):
                processing.events.extend(obj.collect_events())
                processing.aggregates[obj.id] = obj
            elif obj is not None:
                others.append(obj)
        processing.collect_events(*others, **kwargs)
        recordings = self._record(processing)
        self._take_snapshots(processing)
        self._notify(recordings)
        self.notify(processing.events)
        return recordings

    # ---------------------------------------------------------------- cache
    # A command takes its case and order out of the cache (no other thread
    # sees them half-changed) and puts them back only once they are saved; a
    # refused or failed command drops them. Before use, one indexed query
    # confirms that the cached versions are still the stored ones: another
    # process may have written since, and no decision may rest on stale state.
    def _checkout(self, *ids: UUID) -> dict[UUID, Any]:
        with self._hot_lock:
            found = [a for i in ids if (a := self._hot.pop(i, None)) is not None]
        if self._verify_at_write:
            return {a.id: a for a in found if not a.pending_events}
        if not found:
            return {}
        params = [a.id.hex if self.sql.dialect == "sqlite" else a.id for a in found]
        with self.sql.read() as cur:
            cur.execute(self._probe_sql, (params * 2)[:2])
            stored = {UUID(str(row[0])): row[1] for row in cur.fetchall()}
        return {a.id: a for a in found if stored.get(a.id) == a.version and not a.pending_events}

    def _case_and_order(self, case_id: str, fresh: bool) -> tuple[Case, Order]:
        cid = case_uuid(case_id)
        with self._hot_lock:
            hit = None if fresh else self._hot.get(cid)
        oid = None if hit is None else order_uuid(hit.order_id)  # type: ignore[attr-defined]
        taken = {} if hit is None else self._checkout(cid, oid)  # type: ignore[arg-type]
        case: Case = taken.get(cid) or self.get_case(case_id)
        oid = order_uuid(case.order_id)
        if oid not in taken and not fresh:
            taken.update(self._checkout(oid))
        order: Order = taken.get(oid) or self.get_order(case.order_id)
        return case, order

    @contextmanager
    def _refusal(self, fresh: bool) -> Iterator[None]:
        # Cached state is checked only when a write commits: a refusal made
        # on it may rest on state another process has since changed.
        try:
            yield
        except AfterSalesError:
            if self._verify_at_write and not fresh:
                raise _StaleError from None
            raise

    def _keep(self, *aggregates: TimedAggregate) -> None:
        if self._hot_size <= 0:
            return
        with self._hot_lock:
            for a in aggregates:
                self._hot[a.id] = a
                self._hot.move_to_end(a.id)
            while len(self._hot) > self._hot_size:
                self._hot.popitem(last=False)

    # ------------------------------------------------------------ deadlines
    def due(self, now: datetime, limit: int = 100) -> list[tuple[str, str, datetime]]:
        """Deadlines due at ``now`` (case id, name, due), earliest first."""
        self.projector.catch_up()
        with self.sql.read() as cur:
            cur.execute(
                f"SELECT case_id, name, due FROM {DEADLINES} WHERE due_utc <= ?"
                " ORDER BY due_utc, case_id, name LIMIT ?",
                (utc_key(now), limit),
            )
            return [(r[0], r[1], datetime.fromisoformat(r[2])) for r in cur.fetchall()]

    def fire_due(self, now: datetime) -> list[Fired]:
        """Fire every deadline due at ``now``, in due order, across all cases.

        Each fires stamped with its own due instant; a deadline that a fired
        one leads to (auto-approve, then auto-close ten days later) fires too
        if it is also due. Cost follows the due deadlines, not the case count.
        """
        fired: list[Fired] = []
        tried: set[tuple[str, str, datetime]] = set()
        while True:
            batch = [row for row in self.due(now) if row not in tried]
            if not batch:
                return fired
            chained: datetime | None = None  # earliest deadline a firing led to
            for row in batch:
                if chained is not None and chained < row[2]:
                    break  # it comes before the rest of the batch: query again
                tried.add(row)
                result = self.fire(*row)
                if result is not None:
                    fired.append(result)
                    with self._hot_lock:
                        hot = self._hot.get(case_uuid(row[0]))
                    nxt = (hot or self.get_case(row[0])).pending_deadline  # type: ignore[attr-defined]
                    if nxt and nxt.due <= now and (chained is None or nxt.due < chained):
                        chained = nxt.due

    def fire(self, case_id: str, name: str, due: datetime) -> Fired | None:
        """Fire one deadline if it is still pending; None if it no longer is.

        Safe to race: the case re-checks that the deadline is pending and the
        save is version-checked, so two workers yield one event.
        """
        fresh = False
        for _ in range(self.max_tries):
            case, order = self._case_and_order(case_id, fresh)
            pending = [d for d in case.pending_deadlines if d.name == name and d.due == due]
            try:
                with self._refusal(fresh):
                    if not pending:
                        raise DeadlineNotPendingError(f"case {case_id}: {name} not pending")
                    case.fire(Context(order, self.ruleset_of(case)), name=name, due=due)
                self._save(case, order, reads=(case, order))
            except DeadlineNotPendingError:
                return None
            except (RecordConflictError, _StaleError):
                fresh = True
                continue
            self._keep(case, order)
            return Fired(case_id, name, due, pending[0].rule)
        raise ConcurrencyError(f"case {case_id}: deadline {name} kept conflicting")

    # -------------------------------------------------------------- queries
    def cases(self, state: str | None = None, platform: str | None = None) -> list[dict[str, Any]]:
        """Cases from the read model, optionally by state and platform."""
        self.projector.catch_up()
        sql = (
            f"SELECT case_id, order_id, platform, kind, state, amount, refunded_total,"
            f" currency, version FROM {CASES} WHERE 1 = 1"
        )
        params: list[Any] = []
        if state:
            sql += " AND state = ?"
            params.append(state)
        if platform:
            sql += " AND platform = ?"
            params.append(platform)
        with self.sql.read() as cur:
            cur.execute(sql + " ORDER BY case_id", params)
            keys = (
                "case_id",
                "order_id",
                "platform",
                "kind",
                "state",
                "amount",
                "refunded_total",
                "currency",
                "version",
            )
            return [dict(zip(keys, tuple(r), strict=True)) for r in cur.fetchall()]

    def deductions(self, seller: str | None = None) -> list[dict[str, Any]]:
        """The seller deduction ledger (read model), in time order."""
        self.projector.catch_up()
        sql = (
            f"SELECT seller_id, case_id, reason, amount, currency, at, rule FROM {DEDUCTIONS}"
            " WHERE 1 = 1"
        )
        params: list[Any] = []
        if seller:
            sql += " AND seller_id = ?"
            params.append(seller)
        with self.sql.read() as cur:
            cur.execute(sql + " ORDER BY at_utc, case_id, version", params)
            keys = ("seller_id", "case_id", "reason", "amount", "currency", "at", "rule")
            rows = [dict(zip(keys, tuple(r), strict=True)) for r in cur.fetchall()]
        for r in rows:
            r["amount"] = Decimal(r["amount"])
        return rows

    def notification_count(self) -> int:
        """How many events the store holds (tests use it to prove nothing was written)."""
        return int(self.recorder.max_notification_id() or 0)

    def iter_case_ids(self) -> Iterator[str]:
        for row in self.cases():
            yield row["case_id"]

    # -------------------------------------------------------------- issue 6
    # Encryption at rest (CIPHER_TOPIC / CIPHER_KEY, see the README): a store
    # written under a key is readable only with it. A wrong, missing or
    # malformed key fails when the application opens, with StoreKeyError (an
    # AfterSalesError the CLI prints), before anything could be written beside
    # the old events under another key.
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
        if isinstance(recorder, SQLiteApplicationRecorder):
            _check_reads_on_insert(recorder)
        return recorder

    # issue 3: a PostgreSQL ``?schema=`` is created on first use, like the
    # tables. Processes starting at once on a fresh database race on
    # eventsourcing's CREATE TABLE/TYPE/FUNCTION (PostgreSQL) or on the first
    # write lock (SQLite); creating the tables again is safe, so retry.
    def construct_factory(self, env: Any) -> Any:
        from .sqlstore import create_schema, retrying

        factory = super().construct_factory(env)
        create_schema(getattr(factory, "datastore", None))
        for name in ("application_recorder", "aggregate_recorder"):
            setattr(factory, name, retrying(getattr(factory, name)))
        return factory
