"""The stored view of each case (``adapters.caseviews``): kept on a SQLite
file when asked (the command line asks), written with the events, equal to
the replay, and never used when it is not current, so ``show`` prints the
same thing by either road."""

from __future__ import annotations

import json
import sqlite3
import subprocess
from pathlib import Path
from typing import Any

import pytest

import aftersales_es
from aftersales_es.adapters import caseviews
from aftersales_es.cli.cases import case_view
from aftersales_es.cli.main import main
from aftersales_es.domain.errors import CommandRefusedError
from aftersales_es.engine import CASE_VIEWS, AfterSales
from aftersales_es.sim.simulate import load_scenario, run

from .helpers import order, t
from .stores import cli_args

BODY = f"SELECT body FROM {caseviews.VIEWS} WHERE case_id = ? AND version = 0"
VIEWS_ON = {CASE_VIEWS: "1"}
SCENARIOS = sorted((Path(aftersales_es.__file__).parent / "scenarios").glob("*.yaml"))


def replayed(app: AfterSales, case_id: str) -> dict[str, Any]:
    """The view ``show`` prints when it replays the case, as JSON sees it."""
    view = case_view(app, app.get_case(case_id))
    return json.loads(json.dumps(view, default=str, ensure_ascii=False))


@pytest.fixture
def shop(tmp_path: Path) -> tuple[AfterSales, Path]:
    """Given: a SQLite file with order O1 and case C1 (a Kuaishou return, approved)."""
    path = tmp_path / "shop.db"
    app = AfterSales(path, env=VIEWS_ON)
    order(app)
    app.execute("apply", case="C1", order="O1", kind="return_refund", at=t(days=3))
    app.execute("approve", case="C1", at=t(days=3, hours=1))
    return app, path


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda p: p.stem)
def test_scenario_cases_stored_views_equal_their_replay(
    scenario: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given: a shipped scenario run on a SQLite file (commands, fired deadlines, refusals)
    monkeypatch.setenv(CASE_VIEWS, "1")
    path = tmp_path / "s.db"
    run(load_scenario(scenario), store=str(path))
    app = AfterSales(path)
    # when / then: every case's stored view is the replayed one
    cases = [r["case_id"] for r in app.cases()]
    assert cases
    for case_id in cases:
        assert caseviews.read(path, case_id) == replayed(app, case_id)


def test_deadline_fired_by_the_sweep_updates_the_view_ks4(shop: tuple[AfterSales, Path]) -> None:
    # given: a requested return whose KS-4 48 h answer window runs out
    app, path = shop
    order(app, "O2")
    app.execute("apply", case="C2", order="O2", kind="return_refund", at=t(days=4))
    # when: the sweep fires it
    app.fire_due(t(days=7))
    # then: the stored view shows the automatic approval, as the replay does
    view = caseviews.read(path, "C2")
    assert view is not None
    assert [e["type"] for e in view["events"]] == ["Applied", "Approved"]
    assert (view["events"][1]["auto"], view["events"][1]["rule"]) == (True, "KS-4")
    assert view == replayed(app, "C2")


def test_refused_command_leaves_the_view_as_it_was(shop: tuple[AfterSales, Path]) -> None:
    # given: C1 awaiting the buyer's parcel, its view at version 2
    app, path = shop
    before = caseviews.read(path, "C1")
    # when: a refund is refused in that state
    with pytest.raises(CommandRefusedError):
        app.execute("confirm_receipt", case="C1", at=t(days=3, hours=2))
    # then: the view is untouched
    assert caseviews.read(path, "C1") == before
    assert before is not None and before["version"] == 2


def test_view_behind_the_events_is_not_used(
    shop: tuple[AfterSales, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    # given: an event saved without its view (as a writer from before views would)
    app, path = shop
    app.view_rows = None
    app.execute("withdraw", case="C1", at=t(days=4))
    # when
    found = caseviews.read(path, "C1")
    code = main(["--store", str(path), "--json", "show", "C1"])
    # then: no stored view; show replays and prints the withdrawal
    assert found is None
    assert code == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown == replayed(AfterSales(path), "C1")
    assert [e["type"] for e in shown["events"]][2:] == ["Withdrawn", "Closed"]


def test_view_in_another_format_is_ignored(shop: tuple[AfterSales, Path]) -> None:
    # given: C1's view marked as written by another release
    _, path = shop
    with sqlite3.connect(path) as conn:
        head = json.loads(conn.execute(BODY, ("C1",)).fetchone()[0])
        head["format"] = caseviews.FORMAT + 1
        conn.execute(
            f"UPDATE {caseviews.VIEWS} SET body = ? WHERE case_id = 'C1' AND version = 0",
            (json.dumps(head),),
        )
    # when / then
    assert caseviews.read(path, "C1") is None


def test_store_without_view_tables_reads_none(tmp_path: Path) -> None:
    # given: a SQLite file that is not a store, and one that does not exist
    other = tmp_path / "other.db"
    sqlite3.connect(other).close()
    # when / then
    assert caseviews.read(other, "C1") is None
    assert caseviews.read(tmp_path / "missing.db", "C1") is None


def test_show_on_a_current_view_loads_no_domain(shop: tuple[AfterSales, Path]) -> None:
    # given: C1 with a current stored view
    _, path = shop
    probe = (
        "import sys; from aftersales_es.cli.main import main; code = main(sys.argv[1:]);"
        " loaded = [m for m in ('aftersales_es.domain.events', 'aftersales_es.domain.rules',"
        " 'eventsourcing.application', 'pydantic') if m in sys.modules];"
        " print(loaded, file=sys.stderr); sys.exit(code)"
    )
    argv = cli_args(str(path), "show", "C1")
    # when: show runs in a fresh process
    done = subprocess.run(
        [argv[0], "-c", probe, *argv[3:]], capture_output=True, text=True, check=False
    )
    # then: it printed the case without importing the domain, the store or pydantic
    assert done.returncode == 0, done.stderr
    assert "state awaiting_return" in done.stdout
    assert done.stderr.strip() == "[]"


def test_memory_store_keeps_no_views() -> None:
    # given / when: the in-memory store, which no other process can read, asked for views
    app = AfterSales("memory", env=VIEWS_ON)
    # then: it keeps none
    assert app.view_rows is None


def test_embedding_application_keeps_no_views_unless_asked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given: no AFTERSALES_CASE_VIEWS in the environment
    monkeypatch.delenv(CASE_VIEWS, raising=False)
    app = AfterSales(tmp_path / "api.db")
    order(app)
    # when: a case is applied for through the Python API
    app.execute("apply", case="C1", order="O1", kind="refund_only", at=t(days=3))
    # then: no view is kept (no extra write per save); show replays it
    assert app.view_rows is None
    assert caseviews.read(tmp_path / "api.db", "C1") is None


def test_cli_commands_keep_views(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # given: an order registered through the command line
    monkeypatch.delenv(CASE_VIEWS, raising=False)
    store = str(tmp_path / "cli.db")
    assert main(["--store", store, "order", "register", "O1", "--seller", "S1", "--buyer",
                 "B1", "--platform", "kuaishou", "--amount", "120.00", "--currency", "CNY",
                 "--paid-at", t().isoformat(), "--shipped-at", t(hours=20).isoformat(),
                 "--delivered-at", t(days=2).isoformat()]) == 0  # fmt: skip
    # when: a case is applied for through the command line
    code = main(["--store", store, "apply", "C1", "--order", "O1", "--kind", "refund_only",
                 "--reason", "changed_mind", "--at", t(days=3).isoformat()])  # fmt: skip
    # then: its view is kept and equals the replay
    assert code == 0
    capsys.readouterr()
    assert caseviews.read(store, "C1") == replayed(AfterSales(store), "C1")


def test_cli_views_turned_off_by_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given: AFTERSALES_CASE_VIEWS=0
    monkeypatch.setenv(CASE_VIEWS, "0")
    store = str(tmp_path / "off.db")
    # when: the command line registers an order
    code = main(["--store", store, "order", "register", "O1", "--seller", "S1", "--buyer",
                 "B1", "--platform", "kuaishou", "--amount", "120.00", "--currency", "CNY",
                 "--paid-at", t().isoformat()])  # fmt: skip
    # then: the store it opened keeps no views
    from aftersales_es.cli.common import views_env

    assert code == 0
    assert AfterSales(store, env=views_env()).view_rows is None
