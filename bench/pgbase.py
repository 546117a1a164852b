"""PostgreSQL baselines and the table-lock meter for workload 6.

Baselines, each in a schema of its own on the same server, run in the same
process as ours, a chunk of commands at a time in rotating order (as
workload 1 does on SQLite): (a) the bare eventsourcing ``Ticket`` on
eventsourcing's PostgreSQL recorder (get + one event + save, the same
``LOCK TABLE ... IN EXCLUSIVE MODE`` per insert); (b) raw psycopg, one
``stored_events``-shaped row per transaction (no table lock: the server's
own limit for one-row commits).

:class:`LockMeter` samples ``pg_locks`` every few milliseconds from a
connection of its own: the number of transactions waiting (not granted) for
a lock on an events table. The mean of the samples is the time-average
number waiting, L; by Little's law the mean wait of a write transaction is
W = L / λ, λ being the write transactions per second.
"""

from __future__ import annotations

import json
import threading
import time
from decimal import Decimal
from typing import Any

from .bare import Tickets, ticket_id
from .commands import ACTOR


def actor_of(name: str) -> str:
    return ACTOR.get(name, "seller")


EVENTS_TABLE = "aftersales_events"


def pg_env(url: str, schema: str) -> dict[str, str]:
    """eventsourcing's PostgreSQL settings for ``schema`` (no chained recorder)."""
    from aftersales_es.adapters.location import store_env

    return store_env(f"{url}?schema={schema}")


class BarePg:
    """Baseline (a) on PostgreSQL: the bare eventsourcing ``Ticket``."""

    def __init__(self, url: str, schema: str) -> None:
        self.app = Tickets(pg_env(url, schema))

    def __call__(self, cmds: list[tuple[str, dict[str, Any]]]) -> None:
        for name, data in cmds:
            if name == "apply":
                amount = Decimal(data.get("amount") or "0")
                self.app.open(data["case"], data["kind"], amount, data["at"])
            else:
                self.app.move(data["case"], name, actor_of(name), data["at"])

    def close(self) -> None:
        self.app.close()


class RawPg:
    """Baseline (b): one raw psycopg row per transaction."""

    def __init__(self, url: str, schema: str) -> None:
        import psycopg

        self.conn = psycopg.connect(url, autocommit=True)
        self.table = f'"{schema}".raw_events'
        self.conn.execute(
            f"CREATE TABLE {self.table} (originator_id uuid NOT NULL,"
            " originator_version bigint NOT NULL, topic text, state bytea,"
            " notification_id bigserial, PRIMARY KEY (originator_id, originator_version))"
        )
        self.versions: dict[Any, int] = {}

    def __call__(self, cmds: list[tuple[str, dict[str, Any]]]) -> None:
        insert = f"INSERT INTO {self.table} VALUES (%s, %s, %s, %s)"
        for name, data in cmds:
            key = ticket_id(data["case"])
            version = self.versions.get(key, 0) + 1
            at = data["at"].isoformat()
            payload = {"timestamp": at, "at": at, "actor": actor_of(name), "state": name}
            state = json.dumps(payload, separators=(",", ":")).encode()
            with self.conn.transaction():
                self.conn.execute(insert, (key, version, f"bench.bare:Ticket.{name}", state))
            self.versions[key] = version

    def close(self) -> None:
        self.conn.close()


class LockMeter:
    """Samples how many transactions wait on an events table lock (see the module doc)."""

    def __init__(self, url: str, schema_prefix: str, every: float = 0.005) -> None:
        self.url = url
        self.prefix = schema_prefix
        self.every = every
        self.samples: list[int] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> LockMeter:
        self._thread.start()
        return self

    def __exit__(self, *_: Any) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        import psycopg

        sql = (
            "SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation"
            " JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE NOT l.granted AND c.relname = %s AND n.nspname LIKE %s"
        )
        with psycopg.connect(self.url, autocommit=True) as conn:
            while not self._stop.wait(self.every):
                row = conn.execute(sql, (EVENTS_TABLE, self.prefix + "%")).fetchone()
                self.samples.append(int(row[0]) if row else 0)

    @property
    def waiting(self) -> float:
        """L: the mean number of transactions waiting for the table lock."""
        return sum(self.samples) / max(1, len(self.samples))


def little(waiting: float, txns: int, wall: float) -> float:
    """W = L / λ: the mean lock wait per write transaction, in ms."""
    rate = txns / wall if wall else 0.0
    return 1000 * waiting / rate if rate else 0.0


def now() -> float:
    return time.perf_counter()
