"""The deadline sweep: the one loop that fires due deadlines in due order.

Both :meth:`.CaseService.fire_due` (in process) and the
:class:`~aftersales_es.app.worker.Worker` (across processes, with claims)
run :func:`sweep`; they differ only in how a round learns what is due and
in when they stop. A deadline that a fired one leads to (auto-approve at
48 h, then auto-close ten days later) enters the index only once the fire is
saved, so a round ends early when such a deadline is due before the rest of
its rows, and the next round asks again: deadlines fire in due order.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import datetime

from aftersales_es.app.ports import Row

#: One round: the instant it sweeps at and the rows due then (a context, so
#: that a worker can hold its claim on them while they fire).
Round = AbstractContextManager[tuple[datetime, list[Row]]]


@dataclass(frozen=True)
class Fired:
    """A deadline that a sweep fired."""

    case_id: str
    name: str
    due: datetime
    rule: str


def _never() -> bool:
    return False


def sweep(
    rounds: Callable[[], Round],
    fire: Callable[[list[Row]], list[bool]],
    next_due: Callable[[str], datetime | None],
    *,
    stopped: Callable[[], bool] = _never,
    pause: Callable[[], bool] = _never,
) -> int:
    """Fire every due deadline in due order; how many fired.

    Each round asks ``rounds()`` what is due and hands its rows, in order, to
    ``fire(rows)``, which fires a leading part of them (at least one; a
    batch shares one transaction, see :mod:`.firing`) and says for each
    whether it fired (False: it was no longer pending, or failed and stays
    for a later sweep; a row is tried once per sweep). ``next_due(case_id)``
    is the earliest deadline still pending on a case just fired. The sweep
    ends when a round has nothing new, or when ``stopped()``; ``pause()``
    ends a round early (a worker letting go of its claim) without ending
    the sweep.
    """
    done = 0
    tried: set[Row] = set()
    while not stopped():
        with rounds() as (now, rows):
            batch = [row for row in rows if row not in tried]
            if not batch:
                return done
            chained: datetime | None = None  # earliest deadline a fire led to
            while batch and not pause():
                if chained is not None and chained < batch[0][2]:
                    break  # it comes before the rest of the round: ask again
                results = fire(batch)
                for row, fired in zip(batch, results, strict=False):
                    tried.add(row)
                    if not fired:
                        continue
                    done += 1
                    nxt = next_due(row[0])
                    if nxt is not None and nxt <= now and (chained is None or nxt < chained):
                        chained = nxt
                batch = batch[max(1, len(results)) :]
    return done


def sweep_due(
    now: datetime,
    due: Callable[[datetime], list[Row]],
    fire: Callable[[list[Row]], list[Fired | None]],
    next_due: Callable[[str], datetime | None],
) -> list[Fired]:
    """In process, without claims: fire every deadline ``due(now)`` answers,
    and any due one that a fire leads to, with ``fire`` (a batch at a time,
    as :meth:`.CaseService.fire_many` fires them); what fired."""
    fired: list[Fired] = []

    @contextmanager
    def rounds() -> Iterator[tuple[datetime, list[Row]]]:
        yield now, due(now)

    def fire_rows(rows: list[Row]) -> list[bool]:
        results = fire(rows)
        fired.extend(r for r in results if r is not None)
        return [r is not None for r in results]

    sweep(rounds, fire_rows, next_due)
    return fired
