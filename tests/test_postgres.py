"""PostgreSQL as the scale-out store: schemas, startup races, the
scenario suite, the due index, and the CI rule for a missing server.

Every ``app``/``store`` test of the suite also runs here (``tests/stores.py``);
these are the checks that only make sense on the server.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import aftersales_es
from aftersales_es.engine import AfterSales
from aftersales_es.readmodels.projector import DEADLINES
from aftersales_es.sim.simulate import load_scenario, run

from .helpers import order, t
from .stores import ROOT, finish, pg_admin, pg_schema, py_args, require_pg, spawn

pytestmark = pytest.mark.postgres

SCENARIOS = sorted((Path(aftersales_es.__file__).parent / "scenarios").glob("*.yaml"))


def test_two_schemas_are_two_stores_ks1() -> None:
    """Given a case in one schema, then a store on another schema of the same
    database sees neither its events nor its read-model rows (KS-1 deadline)."""
    with pg_schema() as one, pg_schema() as two:
        a, b = AfterSales(one), AfterSales(two)
        try:
            order(a)
            a.execute(
                "apply", case="C1", order="O1", at=t(days=3), kind="refund_only",
                amount="50.00", reason="changed_mind",
            )  # fmt: skip
            assert [r["case_id"] for r in a.cases()] == ["C1"]
            assert [d[0] for d in a.due(t(days=6))] == ["C1"]
            assert (b.cases(), b.due(t(days=6)), b.notification_count()) == ([], [], 0)
        finally:
            a.close()
            b.close()


def test_six_processes_opening_a_fresh_schema_at_once_all_succeed() -> None:
    """When six processes create the tables of one fresh schema at the same
    moment, then none fails (concurrent CREATE TABLE/TYPE/FUNCTION is retried
    and the read-model DDL runs under an advisory lock)."""
    with pg_schema() as url:
        code = f"""
            from aftersales_es.engine import AfterSales
            app = AfterSales({url!r})
            assert app.cases() == []
            app.close()
        """
        procs = [spawn(py_args(code)) for _ in range(6)]
        for p in procs:
            finish(p)


@pytest.mark.parametrize("path", SCENARIOS, ids=[p.stem for p in SCENARIOS])
def test_scenario_on_postgres_gives_the_same_output_as_on_sqlite(path: Path) -> None:
    """The engine's scenario suite on PostgreSQL: byte-for-byte the output of
    the default store (which test_scenarios checks against expectations)."""
    require_pg()
    scenario = load_scenario(path)
    with pg_schema() as url:
        assert run(scenario, store=url) == run(scenario)


def test_due_deadlines_are_found_through_the_due_index() -> None:
    """The worker's claim reads the index on due time, not the whole table:
    its cost follows the due deadlines, not the pending ones."""
    with pg_schema() as url:
        app = AfterSales(url)
        try:
            with app.sql.read() as cur:
                cur.execute("SET LOCAL enable_seqscan = off")
                cur.execute(
                    f"EXPLAIN SELECT case_id, name, due FROM {DEADLINES} WHERE due_utc <= ?"
                    " ORDER BY due_utc, case_id, name LIMIT 25 FOR UPDATE SKIP LOCKED",
                    ("2026-06-01T00:00:00.000000Z",),
                )
                plan = "\n".join(r[0] for r in cur.fetchall())
        finally:
            app.close()
    assert f"{DEADLINES}_due" in plan, plan


@pytest.mark.parametrize(("ci", "code", "outcome"), [("true", 1, "error"), ("", 0, "skipped")])
def test_missing_server_fails_in_ci_and_skips_elsewhere(ci: str, code: int, outcome: str) -> None:
    """Without a PostgreSQL server the PostgreSQL cases are skipped with a clear
    message, except with ``CI=true``, where they fail."""
    env = {**os.environ, "AFTERSALES_TEST_PG": "postgresql://postgres@127.0.0.1:9/none", "CI": ci}
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-rsf",
         "tests/test_smoke.py", "-k", "postgres"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    summary = proc.stdout.strip().splitlines()[-1]
    assert proc.returncode == code, proc.stdout[-2000:]
    assert outcome in summary and "passed" not in summary, summary
    assert "PostgreSQL not reachable at postgresql://postgres@127.0.0.1:9/none" in proc.stdout


def test_a_schema_named_in_the_url_is_created_on_first_use() -> None:
    """Given a URL naming a schema that does not exist yet, then opening the
    store creates it with the tables, as on a fresh database."""
    with pg_schema() as url:
        fresh = url.replace("schema=t_", "schema=new_")
        try:
            app = AfterSales(fresh)
            order(app)
            assert app.get_order("O1").order_id == "O1" and app.cases() == []
            app.close()
        finally:
            pg_admin(f'DROP SCHEMA IF EXISTS "{fresh.rsplit("=", 1)[1]}" CASCADE')
