"""Blob stores: where attachment bytes live, named by the sha256 of their content.

Three adapters of :class:`aftersales_es.app.ports.BlobStore`, chosen by the
store location (:func:`open_blobs`):

* :class:`FolderBlobs` beside a SQLite file ``shop.db``: the folder
  ``shop.db.blobs/``, one file per content at ``ab/abcdef...`` (the first two
  hex digits fan the files out). A file is written to a temporary name,
  flushed to disk, then renamed, so a reader never sees half a file.
* :class:`TableBlobs` in PostgreSQL: the table ``aftersales_blobs`` in the
  store's schema, beside the events.
* :class:`MemoryBlobs` for the ``memory`` store.

None of them checks content against its name: the service does when it
writes, and ``aftersales verify`` does for every stored blob a case cites.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

from aftersales_es.adapters.sql import SqlStore

#: The PostgreSQL table of blobs (in the store's schema).
BLOBS_TABLE = "aftersales_blobs"


def _now() -> datetime:
    # When a blob was written: only to spare a fresh one from garbage collection.
    return datetime.now(UTC)


class FolderBlobs:
    """Blobs as files in a folder (the default, beside a SQLite store)."""

    def __init__(self, folder: str | os.PathLike[str]) -> None:
        self.folder = Path(folder)
        self.where = str(self.folder)

    def _path(self, digest: str) -> Path:
        return self.folder / digest[:2] / digest

    def put(self, digest: str, data: bytes) -> bool:
        path = self._path(digest)
        if path.exists():
            return False
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        return True

    def get(self, digest: str) -> bytes | None:
        try:
            return self._path(digest).read_bytes()
        except FileNotFoundError:
            return None

    def has(self, digest: str) -> bool:
        return self._path(digest).is_file()

    def delete(self, digest: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self._path(digest).unlink()

    def digests(self) -> Iterator[tuple[str, datetime]]:
        if not self.folder.is_dir():
            return
        for sub in sorted(self.folder.iterdir()):
            if not sub.is_dir():
                continue
            for path in sorted(sub.iterdir()):
                if not path.name.startswith("."):
                    yield path.name, datetime.fromtimestamp(path.stat().st_mtime, UTC)


class TableBlobs:
    """Blobs as rows of a PostgreSQL table in the store's schema."""

    def __init__(self, sql: SqlStore) -> None:
        self.sql = sql
        self.where = f"table {sql.schema}.{BLOBS_TABLE}"
        self._ready = False

    def _table(self) -> None:
        if not self._ready:
            self.sql.script(
                [
                    f"CREATE TABLE IF NOT EXISTS {BLOBS_TABLE} (digest TEXT PRIMARY KEY,"
                    " size BIGINT NOT NULL, data BYTEA NOT NULL,"
                    " written_at TIMESTAMPTZ NOT NULL)"
                ]
            )
            self._ready = True

    def put(self, digest: str, data: bytes) -> bool:
        self._table()
        with self.sql.write() as cur:
            cur.execute(
                f"INSERT INTO {BLOBS_TABLE} (digest, size, data, written_at) VALUES (?, ?, ?, ?)"
                " ON CONFLICT (digest) DO NOTHING RETURNING digest",
                (digest, len(data), data, _now()),
            )
            return cur.fetchone() is not None

    def get(self, digest: str) -> bytes | None:
        self._table()
        with self.sql.read() as cur:
            cur.execute(f"SELECT data FROM {BLOBS_TABLE} WHERE digest = ?", (digest,))
            row = cur.fetchone()
        return None if row is None else bytes(row[0])

    def has(self, digest: str) -> bool:
        self._table()
        with self.sql.read() as cur:
            cur.execute(f"SELECT 1 FROM {BLOBS_TABLE} WHERE digest = ?", (digest,))
            return cur.fetchone() is not None

    def delete(self, digest: str) -> None:
        self._table()
        with self.sql.write() as cur:
            cur.execute(f"DELETE FROM {BLOBS_TABLE} WHERE digest = ?", (digest,))

    def digests(self) -> Iterator[tuple[str, datetime]]:
        self._table()
        with self.sql.read() as cur:
            cur.execute(f"SELECT digest, written_at FROM {BLOBS_TABLE} ORDER BY digest")
            rows = cur.fetchall()
        for digest, written in rows:
            yield str(digest), written


class MemoryBlobs:
    """Blobs in a dict, for the ``memory`` store (gone when the process ends)."""

    where = "memory"

    def __init__(self) -> None:
        self._blobs: dict[str, tuple[bytes, datetime]] = {}
        self._lock = threading.Lock()

    def put(self, digest: str, data: bytes) -> bool:
        with self._lock:
            if digest in self._blobs:
                return False
            self._blobs[digest] = (data, _now())
            return True

    def get(self, digest: str) -> bytes | None:
        found = self._blobs.get(digest)
        return None if found is None else found[0]

    def has(self, digest: str) -> bool:
        return digest in self._blobs

    def delete(self, digest: str) -> None:
        with self._lock:
            self._blobs.pop(digest, None)

    def digests(self) -> Iterator[tuple[str, datetime]]:
        for digest, (_, written) in sorted(self._blobs.items()):
            yield digest, written


def blob_folder(sqlite_path: str) -> Path:
    """The blob folder of a SQLite store: ``shop.db`` -> ``shop.db.blobs``."""
    return Path(f"{sqlite_path}.blobs")


def open_blobs(env: dict[str, str], sql: SqlStore) -> FolderBlobs | TableBlobs | MemoryBlobs:
    """The blob store beside the event store that ``env`` (store settings) names."""
    if env.get("PERSISTENCE_MODULE") == "eventsourcing.postgres":
        return TableBlobs(sql)
    name = env.get("SQLITE_DBNAME", "")
    if not name or name.startswith("file:") or name == ":memory:":
        return MemoryBlobs()
    return FolderBlobs(blob_folder(name))
