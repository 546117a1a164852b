"""A deadline index in memory, for a scenario's private store.

A scenario (:mod:`.simulate`) runs on a fresh store that it alone writes, so
every pending deadline is on a case it saved. :class:`DueIndex` keeps them in
a heap, fed by each save, and answers :meth:`.AfterSales.fire_due` exactly as
the read-model deadline index would, without catching the projector up
before every step (which cost more than the step itself).
"""

from __future__ import annotations

import heapq
from datetime import datetime

from aftersales_es.domain.case import Case


class DueIndex:
    """Pending deadlines by due instant: the in-memory twin of the deadline read model."""

    def __init__(self) -> None:
        # case id -> {name: (due, token)}; a heap entry is live while its
        # token is still the one indexed (a stale one is dropped when met).
        self._index: dict[str, dict[str, tuple[datetime, int]]] = {}
        self._heap: list[tuple[datetime, str, str, int]] = []
        self._tokens = 0

    def seen(self, case: Case) -> None:
        """Index the deadlines of ``case`` as just saved."""
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

    def due(self, now: datetime, limit: int = 100) -> list[tuple[str, str, datetime]]:
        """Deadlines due at ``now`` (case id, name, due), earliest first, as
        :meth:`.AfterSales.due` orders them (due instant, case id, name)."""
        heap = self._heap
        live: list[tuple[datetime, str, str, int]] = []
        while heap and len(live) < limit and heap[0][0] <= now:
            entry = heapq.heappop(heap)
            if self._index.get(entry[1], {}).get(entry[2]) == (entry[0], entry[3]):
                live.append(entry)
        for entry in live:  # they stay pending until a save says otherwise
            heapq.heappush(heap, entry)
        return [(case_id, name, due) for due, case_id, name, _ in live]
