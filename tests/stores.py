"""Where the suite's stores live. SQLite files always; PostgreSQL is added by
the workers issue (see ``pg_available``)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

STORE_PARAMS = ["sqlite"]


def make_store(kind: str, tmp: pytest.TempPathFactory) -> Iterator[str]:
    if kind == "sqlite":
        yield str(tmp.mktemp("store") / "aftersales.db")
        return
    raise ValueError(kind)
