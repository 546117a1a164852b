"""The routing composition root: a store of N partitions behind the public
interface of :class:`~aftersales_es.engine.AfterSales`.

``AfterSales("postgresql://…?schema=s&partitions=N")`` returns a
:class:`PartitionedAfterSales`: it holds one ``AfterSales`` per partition
(:mod:`aftersales_es.adapters.partitions` says where each lives and fixes N)
and routes every call to the partition that owns it, so that a case and its
order are always written in one partition's transaction, under that
partition's own table lock.

- An order goes to :func:`~aftersales_es.adapters.partitions.partition_of`
  its id; an ``apply`` goes to its order's partition.
- A case is found by its id: the partition whose events hold it (asked once
  per process and remembered: a case never moves). An ``apply`` holds an
  advisory lock on its case id in the first partition's database while it
  checks that no other partition holds the id and writes, so two
  partitions never open the same case id.
- Lists (cases, due deadlines, deductions) ask every partition and merge
  them in the order one store would list them; counts add up.

A partition is a complete store: audit, verify and the read models run
on each (:attr:`partitions`) and their reports are merged by the callers.
"""

from __future__ import annotations

import heapq
import itertools
import threading
import weakref
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from aftersales_es.adapters.location import (
    connect_postgres,
    location,
    partition_count,
    redact,
    store_env,
)
from aftersales_es.adapters.partitions import fix_count, locations, partition_of
from aftersales_es.app import commands as cmds
from aftersales_es.app.ports import Row
from aftersales_es.app.sweep import Fired
from aftersales_es.domain.base import case_uuid
from aftersales_es.domain.errors import AlreadyExistsError, CaseNotFoundError, InvalidInputError


class PartitionedStoreError(InvalidInputError, AttributeError):
    """Something a store of partitions answers per partition only (its event
    log, its recorder): ask one of :attr:`PartitionedAfterSales.partitions`."""


#: Advisory lock class of an ``apply``'s case id (with the id's hash).
APPLY_LOCK = 0x6361


