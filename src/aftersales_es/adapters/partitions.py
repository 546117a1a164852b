"""A PostgreSQL store made of N partitions: where each lives, which one owns
an order, and the record that fixes N.

``postgresql://…/db?schema=s&partitions=N`` names a store of N partitions.
Partition ``i`` is a complete store of its own (eventsourcing application,
events table, hash chain, read models) in the schema ``s_p{i}`` of the same
database, or, with ``&hosts=h1:5432,h2:5432``, of the same database name on
server ``hosts[i % len(hosts)]``. The schema ``s`` itself holds only the
record of N (:data:`RECORD`), written when the store is created; opening it
with another N, or opening it without ``partitions=``, is refused with one
line, because the routing below would then send orders to other partitions
than the ones that hold them.

An order, and every case applied on it, lives in partition
:func:`partition_of`: the first 8 bytes of the SHA-256 of the order id
(UTF-8), as an unsigned big-endian integer, modulo N. It is stable across
processes, machines and Python versions (never Python's ``hash()``).
"""

from __future__ import annotations

import hashlib
import re
from typing import Any
from urllib.parse import parse_qs, urlencode, urlparse

from aftersales_es.adapters.location import (
    StoreLocationError,
    connect_postgres,
    partition_count,
    redact,
)

#: Where a partitioned store records its partition count (in its base schema).
RECORD = "aftersales_partitions"
_HOST = re.compile(r"^[A-Za-z0-9.\-]+(:\d{1,5})?$")


def partition_of(order_id: str, n: int) -> int:
    """The partition that holds ``order_id`` (see the module doc)."""
    digest = hashlib.sha256(order_id.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") % n


def base(where: str) -> tuple[str, str]:
    """The base schema's URL (no ``partitions``/``hosts``) and its schema name."""
    url = urlparse(where)
    query = parse_qs(url.query)
    schema = query.get("schema", ["public"])[0]
    return url._replace(query=urlencode({"schema": schema})).geturl(), schema


def locations(where: str) -> list[str]:
    """The store URL of each partition, in partition order."""
    n = partition_count(where)
    url = urlparse(where)
    query = parse_qs(url.query)
    _, schema = base(where)
    hosts = [h for h in query.get("hosts", [""])[0].split(",") if h]
    for host in hosts:
        if not _HOST.match(host):
            raise StoreLocationError(
                f"store {redact(where)}: hosts: {host!r} is not host or host:port"
            )
    if len(schema) + len(f"_p{n - 1}") > 63:
        raise StoreLocationError(
            f"store {redact(where)}: schema {schema!r} is too long for partition"
            f" schemas like {schema}_p{n - 1} (at most 63 characters)"
        )
    out = []
    for i in range(n):
        netloc = url.netloc
        if hosts:
            creds = url.netloc.rpartition("@")[0]
            netloc = f"{creds}@{hosts[i % len(hosts)]}" if creds else hosts[i % len(hosts)]
        part = url._replace(netloc=netloc, query=urlencode({"schema": f"{schema}_p{i}"}))
        out.append(part.geturl())
    return out


def fix_count(where: str, n: int) -> None:
    """Record ``n`` in the base schema if the store is new; refuse, with one
    line, a store recorded with another count or holding a store without
    partitions. One short transaction on a connection of its own."""
    from psycopg import sql

    from aftersales_es.adapters.location import probe_postgres, store_env

    url, schema = base(where)
    env = store_env(url)
    probe_postgres(env, redact(where))  # the server's own reason if it cannot connect
    shown = redact(where)
    record = sql.Identifier(schema, RECORD)
    with connect_postgres(env) as conn:
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (0x70617274,))  # "part"
        conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema)))
        conn.execute(
            sql.SQL("CREATE TABLE IF NOT EXISTS {} (name TEXT PRIMARY KEY, value TEXT)").format(
                record
            )
        )
        row = conn.execute(sql.SQL("SELECT value FROM {} WHERE name = 'count'").format(record))
        found = row.fetchone()
        if found is None:
            events = conn.execute("SELECT to_regclass(%s)", (f'"{schema}".aftersales_events',))
            if events.fetchone()[0] is not None:
                raise StoreLocationError(
                    f"store {shown}: schema {schema} holds a store without partitions;"
                    " open it without partitions="
                )
            conn.execute(
                sql.SQL("INSERT INTO {} (name, value) VALUES ('count', %s)").format(record),
                (str(n),),
            )
            return
    if int(found[0]) != n:
        raise StoreLocationError(
            f"store {shown}: it has {found[0]} partitions, not {n}; open it with"
            f" partitions={found[0]} (the count is fixed when a store is created)"
        )


def refuse_partitioned(sql: Any, shown: str) -> None:
    """Refuse to open, as one store, the base schema of a partitioned store."""
    with sql.read() as cur:
        cur.execute("SELECT to_regclass(?)", (f'"{sql.schema}".{RECORD}',))
        if cur.fetchone()[0] is None:
            return
        cur.execute(f"SELECT value FROM {RECORD} WHERE name = 'count'")
        row = cur.fetchone()
    if row is not None:
        raise StoreLocationError(
            f"store {shown}: it is a store of {row[0]} partitions; open it with partitions={row[0]}"
        )
