"""The front door: every mistake a user can make at the command line ends in
one line naming what is wrong and how to fix it, exit status 2 (input) or 1
(environment), no traceback, and nothing written.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse

import pytest

from aftersales_es.cli.main import main
from aftersales_es.engine import AfterSales

from .helpers import order, t
from .stores import pg_url, require_pg

AT = ["--at", t(days=3).isoformat()]


def fails(capsys: pytest.CaptureFixture[str], argv: list[str], status: int, *words: str) -> str:
    """Then: the command exits ``status`` with one line on stderr naming ``words``."""
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse's usage errors
        code = int(exc.code or 0)
    err = capsys.readouterr().err
    assert code == status, err
    assert len(err.strip().splitlines()) == 1, err
    assert "Traceback" not in err
    for word in words:
        assert word in err, f"{word!r} not in {err!r}"
    return err


@pytest.fixture
def db(tmp_path: Path) -> Iterator[str]:
    """Given: a SQLite store with order O1 and case C1 (requested)."""
    path = str(tmp_path / "shop.db")
    app = AfterSales(path)
    order(app)
    app.execute("apply", case="C1", order="O1", kind="return_refund", at=t(days=3))
    app.close()
    yield path


def count(path: str) -> int:
    app = AfterSales(path)
    try:
        return app.notification_count()
    finally:
        app.close()


# ------------------------------------------------------------------ stores
@pytest.mark.parametrize(
    ("store", "words"),
    [
        ("mysql://u@h/db", ("unknown scheme mysql://", "postgresql://")),
        ("sqlite:///x.db", ("unknown scheme sqlite://", "SQLite file path")),
        ("postgresql://u@h:port/db", ("port must be a number",)),
        ("postgresql://u@h/db?schema=bad;drop", ("not a plain identifier",)),
        ("postgresql://u@h/db?sslmode=x", ("unknown parameter 'sslmode'",)),
    ],
)
def test_malformed_store_location_is_refused_with_the_accepted_forms(
    store: str, words: tuple[str, ...], capsys: pytest.CaptureFixture[str]
) -> None:
    fails(capsys, ["--store", store, "list"], 2, *words)


def test_store_in_a_missing_folder_is_refused_and_not_created(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = tmp_path / "nofolder" / "x.db"
    argv = ["--store", str(store), "order", "register", "O1", "--seller", "S", "--buyer", "B",
            "--platform", "kuaishou", "--amount", "1.00", "--currency", "CNY",
            "--paid-at", t().isoformat()]  # fmt: skip
    fails(capsys, argv, 2, "folder", "does not exist")
    assert not store.parent.exists()


READ_ONLY = [
    ["show", "C1"], ["list"], ["history", "C1"], ["audit"], ["verify"], ["deductions"],
    ["status"], ["order", "list"], ["export", "C1"], ["events"], ["order", "show", "O1"],
]  # fmt: skip


@pytest.mark.parametrize("command", READ_ONLY)
def test_read_only_command_refuses_a_store_that_does_not_exist(
    command: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = tmp_path / "typo.db"
    fails(capsys, ["--store", str(store), *command], 2, "no such store")
    assert not store.exists()


@pytest.mark.parametrize(
    ("content", "status", "words"),
    [
        (os.urandom(4096), 1, ("not an SQLite database",)),
        (b"", 2, ("empty",)),
    ],
)
def test_a_file_that_is_not_a_store_is_refused(
    content: bytes,
    status: int,
    words: tuple[str, ...],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    path = tmp_path / "junk.db"
    path.write_bytes(content)
    fails(capsys, ["--store", str(path), "show", "C1"], status, *words)
    assert path.read_bytes() == content


def test_truncated_store_is_reported_in_one_line(
    db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cut = tmp_path / "cut.db"
    cut.write_bytes(Path(db).read_bytes()[:3000])
    fails(capsys, ["--store", str(cut), "list"], 1, "store", "malformed")


@pytest.mark.parametrize("where", ["folder", "/dev/null"])
def test_folder_or_device_as_store_is_refused(
    where: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = str(tmp_path) if where == "folder" else where
    fails(capsys, ["--store", store, "list"], 2, "store")


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes read-only files anyway")
def test_read_only_store_is_refused_before_writing(
    db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    os.chmod(db, 0o444)
    fails(capsys, ["--store", db, "approve", "C1", *AT], 1, "read-only")


def _pg(**parts: str) -> str:
    u = urlparse(pg_url())
    host, port = parts.get("host", u.hostname or "127.0.0.1"), parts.get("port", str(u.port))
    user, db = parts.get("user", u.username or "postgres"), parts.get("db", u.path.lstrip("/"))
    return f"postgresql://{user}@{host}:{port}/{db}"


@pytest.mark.parametrize(
    ("parts", "words"),
    [
        ({"port": "1"}, ("cannot connect", "refused")),
        ({"user": "nobody_here"}, ("cannot connect", "nobody_here")),
        ({"db": "no_such_db_here"}, ("cannot connect", "no_such_db_here", "does not exist")),
        ({"host": "no-such-host.invalid"}, ("cannot connect", "no-such-host.invalid")),
    ],
)
def test_unreachable_postgresql_is_reported_with_the_servers_reason(
    parts: dict[str, str], words: tuple[str, ...], capsys: pytest.CaptureFixture[str]
) -> None:
    require_pg()  # the reasons come from a real server
    fails(capsys, ["--store", _pg(**parts), "list"], 1, *words)


# ------------------------------------------------------------------ options
@pytest.mark.parametrize(
    "argv",
    [
        ["propose", "C1", "--kind", "exchange", "--offline", "maybe"],
        ["rule", "C1", "--in-favour-of", "buyer", "--seller-liable", "maybe"],
    ],
)
def test_yes_no_option_takes_only_true_or_false(
    argv: list[str], db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    before = count(db)
    fails(capsys, ["--store", db, *argv, *AT], 2, "'maybe' is not true or false")
    assert count(db) == before


def test_yes_no_option_as_a_flag_and_as_a_word(db: str, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["--store", db, "--json", "propose", "C1", "--kind", "exchange", "--offline", *AT]
    assert main(argv) == 0
    assert '"offline": true' in capsys.readouterr().out


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["worker", "--poll", "0"], ("greater than 0",)),
        (["worker", "--poll", "-1"], ("greater than 0",)),
        (["worker", "--poll", "nan"], ("greater than 0",)),
        (["worker", "--batch", "0"], ("at least 1",)),
        (["events", "--follow", "--poll", "-1"], ("greater than 0",)),
        (["demo", "--cases", "-5"], ("at least 1",)),
        (["list", "--limit", "0"], ("at least 1",)),
        (["history", "C1", "--version", "0"], ("at least 1",)),
        (["order", "list", "--after", "-1"], ("at least 0",)),
        (["worker", "--batch", "many"], ("not a number",)),
    ],
)
def test_numeric_option_out_of_range_is_refused(
    argv: list[str], words: tuple[str, ...], db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    before = count(db)
    fails(capsys, ["--store", db, *argv], 2, *words)
    assert count(db) == before


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["order", "shipped", "O1", "--at", "garbage"], ("not an ISO 8601 time",)),
        (["fire-due", "--now", "garbage"], ("not an ISO 8601 time",)),
        (["approve", "C1", "--at", "2026-05-14T10:00:00"], ("needs a timezone offset",)),
        (["list", "--state", "refundedd"], ("invalid choice", "refunded")),
        (["list", "--platform", "amazon"], ("unknown", "kuaishou")),
        (["order", "register", "O9", "--buyer", "B"], ("required", "--seller")),
        (["apply", "C2", "--order", "O1", "--kind", "refund"], ("invalid choice",)),
    ],
)
def test_bad_value_gets_one_line_naming_it(
    argv: list[str], words: tuple[str, ...], db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    before = count(db)
    err = fails(capsys, ["--store", db, *argv], 2, *words)
    assert "NoneType" not in err
    assert count(db) == before


@pytest.mark.parametrize(
    ("facts", "words"),
    [
        ({"--shipped-at": t(hours=-1)}, ("shipped_at", "before the order was paid")),
        (
            {"--shipped-at": t(days=2), "--delivered-at": t(days=1)},
            ("before the order was shipped",),
        ),
    ],
)
def test_order_facts_in_impossible_order_are_refused_at_registration(
    facts: dict[str, object], words: tuple[str, ...], db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["--store", db, "order", "register", "O9", "--seller", "S1", "--buyer", "B1",
            "--platform", "kuaishou", "--amount", "10.00", "--currency", "CNY",
            "--paid-at", t().isoformat()]  # fmt: skip
    for flag, when in facts.items():
        argv += [flag, when.isoformat()]  # type: ignore[attr-defined]
    before = count(db)
    fails(capsys, argv, 2, *words)
    assert count(db) == before


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["diagrams", "--out", "{tmp}/list.json/x"], ("is a file, not a folder",)),
        (["export", "C1", "-o", "{tmp}/missing/x.jsonl"], ("does not exist",)),
        (["verify", "--against", "{tmp}/list.json"], ("not an anchor file",)),
        (["replay", "{tmp}/missing.jsonl"], ("cannot read",)),
    ],
)
def test_files_that_cannot_be_used_get_one_line(
    argv: list[str],
    words: tuple[str, ...],
    db: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    (tmp_path / "list.json").write_text("[1, 2]")
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    fails(capsys, ["--store", db, *argv], 2, *words)


# ------------------------------------------------------------------ demo
def test_demo_refuses_a_store_that_holds_data_unless_forced(
    db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    before = count(db)
    fails(capsys, ["--store", db, "demo", "--cases", "2"], 2, "already holds data", "--force")
    assert count(db) == before
    assert main(["--store", db, "demo", "--cases", "2", "--force"]) == 0
    assert count(db) > before


def test_demo_on_a_new_store_prints_its_tables(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--store", str(tmp_path / "demo.db"), "demo", "--cases", "3"]) == 0
    out = capsys.readouterr().out
    assert "Cases per state per platform" in out and "Timeline of case" in out


def test_ctrl_c_ends_in_one_line_and_status_130(tmp_path: Path) -> None:
    # given: a long demo running in its own process
    store = tmp_path / "demo.db"
    cmd = [sys.executable, "-m", "aftersales_es.cli", "--store", str(store), "demo"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while not store.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.5)  # well inside the demo's commands
    # when: the user presses Ctrl-C
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    # then
    assert proc.returncode == 130, err
    assert err.decode().strip() == "interrupted"
