"""The scenario's virtual clock: pending deadlines fired as time passes.

A scenario (:mod:`.simulate`) runs on a fresh private store that its own
commands alone write, so every pending deadline is on a case one of its
commands or firings returned. The clock keeps them in a heap instead of
catching the read-model projector up and querying the deadline index before
every step, which cost more than the step itself (issue 5).
"""

from __future__ import annotations

import heapq
from datetime import datetime

from .application import AfterSales
from .case import Case


class Clock:
    """The scenario's pending deadlines, fired in due order as time passes.

    It mirrors the deadline index (:data:`.projections.DEADLINES`) for a store
    the scenario alone writes: :meth:`seen` records each case a command or a
    firing returns. :meth:`fire_due` makes exactly the ``fire`` calls, in the
    same order, as :meth:`.AfterSales.fire_due` would on that index: batches
    of the first ``BATCH`` due rows (due, then case id, then name), a row
    tried once not tried again, and a new query when a firing leads to a
    deadline earlier than the rest of the batch.
    """

    BATCH = 100  # AfterSales.due's page (it decides where equal-due chains fire)

    def __init__(self, app: AfterSales) -> None:
        self.app = app
        # case id -> {name: (due, token)}; a heap entry is live while its
        # token is still the one indexed (a stale one is skipped when popped).
        self._index: dict[str, dict[str, tuple[datetime, int]]] = {}
        self._heap: list[tuple[datetime, str, str, int]] = []
        self._versions: dict[str, int] = {}
        self._tokens = 0

    def seen(self, case: Case) -> None:
        """Index the deadlines of ``case`` as saved (an older version is ignored)."""
        if case.version <= self._versions.get(case.case_id, 0):
            return  # an idempotent replay answers with the version it wrote then
        self._versions[case.case_id] = case.version
        old = self._index.get(case.case_id, {})
        new: dict[str, tuple[datetime, int]] = {}
        for d in case.pending_deadlines:
            kept = old.get(d.name)
            if kept is not None and kept[0] == d.due:
                new[d.name] = kept  # the same row: its heap entry stays live
                continue
            self._tokens += 1
            new[d.name] = (d.due, self._tokens)
            heapq.heappush(self._heap, (d.due, case.case_id, d.name, self._tokens))
        self._index[case.case_id] = new

    def _live(self, entry: tuple[datetime, str, str, int]) -> bool:
        due, case_id, name, token = entry
        return self._index.get(case_id, {}).get(name) == (due, token)

    def _due(self, now: datetime) -> list[tuple[datetime, str, str, int]]:
        """Take the first ``BATCH`` live entries due at ``now`` off the heap."""
        rows: list[tuple[datetime, str, str, int]] = []
        heap = self._heap
        while heap and len(rows) < self.BATCH and heap[0][0] <= now:
            entry = heapq.heappop(heap)
            if self._live(entry):
                rows.append(entry)
        return rows

    def fire_due(self, now: datetime) -> None:
        """Fire every deadline due at ``now``, as :meth:`.AfterSales.fire_due` does."""
        if not self._heap or self._heap[0][0] > now:
            return  # the common case: nothing due before this step
        tried: set[tuple[str, str, datetime]] = set()
        while True:
            rows = self._due(now)
            try:
                batch = [r for r in rows if (r[1], r[2], r[0]) not in tried]
                if not batch:
                    return
                chained: datetime | None = None  # earliest deadline a firing led to
                for due, case_id, name, _ in batch:
                    if chained is not None and chained < due:
                        break  # it comes before the rest of the batch: take again
                    tried.add((case_id, name, due))
                    if self.app.fire(case_id, name, due) is not None:
                        case = self.app.get_case(case_id)
                        self.seen(case)
                        nxt = case.pending_deadline
                        if nxt and nxt.due <= now and (chained is None or nxt.due < chained):
                            chained = nxt.due
            finally:
                # Rows still indexed (not fired, tried, or left after a break)
                # go back: they are taken again, in order, by the next query.
                for entry in rows:
                    if self._live(entry):
                        heapq.heappush(self._heap, entry)