class PartitionedAfterSales:
    """After-sales cases on N partitions (see the module doc)."""

    def __init__(self, make: Callable[..., Any], store: Any, **options: Any) -> None:
        where = location(store)
        self.store = where
        n = partition_count(where)
        fix_count(where, n)
        self.partitions: list[Any] = []
        try:
            for url in locations(where):
                self.partitions.append(make(url, **options))
        except BaseException:
            self.close()
            raise
        self.home = self.partitions[0]
        self._home_url = locations(where)[0]
        self._local = threading.local()
        self._guard = threading.Lock()
        self._lock_conns: list[Any] = []
        # A store dropped without close() still closes its lock connections.
        weakref.finalize(self, _close_all, self._lock_conns)
        self._found: dict[str, Any] = {}
        self.read_models = MergedReadModels(self.partitions)
        self.deadlines = self.read_models
        self.projector = MergedProjector(self.partitions)

    def __getattr__(self, name: str) -> Any:
        # Only reached for what this class does not define: a single store's
        # internals (recorder, repository, events...), which N partitions
        # do not have as one.
        if name.startswith("__") or name == "partitions":
            raise AttributeError(name)
        raise PartitionedStoreError(
            f"{name}: a store of {len(self.partitions)} partitions has one per partition;"
            " this operation works on a store without partitions only"
        )

    def __repr__(self) -> str:
        return f"PartitionedAfterSales({redact(self.store)!r}, {len(self.partitions)} partitions)"

    # ------------------------------------------------------------- routing
    def partition(self, order_id: str) -> Any:
        """The partition that holds ``order_id`` and its cases."""
        return self.partitions[partition_of(order_id, len(self.partitions))]

    def locate(self, case_id: str) -> Any:
        """The partition that holds ``case_id``; :class:`CaseNotFoundError` if none."""
        found = self._found.get(case_id) or self._probe(case_id)
        if found is None:
            raise CaseNotFoundError(case_id)
        return found

    def _probe(self, case_id: str, skip: Any = None) -> Any:
        key = case_uuid(case_id)
        for part in self.partitions:
            if part is not skip and part.recorder.select_events(key, limit=1):
                self._found[case_id] = part
                return part
        return None

    @property
    def key_retention(self) -> Any:
        """How long idempotency keys are remembered (the same in every partition)."""
        return self.home.key_retention

    @key_retention.setter
    def key_retention(self, value: Any) -> None:
        for part in self.partitions:
            part.key_retention = value

    @property
    def sql(self) -> Any:
        """The first partition's SQL: where store-wide tables (tokens) live."""
        return self.home.sql

    @property
    def blobs(self) -> MergedBlobs:
        """Attachment bytes: each partition keeps its cases' files."""
        return MergedBlobs(self.partitions)

    @property
    def mapper(self) -> Any:
        """The partitions' mapper (one configuration for all)."""
        return self.home.mapper

    def close(self) -> None:
        """Close every partition."""
        for part in self.partitions:
            part.close()
        _close_all(getattr(self, "_lock_conns", []))

    # -------------------------------------------------------------- orders
    def register_order(self, facts: Mapping[str, Any] | cmds.RegisterOrder) -> Any:
        """Register an order in its partition."""
        o = facts if isinstance(facts, cmds.RegisterOrder) else cmds.parse_order(dict(facts))
        return self.partition(o.id).register_order(o)

    def get_order(self, order_id: str) -> Any:
        """The order as it is now."""
        return self.partition(order_id).get_order(order_id)

    def mark_shipped(self, order_id: str, at: datetime) -> None:
        """Record that the order was shipped at ``at``."""
        self.partition(order_id).mark_shipped(order_id, at)

    def mark_delivered(self, order_id: str, at: datetime) -> None:
        """Record that the order was delivered at ``at``."""
        self.partition(order_id).mark_delivered(order_id, at)

    def order_parties(self, order_id: str) -> tuple[str, str]:
        """The order's seller and buyer."""
        parties: tuple[str, str] = self.partition(order_id).order_parties(order_id)
        return parties

    # --------------------------------------------------------------- cases
    def execute(
        self,
        command: cmds.Command | str,
        /,
        *,
        expected_version: int | None = None,
        files: Mapping[str, bytes] | None = None,
        **data: Any,
    ) -> Any:
        """Run one command in the partition of its case (an ``apply``: of its
        order); its ``files`` go to that partition's blobs."""
        cmd = command if isinstance(command, cmds.Command) else cmds.parse_command(command, data)
        options = {"expected_version": expected_version, "files": files}
        if not isinstance(cmd, cmds.Apply):
            return self.locate(cmd.case).execute(cmd, **options)
        target = self.partition(cmd.order)
        with self._apply_lock(cmd.case):
            if self._found.get(cmd.case) not in (None, target) or self._probe(cmd.case, target):
                raise AlreadyExistsError(f"case {cmd.case!r} already exists")
            case = target.execute(cmd, **options)
        self._found[cmd.case] = target
        return case

    @contextmanager
    def _apply_lock(self, case_id: str) -> Iterator[None]:
        # On a connection of this thread's own, outside the partitions'
        # pools: an apply holds the lock while it takes connections from them.
        conn = getattr(self._local, "conn", None)
        if conn is None or conn.closed:
            conn = connect_postgres(store_env(self._home_url), autocommit=True)
            self._local.conn = conn
            with self._guard:
                self._lock_conns.append(conn)
        with conn.transaction():
            conn.execute(
                "SELECT pg_advisory_xact_lock(%s, %s)", (APPLY_LOCK, partition_of(case_id, 2**31))
            )
            yield

    def get_case(self, case_id: str, version: int | None = None) -> Any:
        """The case as it is now, or as it was at ``version``."""
        return self.locate(case_id).get_case(case_id, version)

    def case_events(self, case_id: str) -> list[Any]:
        """Every stored event of a case, in order."""
        events: list[Any] = self.locate(case_id).case_events(case_id)
        return events

    def parties(self, case_id: str) -> tuple[str, str]:
        """The case's seller and buyer."""
        parties: tuple[str, str] = self.locate(case_id).parties(case_id)
        return parties

    def ruleset(self, platform: str) -> Any:
        """The rule set new cases on ``platform`` are applied under."""
        return self.home.ruleset(platform)

    def ruleset_of(self, case: Any) -> Any:
        """The rule set a case was applied under."""
        return self.partition(case.order_id).ruleset_of(case)

    def notification_count(self) -> int:
        """How many events the partitions hold together."""
        return sum(int(p.notification_count()) for p in self.partitions)

    # ----------------------------------------------------------- deadlines
    def fire_due(self, now: datetime, index: Any = None) -> list[Fired]:
        """Fire every deadline due at ``now`` in every partition (each in due
        order); what fired, in due order."""
        if index is not None:
            raise InvalidInputError("fire_due: a partitioned store sweeps its own indexes")
        fired = [f for p in self.partitions for f in p.fire_due(now)]
        return sorted(fired, key=lambda f: (f.due, f.case_id, f.name))

    def fire(self, case_id: str, name: str, due: datetime) -> Fired | None:
        """Fire one deadline if it is still pending."""
        fired: Fired | None = self.locate(case_id).fire(case_id, name, due)
        return fired

    def next_due(self, case_id: str) -> datetime | None:
        """The earliest deadline pending on a case."""
        due: datetime | None = self.locate(case_id).next_due(case_id)
        return due

    def due(self, now: datetime, limit: int = 100) -> list[Row]:
        """Deadlines due at ``now``, earliest first, across partitions."""
        return self.read_models.due(now, limit)

    def cases(
        self, state: str | None = None, platform: str | None = None, **page: Any
    ) -> list[dict[str, Any]]:
        """Cases from every partition's read model, in case id order."""
        parts = [self.partition(page["order"])] if page.get("order") else self.partitions
        lists = [p.cases(state, platform, **page) for p in parts]
        merged = heapq.merge(*lists, key=lambda c: c["case_id"])
        return list(itertools.islice(merged, page.get("limit")))

    def deductions(self, seller: str | None = None) -> list[dict[str, Any]]:
        """The seller deduction ledger of every partition, in time order."""
        rows = [r for p in self.partitions for r in p.deductions(seller)]
        return sorted(rows, key=lambda r: (datetime.fromisoformat(r["at"]), r["case_id"]))


