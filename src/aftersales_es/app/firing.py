"""Firing several due deadlines in one transaction.

A deadline fired alone costs three reads (the case's snapshot query, its
events, its order's events) and one write transaction, whose commit and (on
PostgreSQL) table lock dominate. :func:`fire_batch` reads the cases of a
batch in one query and their orders in another, decides each firing on its
own aggregates, and saves every decided firing in one transaction:

- each firing's effect (its case's and its order's new events) stays
  atomic: it is in the transaction whole, and the transaction commits whole
  or not at all;
- a firing that is refused or fails while it decides (its deadline is no
  longer pending, its rule set cannot be read...) drops its own aggregates
  and leaves the others in the batch;
- a write that fails (a command changed one of the cases since it was read:
  a version conflict) writes nothing, and every decided firing of the batch
  is fired again alone (:meth:`.CaseService.fire`, which re-checks that the
  deadline is pending): none is lost, none is written twice.

Firings keep their due order: a batch never holds two firings on the same
case or order (cases on one order share its refund total), and it stops
before the first row due after a deadline that one of its firings led to
(an auto-approve's auto-close, an arbitration's ship-back); the sweep hands
the rest to the next batch, after that deadline.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any, Protocol
from uuid import UUID

from eventsourcing.persistence import RecordConflictError

from aftersales_es.app.handlers import StaleError
from aftersales_es.app.ports import Row
from aftersales_es.app.sweep import Fired
from aftersales_es.domain.base import TimedAggregate, case_uuid, order_uuid
from aftersales_es.domain.case import Case, Context
from aftersales_es.domain.errors import AfterSalesError, CaseNotFoundError, OrderNotFoundError
from aftersales_es.domain.rules import RuleSet

#: What firing one row came to: fired, no longer pending (None), or failed.
Outcome = Fired | None | AfterSalesError
#: Firings per transaction at most (a worker's claim is 25 rows by default).
BATCH = 25


class Firing(Protocol):
    """What :func:`fire_batch` needs of the service."""

    def load_many(self, ids: Sequence[UUID]) -> dict[UUID, Any]:
        """Aggregates folded from their stored events, read in one query."""
        ...

    def ruleset_of(self, case: Case) -> RuleSet:
        """The rule set a case was applied under."""
        ...

    def fire(self, case_id: str, name: str, due: Any) -> Fired | None:
        """Fire one deadline alone, re-checking that it is pending."""
        ...

    def _save(self, *aggregates: TimedAggregate, reads: Iterable[TimedAggregate] = ()) -> None: ...

    def _keep(self, *aggregates: TimedAggregate) -> None: ...


def fire_batch(svc: Firing, rows: Sequence[Row], limit: int = BATCH) -> list[Outcome]:
    """Fire a leading part of ``rows`` (at least one row) in one transaction;
    the outcome of each row fired, in order (see the module doc)."""
    rows = list(rows[:limit])
    cases = svc.load_many([case_uuid(r[0]) for r in rows])
    orders = svc.load_many(sorted({order_uuid(c.order_id) for c in cases.values()}))
    outcomes: list[Outcome] = []
    decided: list[tuple[int, Row, Case, Any]] = []
    used: set[UUID] = set()
    chained: datetime | None = None  # the earliest deadline a firing led to
    for row in rows:
        if chained is not None and chained < row[2]:
            break  # a firing led to a deadline due before this row: it fires first
        case: Case | None = cases.get(case_uuid(row[0]))
        order = None if case is None else orders.get(order_uuid(case.order_id))
        keys = set() if case is None else {case.id, order_uuid(case.order_id)}
        if keys & used:
            break  # same case or order as an earlier firing: the next batch's
        used |= keys
        outcome = _decide(svc, row, case, order)
        outcomes.append(outcome)
        if isinstance(outcome, Fired):
            decided.append((len(outcomes) - 1, row, case, order))  # type: ignore[arg-type]
            pending = case.pending_deadline  # type: ignore[union-attr]
            if pending is not None and (chained is None or pending.due < chained):
                chained = pending.due
    if not decided:
        return outcomes
    saved = [a for _, _, case, order in decided for a in (case, order)]
    try:
        svc._save(*saved, reads=saved)
    except (RecordConflictError, StaleError):
        for i, row, _, _ in decided:  # nothing was written: each again, alone
            outcomes[i] = _alone(svc, row)
        return outcomes
    svc._keep(*saved)
    return outcomes


def _decide(svc: Firing, row: Row, case: Case | None, order: Any) -> Outcome:
    """Fire ``row`` on its in-memory case (nothing saved yet)."""
    case_id, name, due = row
    if case is None:
        return CaseNotFoundError(case_id)
    if order is None:
        return OrderNotFoundError(case.order_id)
    pending = [d for d in case.pending_deadlines if d.name == name and d.due == due]
    if not pending:
        return None
    try:
        case.fire(Context(order, svc.ruleset_of(case)), name=name, due=due)
    except AfterSalesError as exc:
        return exc
    return Fired(case_id, name, due, pending[0].rule)


def _alone(svc: Firing, row: Row) -> Outcome:
    try:
        return svc.fire(*row)
    except AfterSalesError as exc:
        return exc
