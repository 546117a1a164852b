"""Shared fixtures: a real store per test (SQLite file by default; PostgreSQL
where the suite is parametrized over ``store``)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from aftersales_es.engine import AfterSales

from .desk import Desk
from .stores import STORE_PARAMS, make_store


@pytest.fixture(params=STORE_PARAMS)
def store(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """A fresh, empty store location for one test."""
    skip_partitioned(request, request.param)
    yield from make_store(request.param, tmp_path_factory)


def skip_partitioned(request: pytest.FixtureRequest, kind: str) -> None:
    """Skip a ``single_store`` test on a store of partitions."""
    if kind == "postgres-3" and request.node.get_closest_marker("single_store"):
        pytest.skip("reads one store's own tables: each partition is such a store")


@pytest.fixture
def app(store: str) -> Iterator[AfterSales]:
    """The application on a fresh store."""
    application = AfterSales(store)
    yield application
    application.close()


@pytest.fixture
def desk() -> Desk:
    """Orders and cases in memory, without a store: for the domain's rules."""
    return Desk()