class MergedBlobs:
    """The partitions' blob stores, read as one (a file is found where its case is)."""

    def __init__(self, partitions: list[Any]) -> None:
        self.partitions = partitions
        self.where = f"the blobs of {len(partitions)} partitions"

    def get(self, digest: str) -> bytes | None:
        """A file's bytes, from whichever partition holds it."""
        for part in self.partitions:
            data: bytes | None = part.blobs.get(digest)
            if data is not None:
                return data
        return None

    def put(self, digest: str, data: bytes) -> bool:
        """Keep a file no case cites yet (in the first partition); whether it was new."""
        if self.has(digest):
            return False
        stored: bool = self.partitions[0].blobs.put(digest, data)
        return stored

    def delete(self, digest: str) -> None:
        """Remove a file from every partition that holds it."""
        for part in self.partitions:
            if part.blobs.has(digest):
                part.blobs.delete(digest)

    def has(self, digest: str) -> bool:
        """Whether any partition holds the file."""
        return any(part.blobs.has(digest) for part in self.partitions)

    def digests(self) -> Iterator[tuple[str, datetime]]:
        """Every partition's files (digest, when written)."""
        for part in self.partitions:
            yield from part.blobs.digests()


class MergedReadModels:
    """The partitions' read models, asked together (lists merged in order)."""

    def __init__(self, partitions: list[Any]) -> None:
        self.partitions = partitions

    def catch_up(self) -> int:
        """Project every partition's new events; how many in all."""
        return sum(int(p.read_models.catch_up()) for p in self.partitions)

    def due(self, now: datetime, limit: int = 100) -> list[Row]:
        """Deadlines due at ``now``, earliest first (due, case id, name)."""
        lists = [p.read_models.due(now, limit) for p in self.partitions]
        merged = heapq.merge(*lists, key=lambda r: (r[2], r[0], r[1]))
        return list(itertools.islice(merged, limit))

    def deadlines(self, before: datetime | None = None, limit: int = 100) -> list[dict[str, Any]]:
        """Pending deadlines, earliest first."""
        lists = [p.read_models.deadlines(before, limit) for p in self.partitions]
        merged = heapq.merge(*lists, key=_deadline_order)
        return list(itertools.islice(merged, limit))

    def backlog(self, now: datetime) -> dict[str, Any]:
        """What the workers face at ``now``, summed over partitions (oldest
        overdue and next due: the earliest of any partition)."""
        parts = [p.read_models.backlog(now) for p in self.partitions]
        out: dict[str, Any] = {"now": now.isoformat(), "partitions": len(parts)}
        for key in ("pending", "due_now", "events"):
            out[key] = sum(b[key] for b in parts)
        for key in ("oldest_overdue", "next_due"):
            found = [b[key] for b in parts if b[key] is not None]
            out[key] = min(found, key=lambda d: datetime.fromisoformat(d["due"]), default=None)
        out["projected"] = MergedProjector.cursor([b["projected"] for b in parts])
        return out


class MergedProjector:
    """The partitions' projectors, caught up or rebuilt together."""

    def __init__(self, partitions: list[Any]) -> None:
        self.partitions = partitions

    def catch_up(self) -> int:
        """Project every partition's new events; how many in all."""
        return sum(int(p.projector.catch_up()) for p in self.partitions)

    def rebuild(self) -> int:
        """Rebuild every partition's read models from its events."""
        return sum(int(p.projector.rebuild()) for p in self.partitions)

    def position(self) -> str:
        """Each partition's projected position, as a composite cursor."""
        return self.cursor([int(p.projector.position()) for p in self.partitions])

    @staticmethod
    def cursor(positions: list[int]) -> str:
        """A composite cursor: each partition's position, ``.``-separated."""
        return ".".join(str(p) for p in positions)


def _deadline_order(d: dict[str, Any]) -> tuple[datetime, str, str]:
    return datetime.fromisoformat(d["due"]), d["case_id"], d["name"]


def _close_all(connections: list[Any]) -> None:
    for conn in connections:
        conn.close()
