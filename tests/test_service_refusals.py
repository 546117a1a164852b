"""Refusals the service makes before a case decides: unknown or duplicate ids
(found in the store: on both stores) and invalid command input (checked by the
command models: one SQLite store is enough). Nothing is written.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from aftersales_es.domain.case import Case
from aftersales_es.domain.errors import (
    AlreadyExistsError,
    CaseNotFoundError,
    InvalidInputError,
    NotFoundError,
)
from aftersales_es.engine import AfterSales

from .helpers import event_types, order, refused, t

APPLIED = t(days=3)


def at(hours: float) -> Any:
    return APPLIED + timedelta(hours=hours)


def apply(
    app: AfterSales,
    kind: str = "refund_only",
    case: str = "C1",
    order_id: str = "O1",
    when: Any = APPLIED,
    **args: Any,
) -> Case:
    return app.execute("apply", case=case, order=order_id, at=when, kind=kind, **args)


@pytest.fixture
def sqlite_app(tmp_path: Path) -> Iterator[AfterSales]:
    """The service on one SQLite file: for checks that do not depend on the store."""
    application = AfterSales(tmp_path / "aftersales.db")
    yield application
    application.close()


# ------------------------------------------------------ unknown / duplicate
def test_command_on_unknown_case_refused(app: AfterSales) -> None:
    order(app)
    with refused(app, CaseNotFoundError, "C9"):
        app.execute("approve", case="C9", at=at(1))


def test_application_on_unknown_order_refused(app: AfterSales) -> None:
    with refused(app, NotFoundError, "O9"):
        apply(app, order_id="O9")


def test_duplicate_case_id_refused(app: AfterSales) -> None:
    order(app)
    order(app, "O2")
    apply(app, amount="50.00")
    with refused(app, AlreadyExistsError, "C1"):
        apply(app, order_id="O2", when=at(1), amount="10.00")
    assert event_types(app, "C1") == ["Applied"]


def test_duplicate_order_id_refused(app: AfterSales) -> None:
    order(app)
    with refused(app, AlreadyExistsError, "O1"):
        order(app)


@pytest.mark.parametrize(
    ("command", "args", "words"),
    [
        ("approve_all", {}, ("unknown command",)),
        ("reject", {"reason": 5}, ("reason",)),
        ("rule", {"in_favour_of": "nobody"}, ("in_favour_of",)),
        ("escalate", {"by": "platform"}, ("by",)),
    ],
)
def test_invalid_command_input_refused(
    sqlite_app: AfterSales, command: str, args: dict[str, Any], words: tuple[str, ...]
) -> None:
    order(sqlite_app)
    apply(sqlite_app, amount="50.00")
    with refused(sqlite_app, InvalidInputError, *words):
        sqlite_app.execute(command, case="C1", at=at(1), **args)


def test_amount_with_too_many_decimals_refused(sqlite_app: AfterSales) -> None:
    order(sqlite_app)
    with refused(sqlite_app, InvalidInputError, "amount", "decimals"):
        apply(sqlite_app, amount="10.001")


def test_naive_time_refused(sqlite_app: AfterSales) -> None:
    order(sqlite_app)
    with refused(sqlite_app, InvalidInputError, "at"):
        apply(sqlite_app, when=APPLIED.replace(tzinfo=None))
