"""The application service: with :mod:`.storage`, the only code that touches the event store.

:class:`AfterSales` registers orders, runs commands on cases (loading the
case, its order and its rule set, deciding, and saving the case's and the
order's new events in one atomic, version-checked transaction), fires due
deadlines in due order, and answers queries from the read models.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar, Protocol

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.persistence import RecordConflictError

from aftersales_es.adapters.storage import DEFAULT_STORE, Stored, replay, store_env
from aftersales_es.app import commands as cmds
from aftersales_es.app.idempotency import DEFAULT_RETENTION, CommandRecord, key_uuid
from aftersales_es.domain.base import TimedAggregate, case_uuid, order_uuid
from aftersales_es.domain.case import Case, Context
from aftersales_es.domain.errors import (
    AfterSalesError,
    AlreadyExistsError,
    CaseNotFoundError,
    CommandRefusedError,
    ConcurrencyError,
    DeadlineNotPendingError,
    InvalidInputError,
    OrderNotFoundError,
)
from aftersales_es.domain.events import CaseEvent
from aftersales_es.domain.money import check_currency, parse_amount
from aftersales_es.domain.order import Order
from aftersales_es.domain.ruleload import load_ruleset, parse_ruleset
from aftersales_es.domain.rules import RuleSet
from aftersales_es.domain.ruleset_record import RuleSetRecord, RuleSetRecorded, ruleset_uuid
from aftersales_es.readmodels.projector import Projector
from aftersales_es.readmodels.queries import Queries

__all__ = ["DEFAULT_STORE", "AfterSales", "Fired", "ruleset_uuid", "store_env"]


class _StaleError(Exception):
    """A refusal decided on cached state that the write-time check never saw:
    decide again on state loaded from the store before refusing."""


class DueSource(Protocol):
    """Where :meth:`AfterSales.fire_due` learns which deadlines are due."""

    def due(self, now: datetime, limit: int = 100) -> list[tuple[str, str, datetime]]: ...


@dataclass(frozen=True)
class Fired:
    """A deadline that a sweep fired."""

    case_id: str
    name: str
    due: datetime
    rule: str


class AfterSales(Queries, Stored):
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
    snapshotting_projectors: ClassVar[dict[type[Any], Any]] = {Case: replay}
    #: How long idempotency keys are remembered (see :mod:`.idempotency`).
    key_retention = DEFAULT_RETENTION

    def __init__(
        self,
        store: str | os.PathLike[str] | None = None,
        *,
        rulesets: Mapping[str, str | Path | RuleSet] | None = None,
        settings: Mapping[str, Any] | None = None,
        env: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__({**store_env(store), **(env or {})})
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
        # Straight from its events: orders are short and never snapshotted,
        # so the repository's snapshot query would find nothing.
        order: Order | None = replay(None, self.events.get(order_uuid(order_id)))
        if order is None:
            raise OrderNotFoundError(order_id)
        return order

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
        return self._decide(cmd, record, fresh)

    def _decide(self, cmd: cmds.Command, record: CommandRecord | None, fresh: bool) -> Case:
        if isinstance(cmd, cmds.Apply):
            taken = {} if fresh else self._checkout(order_uuid(cmd.order))
            order = taken.get(order_uuid(cmd.order)) or self.get_order(cmd.order)
            rules = self.ruleset(order.platform)
            amount = None if cmd.amount is None else parse_amount(cmd.amount, order.currency)
            if cmd.case in self._conflicted and case_uuid(cmd.case) in self.repository:
                raise AlreadyExistsError(f"case {cmd.case!r} already exists")
            with self._refusal(cached=bool(taken)):
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
            case, order, cached = self._case_and_order(cmd.case, fresh)
            args = cmd.args()
            for key in ("amount", "refund_amount"):
                if args.get(key) is not None:
                    args[key] = parse_amount(args[key], order.currency, field=key)
            with self._refusal(cached):
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

    def _case_and_order(self, case_id: str, fresh: bool) -> tuple[Case, Order, bool]:
        """The case and its order, and whether either came from the cache."""
        cid = case_uuid(case_id)
        hit = None if fresh else self._peek(cid)
        oid = None if hit is None else order_uuid(hit.order_id)
        taken = {} if hit is None else self._checkout(cid, oid)  # type: ignore[arg-type]
        case: Case = taken.get(cid) or self.get_case(case_id)
        oid = order_uuid(case.order_id)
        if oid not in taken and not fresh:
            taken.update(self._checkout(oid))
        order: Order = taken.get(oid) or self.get_order(case.order_id)
        return case, order, bool(taken)

    @contextmanager
    def _refusal(self, cached: bool) -> Iterator[None]:
        # Cached state is checked only when a write commits: a refusal made
        # on it may rest on state another process has since changed.
        try:
            yield
        except AfterSalesError:
            if self.verify_at_write and cached:
                raise _StaleError from None
            raise

    # ------------------------------------------------------------ deadlines
    def fire_due(self, now: datetime, index: DueSource | None = None) -> list[Fired]:
        """Fire every deadline due at ``now``, in due order, across all cases.

        Each fires stamped with its own due instant; a deadline that a fired
        one leads to (auto-approve, then auto-close ten days later) fires too
        if it is also due. Cost follows the due deadlines, not the case count.
        ``index`` answers which are due (default: the deadline read model).
        """
        due = (index or self).due
        fired: list[Fired] = []
        tried: set[tuple[str, str, datetime]] = set()
        while True:
            batch = [row for row in due(now) if row not in tried]
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
                    case = self._peek(case_uuid(row[0])) or self.get_case(row[0])
                    nxt = case.pending_deadline
                    if nxt and nxt.due <= now and (chained is None or nxt.due < chained):
                        chained = nxt.due

    def fire(self, case_id: str, name: str, due: datetime) -> Fired | None:
        """Fire one deadline if it is still pending; None if it no longer is.

        Safe to race: the case re-checks that the deadline is pending and the
        save is version-checked, so two workers yield one event.
        """
        fresh = False
        for _ in range(self.max_tries):
            case, order, cached = self._case_and_order(case_id, fresh)
            pending = [d for d in case.pending_deadlines if d.name == name and d.due == due]
            try:
                with self._refusal(cached):
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
