"""Where a store lives: read a ``--store`` location, check it, turn it into settings.

Accepted forms: a SQLite file path, ``memory``, and
``postgresql://user:password@host:port/database?schema=name``, optionally
with ``&partitions=N`` (and ``&hosts=h1:5432,h2:5432``) for a store of N
partitions (:mod:`.partitions`). Everything
a user can get wrong about a location is reported here as one line that
names the problem and the fix, before eventsourcing opens anything:
:class:`StoreLocationError` for a location that cannot be right as typed
(exit status 2 at the CLI), :class:`StoreUnavailableError` for a store
that the machine cannot open now (exit status 1).
"""

from __future__ import annotations

import os
import re
import stat
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlparse

from aftersales_es.domain.errors import AfterSalesError, InvalidInputError

DEFAULT_STORE = "aftersales.db"
ACCEPTED = "a SQLite file path, 'memory', or postgresql://user@host:5432/database?schema=name"
#: Seconds to wait for a PostgreSQL server before reporting it unreachable.
CONNECT_TIMEOUT = 5
_SCHEMA = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*):")
_SQLITE_MAGIC = b"SQLite format 3\x00"


class StoreLocationError(InvalidInputError):
    """The store location is malformed or names something that is not a store."""


class StoreUnavailableError(AfterSalesError):
    """The store exists as named but cannot be opened now (server, permissions)."""

    exit_code = 1


def location(store: str | os.PathLike[str] | None) -> str:
    """The location in force: ``store``, else ``$AFTERSALES_STORE``, else ``./aftersales.db``."""
    if store is not None:
        return str(store)
    return os.environ.get("AFTERSALES_STORE") or DEFAULT_STORE


def is_postgres(where: str) -> bool:
    return where.startswith(("postgresql://", "postgres://"))


def store_env(store: str | os.PathLike[str] | None) -> dict[str, str]:
    """eventsourcing settings for a store location (see the module doc).

    Raises :class:`StoreLocationError` for an unknown scheme (``mysql://``,
    ``sqlite:///``), a bad port or an invalid schema name.
    """
    where = location(store)
    if where in ("memory", ":memory:"):
        name = f"file:aftersales-{uuid.uuid4().hex}?mode=memory&cache=shared"
        return {"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": name}
    if is_postgres(where):
        return _postgres_env(where)
    scheme = _SCHEME.match(where)
    if scheme and len(scheme.group(1)) > 1:  # "C:" is a Windows drive, not a scheme
        raise StoreLocationError(
            f"store {where!r}: unknown scheme {scheme.group(1)}://; use {ACCEPTED}"
        )
    if not where.strip():
        raise StoreLocationError(f"store: empty location; use {ACCEPTED}")
    return {
        "PERSISTENCE_MODULE": "eventsourcing.sqlite",
        "SQLITE_DBNAME": str(Path(where)),
        "SQLITE_LOCK_TIMEOUT": "30",
    }


def _postgres_env(where: str) -> dict[str, str]:
    url = urlparse(where)
    try:
        port = url.port or 5432
    except ValueError:
        raise StoreLocationError(
            f"store {_redact(where)}: the port must be a number from 1 to 65535"
        ) from None
    query = parse_qs(url.query)
    unknown = sorted(set(query) - {"schema", "partitions", "hosts"})
    if unknown:
        raise StoreLocationError(
            f"store {_redact(where)}: unknown parameter {unknown[0]!r}; only ?schema=NAME,"
            " &partitions=N and &hosts=HOST:PORT,... are read"
        )
    partition_count(where)
    env = {
        "PERSISTENCE_MODULE": "eventsourcing.postgres",
        "POSTGRES_DBNAME": (url.path or "/postgres").lstrip("/") or "postgres",
        "POSTGRES_HOST": url.hostname or "127.0.0.1",
        "POSTGRES_PORT": str(port),
        "POSTGRES_USER": unquote(url.username or "postgres"),
        "POSTGRES_PASSWORD": unquote(url.password or ""),
        "POSTGRES_LOCK_TIMEOUT": "10",
        "POSTGRES_POOL_SIZE": "2",
        "POSTGRES_MAX_OVERFLOW": "8",
        # A pool that cannot get a connection gives up within seconds, not
        # after eventsourcing's default 30 s.
        "POSTGRES_CONNECT_TIMEOUT": str(CONNECT_TIMEOUT),
    }
    if "schema" in query:
        schema = query["schema"][0]
        if not _SCHEMA.match(schema):
            raise StoreLocationError(
                f"store {_redact(where)}: schema {schema!r} is not a plain identifier;"
                " use letters, digits and _ (at most 63, not starting with a digit)"
            )
        env["POSTGRES_SCHEMA"] = schema
    return env


