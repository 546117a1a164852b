"""How an aggregate's last digest reaches its next save without reading the store.

The application keeps the chain head of every aggregate version it has
loaded or saved (:class:`ChainHeads`, keyed by id and checked by version).
Loading folds the digests over the stored bytes the load reads anyway
(:class:`ChainedEventStore`); a snapshot carries the head at its version
(``_chain_head`` in its state, taken off again when it is read); a save
folds the bytes it wrote. The next save of that version passes the head to
the recorder, which continues the chain in the insert transaction.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Sequence
from typing import Any
from uuid import UUID

from eventsourcing.domain import DomainEventProtocol, Snapshot
from eventsourcing.persistence import AggregateRecorder, EventStore, Mapper, StoredEvent

from aftersales_es.adapters.recorders import GENESIS, as_uuid, link

#: Where a snapshot keeps the chain head at its version.
SNAPSHOT_HEAD = "_chain_head"


class ChainHeads:
    """Chain heads by aggregate id: (version, digest), least recently used dropped."""

    def __init__(self, size: int) -> None:
        self._heads: OrderedDict[UUID, tuple[int, str]] = OrderedDict()
        self._lock = threading.Lock()
        self._size = max(size, 1000)

    def get(self, uuid: UUID, version: int) -> str | None:
        """The digest of ``uuid``'s event ``version``, if known (GENESIS for 0)."""
        if version == 0:
            return GENESIS
        with self._lock:
            found = self._heads.get(uuid)
        return found[1] if found is not None and found[0] == version else None

    def put(self, uuid: UUID, version: int, digest: str) -> None:
        with self._lock:
            self._heads[uuid] = (version, digest)
            self._heads.move_to_end(uuid)
            while len(self._heads) > self._size:
                self._heads.popitem(last=False)

    def fold(self, stored: Iterable[StoredEvent]) -> None:
        """Advance the heads over events just written (in version order per aggregate)."""
        for s in stored:
            uuid = as_uuid(s.originator_id)
            prev = self.get(uuid, s.originator_version - 1)
            if prev is not None:
                self.put(uuid, s.originator_version, link(prev, uuid, *_fields(s)))


def _fields(s: StoredEvent) -> tuple[int, str, bytes]:
    return s.originator_version, s.topic, bytes(s.state)


def fold_stored(stored: Sequence[StoredEvent], prev: str) -> str:
    """The chain head after ``stored`` (one aggregate's events in order) from ``prev``."""
    for s in stored:
        prev = link(prev, as_uuid(s.originator_id), *_fields(s))
    return prev


class ChainedEventStore(EventStore[UUID]):
    """eventsourcing's event store, noting the chain head of what it loads."""

    def __init__(
        self,
        mapper: Mapper[UUID],
        recorder: AggregateRecorder,
        heads: ChainHeads,
        *,
        snapshots: bool = False,
    ) -> None:
        super().__init__(mapper, recorder)
        self.heads = heads
        self.snapshots = snapshots

    def put(self, domain_events: Sequence[Any], **kwargs: Any) -> Any:
        if self.snapshots:  # a snapshot carries the head at its version
            for snapshot in domain_events:
                head = self.heads.get(snapshot.originator_id, snapshot.originator_version)
                if head is not None and isinstance(snapshot, Snapshot):
                    snapshot.state[SNAPSHOT_HEAD] = head
        return super().put(domain_events, **kwargs)

    def get(
        self,
        originator_id: UUID,
        *,
        gt: int | None = None,
        lte: int | None = None,
        desc: bool = False,
        limit: int | None = None,
    ) -> Iterator[DomainEventProtocol[UUID]]:
        stored = self.recorder.select_events(
            originator_id=originator_id, gt=gt, lte=lte, desc=desc, limit=limit
        )
        if self.snapshots:
            return map(self._snapshot, stored)
        if desc:
            return map(self.mapper.to_domain_event, stored)
        return self._folding(originator_id, gt or 0, stored)

    def _snapshot(self, stored: StoredEvent) -> DomainEventProtocol[UUID]:
        snapshot = self.mapper.to_domain_event(stored)
        head = getattr(snapshot, "state", {}).pop(SNAPSHOT_HEAD, None)
        if head is not None:
            self.heads.put(as_uuid(stored.originator_id), stored.originator_version, head)
        return snapshot

    def _folding(
        self, uuid: UUID, after: int, stored: Sequence[StoredEvent]
    ) -> Iterator[DomainEventProtocol[UUID]]:
        decode = self.mapper.to_domain_event
        prev = self.heads.get(uuid, after)
        for s in stored:
            yield decode(s)
            if prev is not None:
                prev = link(prev, uuid, *_fields(s))
        if prev is not None and stored:
            self.heads.put(uuid, stored[-1].originator_version, prev)
