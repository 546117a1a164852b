"""The service layer's shape: commands reach their handler through one map
keyed by command type, the shared sweep fires in due order, and the public
entry points stay where embedders import them."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta

import pytest

from aftersales_es.app import commands as cmds
from aftersales_es.app.handlers import COMMAND_HANDLERS
from aftersales_es.app.ports import Row
from aftersales_es.app.sweep import sweep
from aftersales_es.domain.errors import InvalidInputError
from aftersales_es.engine import AfterSales

from .helpers import order, t


def test_every_command_name_has_a_handler_keyed_by_its_type() -> None:
    """Given the public command vocabulary, then each command type maps to a
    handler, and the map holds nothing else."""
    assert set(COMMAND_HANDLERS) == set(cmds.COMMANDS.values())


class Nudge(cmds.Approve):
    """A command type no handler is registered for."""


def test_command_type_without_handler_is_refused_and_writes_nothing(app: AfterSales) -> None:
    """Given an open case, when a command of a type missing from the handler
    map is run, then it is refused as invalid input and nothing is written
    (dispatch goes by type, never by the command's name)."""
    order(app)
    app.execute("apply", case="C1", order="O1", at=t(days=3), kind="refund_only", amount="10")
    before = app.notification_count()
    with pytest.raises(InvalidInputError, match="no handler for Nudge"):
        app.execute(Nudge(case="C1", at=t(days=3, hours=1)))
    assert app.notification_count() == before
    assert app.get_case("C1").state == "requested"


def test_sweep_follows_a_chained_deadline_before_the_rest_of_its_round() -> None:
    """Given a round listing A (day 1) and B (day 5), when firing A leads to
    A2 due on day 3, then the round stops before B, the next round asks
    again, and the deadlines fire in due order: A, A2, B."""
    now = datetime(2026, 1, 10)
    pending: dict[Row, None] = {("A", "x", datetime(2026, 1, 1)): None}
    pending[("B", "x", datetime(2026, 1, 5))] = None
    fired: list[Row] = []

    @contextmanager
    def rounds() -> Iterator[tuple[datetime, list[Row]]]:
        yield now, sorted(pending, key=lambda r: r[2])

    def fire(rows: list[Row]) -> list[bool]:  # one row at a time (a batch of one)
        row = rows[0]
        del pending[row]
        fired.append(row)
        if row[0] == "A" and row[1] == "x":
            pending[("A", "y", datetime(2026, 1, 3))] = None
        return [True]

    def next_due(case_id: str) -> datetime | None:
        return min((r[2] for r in pending if r[0] == case_id), default=None)

    assert sweep(rounds, fire, next_due) == 3
    assert [(r[0], r[1]) for r in fired] == [("A", "x"), ("A", "y"), ("B", "x")]


def test_sweep_tries_a_failing_row_once_per_sweep() -> None:
    """Given a due row whose fire keeps failing, when a sweep runs, then it is
    tried once and the sweep ends (it stays due for the next sweep)."""
    row: Row = ("A", "x", datetime(2026, 1, 1))
    tries: list[Row] = []

    @contextmanager
    def rounds() -> Iterator[tuple[datetime, list[Row]]]:
        yield row[2] + timedelta(days=1), [row]

    def fire(rows: list[Row]) -> list[bool]:
        tries.extend(rows)
        return [False] * len(rows)

    assert sweep(rounds, fire, lambda case_id: None) == 0
    assert tries == [row]


def test_cli_import_leaves_the_engine_unloaded_and_package_exports_aftersales() -> None:
    """Given a fresh interpreter, when the CLI package is imported, then the
    engine is not loaded; ``from aftersales_es import AfterSales`` then gives
    the same class as its other addresses."""
    code = (
        "import sys, aftersales_es.cli\n"
        "assert 'aftersales_es.engine' not in sys.modules\n"
        "from aftersales_es import AfterSales\n"
        "from aftersales_es.application import AfterSales as A2\n"
        "from aftersales_es.engine import AfterSales as A3\n"
        "assert AfterSales is A2 is A3\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
