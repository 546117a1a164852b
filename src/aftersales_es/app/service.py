"""The application service: with :mod:`aftersales_es.adapters.storage`, the
only code that touches the event store.

:class:`CaseService` registers orders and runs commands on cases: it loads
the case, its order and its rule set, hands the command to its handler
(:data:`.handlers.COMMAND_HANDLERS`), and saves the case's and the order's
new events in one atomic, version-checked transaction, retrying on a
conflict. It fires deadlines, one (:meth:`~CaseService.fire`) or every due
one (:meth:`~CaseService.fire_due`, through a :class:`.ports.DueDeadlines`).
It owns no read model: :class:`aftersales_es.engine.AfterSales` composes it
with them.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.persistence import RecordConflictError

from aftersales_es.adapters.blobs import open_blobs
from aftersales_es.adapters.storage import DEFAULT_STORE, Stored, fold, store_env
from aftersales_es.app.idempotency import DEFAULT_RETENTION, CommandRecord, find_record
from aftersales_es.app.payouts import outbox
from aftersales_es.app.ports import DeadlineIndex, DueDeadlines, Row
from aftersales_es.app.rulesets import RuleSets
from aftersales_es.app.sweep import Fired, sweep_due
from aftersales_es.domain.base import case_uuid, order_uuid
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
    VersionMismatchError,
)
from aftersales_es.domain.events import CaseEvent
from aftersales_es.domain.order import Order
from aftersales_es.domain.rules import RuleSet

if TYPE_CHECKING:
    from aftersales_es.app import commands as cmds
    from aftersales_es.app.attachments import Staging
    from aftersales_es.app.firing import Outcome

__all__ = ["DEFAULT_STORE", "CaseService", "Fired", "store_env"]

# The command models and their handlers are imported where a command runs:
# reading a case (``show``, ``history``, the audit) never needs them, and
# building their pydantic schemas is a good part of the CLI's start-up.


class CaseService(Stored):
    """After-sales cases and orders on an event store (SQLite file by default)."""

    name = "aftersales"
    max_tries = 5
    #: The deadline index :meth:`fire_due` and workers sweep by default; the
    #: composition root plugs the read models in.
    deadlines: DeadlineIndex | None = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        # eventsourcing names tables after the class: a subclass (an
        # embedding service's, a test's) must share the same store.
        super().__init_subclass__(**kwargs)
        cls.name = "aftersales"

    # Long cases load from a snapshot.
    snapshotting_intervals: ClassVar[dict[type[Any], int]] = {Case: 50}
    snapshotting_projectors: ClassVar[dict[type[Any], Any]] = {Case: fold}
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
        self.rules = RuleSets(self.repository, rulesets, settings)
        self._conflicted: set[str] = set()  # case ids whose apply met a conflict
        #: Where attachment bytes live (beside the events; see :mod:`.attachments`).
        self.blobs = open_blobs(dict(self.env), self.sql)

    def ruleset(self, platform: str) -> RuleSet:
        """The rule set new cases on ``platform`` are applied under."""
        return self.rules.for_platform(platform)

    def ruleset_of(self, case: Case) -> RuleSet:
        """The rule set a case was applied under (from the store, not from files)."""
        return self.rules.of(case)

    def notification_count(self) -> int:
        """How many events the store holds (tests use it to prove nothing was written)."""
        return int(self.recorder.max_notification_id() or 0)

    def _save(self, *aggregates: Any, reads: Iterable[Any] = ()) -> None:
        """Save atomically, with the payout instruction of every refund decided
        in these aggregates' new events (the outbox: :mod:`.payouts`)."""
        super()._save(*aggregates, *outbox(aggregates), reads=reads)

    # --------------------------------------------------------------- orders
    def register_order(self, facts: Mapping[str, Any] | cmds.RegisterOrder) -> Order:
        """Register an order (validated; refused if the id is taken)."""
        from aftersales_es.app import commands as cmds
        from aftersales_es.app import orders

        o = facts if isinstance(facts, cmds.RegisterOrder) else cmds.parse_order(dict(facts))
        order = orders.new_order(o, self.rules, self.repository)
        self._save(order)
        self._keep(order)
        return order

    def get_order(self, order_id: str) -> Order:
        """The order as it is now."""
        # Straight from its events: orders are short and never snapshotted,
        # so the repository's snapshot query would find nothing.
        order: Order | None = fold(None, self.events.get(order_uuid(order_id)))
        if order is None:
            raise OrderNotFoundError(order_id)
        return order

    def mark_shipped(self, order_id: str, at: datetime) -> None:
        """Record that the order was shipped at ``at``."""
        from aftersales_es.app import orders

        order = self.get_order(order_id)
        orders.mark(order, at, "shipped")
        self._save(order)

    def mark_delivered(self, order_id: str, at: datetime) -> None:
        """Record that the order was delivered at ``at``."""
        from aftersales_es.app import orders

        order = self.get_order(order_id)
        orders.mark(order, at, "delivered")
        self._save(order)

    # ---------------------------------------------------------------- cases
    def get_case(self, case_id: str, version: int | None = None) -> Case:
        """The case as it is now, or as it was at ``version``."""
        try:
            case: Case = self.repository.get(
                case_uuid(case_id), version=version, projector_func=fold
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

    def execute(
        self,
        command: cmds.Command | str,
        /,
        *,
        expected_version: int | None = None,
        files: Mapping[str, bytes] | None = None,
        **data: Any,
    ) -> Case:
        """Run one command (a model, or a name plus fields) and return the case.

        A refused command raises and writes nothing. A version conflict with a
        concurrent writer is retried on fresh state a few times, then raised as
        :class:`ConcurrencyError`. With ``expected_version`` the command runs
        only if the case is at that version when it is decided (0: not opened
        yet), else raises :class:`VersionMismatchError` and writes nothing: the
        check is part of the version-checked write, so it holds across
        processes. A keyed command already run answers its first outcome
        whatever the version. ``files`` holds the bytes of the attachments the
        command cites, by digest: written only once the command is decided,
        removed again if its events are not saved (see :mod:`.attachments`).
        """
        from aftersales_es.app import commands as cmds
        from aftersales_es.app.attachments import Staging

        cmd = command if isinstance(command, cmds.Command) else cmds.parse_command(command, data)
        staged = Staging(self.blobs, files)
        staged.check(cmd)
        try:
            return self._run(cmd, expected_version, staged)
        except BaseException:
            staged.undo()
            raise

    def _run(self, cmd: cmds.Command, expected_version: int | None, staged: Staging) -> Case:
        from aftersales_es.app.handlers import StaleError

        fresh = False
        for _ in range(self.max_tries):
            try:
                return self._execute(cmd, fresh, expected_version, staged)
            except (RecordConflictError, StaleError):
                fresh = True  # decide again on state loaded from the store
                continue
            except (CommandRefusedError, AlreadyExistsError, VersionMismatchError):
                # The same keyed command may have just won in another thread or
                # process, changing the state this one was decided on (for
                # apply, creating the case between our key and id look-ups).
                record = find_record(self.repository, cmd)
                if record is None:
                    raise
                record.check(cmd)
                return self.get_case(record.case_id, version=record.case_version)
        raise ConcurrencyError(f"case {cmd.case}: {cmd.name} kept conflicting; try again")

    def _execute(
        self, cmd: cmds.Command, fresh: bool, expected: int | None, staged: Staging
    ) -> Case:
        from aftersales_es.app.handlers import COMMAND_HANDLERS

        record = find_record(self.repository, cmd)
        if record is not None and not record.expired(cmd.at or self.clock(), self.key_retention):
            record.check(cmd)
            return self.get_case(record.case_id, version=record.case_version)
        handler = COMMAND_HANDLERS.get(type(cmd))
        if handler is None:
            raise InvalidInputError(f"command: no handler for {type(cmd).__name__}")
        decision = handler(cmd, self, fresh, expected)
        case, order, extra = decision.case, decision.order, decision.extra
        before = case.version - len(case.pending_events)
        staged.cited_before(cmd, [a for a in case.attachments if a["version"] <= before])
        staged.write()  # the blobs before the events that cite them
        if cmd.idempotency_key is not None:
            if record is None:
                extra.append(CommandRecord.record(cmd, case.version, decision.at))
            else:
                record.renew(cmd, case.version, decision.at)
                extra.append(record)
        try:
            self._save(case, order, *extra, reads=(case, order))
        except RecordConflictError:
            # A taken case id shows up as a conflict on version 1: the retry
            # looks it up instead of every apply paying for a look-up.
            self._conflicted.add(cmd.case)
            raise
        self.rules.saved(case)
        self._keep(case, order)
        return case

    @staticmethod
    def clock() -> datetime:
        """The instant of a command sent without ``at``, read as it is decided
        (after its case is loaded, so never before the case's last event)."""
        return datetime.now(UTC)

    # ------------------------------------------- loading, for the handlers
    def load_case(self, case_id: str, fresh: bool) -> tuple[Case, Order, bool]:
        """The case and its order, and whether either came from the cache
        (never from it when ``fresh``)."""
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

    def load_order(self, order_id: str, fresh: bool) -> tuple[Order, bool]:
        """The order, and whether it came from the cache (never when ``fresh``)."""
        taken = {} if fresh else self._checkout(order_uuid(order_id))
        order: Order = taken.get(order_uuid(order_id)) or self.get_order(order_id)
        return order, bool(taken)

    def check_new_case(self, case_id: str) -> None:
        """Refuse a taken case id, once a save of that id has met a conflict."""
        if case_id in self._conflicted and case_uuid(case_id) in self.repository:
            raise AlreadyExistsError(f"case {case_id!r} already exists")

    # ------------------------------------------------------------ deadlines
    def fire_due(self, now: datetime, index: DueDeadlines | None = None) -> list[Fired]:
        """Fire every deadline due at ``now``, in due order, across all cases.

        Each fires stamped with its own due instant; a deadline that a fired
        one leads to (auto-approve, then auto-close ten days later) fires too
        if it is also due. Cost follows the due deadlines, not the case count.
        ``index`` answers which are due (default: :attr:`deadlines`).
        """
        source = index or self.deadlines
        if source is None:
            raise InvalidInputError("fire_due: no deadline index to ask what is due")
        return sweep_due(now, source.due, self._fire_rows, self.next_due)

    def fire_batch(self, rows: list[Row]) -> list[Outcome]:
        """Fire a leading part of ``rows`` in one transaction (:mod:`.firing`):
        each row's outcome, fired, no longer pending (None) or failed."""
        from aftersales_es.app.firing import fire_batch

        return fire_batch(self, rows)

    def _fire_rows(self, rows: list[Row]) -> list[Fired | None]:
        outcomes = self.fire_batch(rows)
        for outcome in outcomes:
            if isinstance(outcome, AfterSalesError):
                raise outcome  # the others of the batch are saved
        return [o for o in outcomes if not isinstance(o, AfterSalesError)]

    def next_due(self, case_id: str) -> datetime | None:
        """The earliest deadline pending on a case after its latest event.

        From the cache if the case is there; else from its latest event, which
        carries the deadlines pending after it (cheaper than rebuilding it)."""
        cached: Case | None = self._peek(case_uuid(case_id))
        if cached is not None:
            pending = cached.pending_deadline
            return None if pending is None else pending.due
        last = self.recorder.select_events(case_uuid(case_id), desc=True, limit=1)
        dues = [d["due"] for d in getattr(self.mapper.to_domain_event(last[0]), "deadlines", [])]
        return min(dues) if dues else None

    def fire(self, case_id: str, name: str, due: datetime) -> Fired | None:
        """Fire one deadline if it is still pending; None if it no longer is.

        Safe to race: the case re-checks that the deadline is pending and the
        save is version-checked, so two workers yield one event.
        """
        from aftersales_es.app.handlers import StaleError, refusal

        fresh = False
        for _ in range(self.max_tries):
            case, order, cached = self.load_case(case_id, fresh)
            pending = [d for d in case.pending_deadlines if d.name == name and d.due == due]
            try:
                with refusal(self, cached):
                    if not pending:
                        raise DeadlineNotPendingError(f"case {case_id}: {name} not pending")
                    case.fire(Context(order, self.ruleset_of(case)), name=name, due=due)
                self._save(case, order, reads=(case, order))
            except DeadlineNotPendingError:
                return None
            except (RecordConflictError, StaleError):
                fresh = True
                continue
            self._keep(case, order)
            return Fired(case_id, name, due, pending[0].rule)
        raise ConcurrencyError(f"case {case_id}: deadline {name} kept conflicting")