def _redact(where: str) -> str:
    """The URL without its password, for messages."""
    return re.sub(r"(://[^:/@]*:)[^@]*@", r"\1***@", where)


redact = _redact
#: The most partitions a store may have.
MAX_PARTITIONS = 256


def partition_count(where: str) -> int:
    """How many partitions a store location asks for: ``partitions=N`` of a
    PostgreSQL URL, else 1; a malformed count is refused."""
    if not is_postgres(where):
        return 1
    values = parse_qs(urlparse(where).query).get("partitions")
    if not values:
        return 1
    raw = values[0]
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_PARTITIONS:
        raise StoreLocationError(
            f"store {_redact(where)}: partitions={raw!r}; give a whole number"
            f" from 1 to {MAX_PARTITIONS}"
        )
    return int(raw)


def check_location(store: str | os.PathLike[str] | None, *, must_exist: bool) -> None:
    """Refuse, with one line, a location that cannot be opened as asked.

    ``must_exist``: the command only reads, so a missing store is a mistyped
    location, never a reason to create an empty one.
    """
    where = location(store)
    env = store_env(where)
    if env["PERSISTENCE_MODULE"] == "eventsourcing.postgres":
        probe_postgres(env, _redact(where))
    elif not env["SQLITE_DBNAME"].startswith("file:"):
        _check_sqlite(Path(env["SQLITE_DBNAME"]), must_exist=must_exist)


def _check_sqlite(path: Path, *, must_exist: bool) -> None:
    shown = str(path)
    if not path.exists():
        folder = path.parent if str(path.parent) else Path(".")
        if must_exist:
            raise StoreLocationError(
                f"store {shown}: no such store; check --store (or $AFTERSALES_STORE),"
                " or create it with a writing command"
            )
        if not folder.is_dir():
            raise StoreLocationError(
                f"store {shown}: folder {folder} does not exist; create it or fix --store"
            )
        if not os.access(folder, os.W_OK | os.X_OK):
            raise StoreUnavailableError(
                f"store {shown}: cannot create a file in {folder} (permission denied);"
                " choose a writable folder"
            )
        return
    mode = path.stat().st_mode
    if stat.S_ISDIR(mode):
        raise StoreLocationError(
            f"store {shown}: is a folder; name a file in it, like {shown}/aftersales.db"
        )
    if not stat.S_ISREG(mode):
        raise StoreLocationError(f"store {shown}: not a regular file; name a SQLite file")
    if not os.access(path, os.R_OK):
        raise StoreUnavailableError(f"store {shown}: cannot read it (permission denied)")
    with path.open("rb") as f:
        head = f.read(len(_SQLITE_MAGIC))
    if head and head != _SQLITE_MAGIC:
        raise StoreUnavailableError(
            f"store {shown}: not an SQLite database; check --store or restore it from a backup"
        )
    if not head and must_exist:
        raise StoreLocationError(f"store {shown}: the file is empty, not a store; check --store")
    if not os.access(path, os.W_OK) or not os.access(path.parent, os.W_OK | os.X_OK):
        what = path if not os.access(path, os.W_OK) else path.parent
        raise StoreUnavailableError(
            f"store {shown}: {what} is read-only; SQLite needs to write the file and its"
            " folder (even to read, for its journal): fix the permissions or copy it"
        )


def connect_postgres(env: Mapping[str, str], *, autocommit: bool = False) -> Any:
    """A direct psycopg connection (outside eventsourcing's pools) to the server
    a store's environment (:func:`store_env`) names, given up after
    ``CONNECT_TIMEOUT`` seconds."""
    import psycopg

    return psycopg.connect(
        dbname=env["POSTGRES_DBNAME"],
        host=env["POSTGRES_HOST"],
        port=env["POSTGRES_PORT"],
        user=env["POSTGRES_USER"],
        password=env["POSTGRES_PASSWORD"],
        connect_timeout=CONNECT_TIMEOUT,
        autocommit=autocommit,
    )


def probe_postgres(env: dict[str, str], shown: str) -> None:
    """Connect once, directly, so that the server's own reason is reported
    (the pool would only say it timed out)."""
    import psycopg

    try:
        conn = connect_postgres(env)
    except psycopg.Error as exc:
        reason = " ".join(str(exc).split())
        raise StoreUnavailableError(f"store {shown}: cannot connect: {reason}") from None
    conn.close()
