"""Encryption at rest: with eventsourcing's AES cipher on, personal
data (buyer ids, notes, rejection reasons, tracking numbers) exists only
inside encrypted payloads. Ids are uuid5 of the caller's case and order ids
and topics are class paths; the read models hold no personal data. A wrong,
missing or malformed key fails with a clear :class:`StoreKeyError`.

Settings (from the environment, or ``AfterSales(..., env=...)``):
``CIPHER_TOPIC=eventsourcing.cryptography:AESCipher``, ``CIPHER_KEY`` (base64,
from ``AESCipher.create_key(32)``), optionally
``COMPRESSOR_TOPIC=eventsourcing.compressor:ZlibCompressor``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from eventsourcing.cryptography import AESCipher

from aftersales_es.domain.errors import StoreKeyError
from aftersales_es.engine import AfterSales

from .helpers import order, t
from .stores import pg_schema

AES = "eventsourcing.cryptography:AESCipher"
ZLIB = "eventsourcing.compressor:ZlibCompressor"
BUYERS = [f"buyer-pii-{n:04d}-wanjiru" for n in range(3)]
NOTES = [f"call me on 0722{n:06d} at 14 Moi Avenue flat {n}" for n in range(3)]
TRACKING = [f"SF{n:04d}77881234CN" for n in range(3)]
REASONS = ["buyer was rude to our agent Otieno"]
#: One note per event of a long case, so that its snapshot (every 50) holds them too.
LONG_NOTES = [f"evidence-secret-{n:03d}" for n in range(55)]
SECRETS = BUYERS + NOTES + TRACKING + REASONS + LONG_NOTES


def cipher_env(key: str | None = None, *, compress: bool = True) -> dict[str, str]:
    env = {"CIPHER_TOPIC": AES, "CIPHER_KEY": key or AESCipher.create_key(32)}
    if compress:
        env["COMPRESSOR_TOPIC"] = ZLIB
    return env


def seed(app: AfterSales) -> None:
    """Given: three cases carrying buyer ids, waybills, notes and a rejection reason,
    and one dispute long enough to be snapshotted."""
    for n, buyer in enumerate(BUYERS):
        order(app, f"O{n}", buyer=buyer)
        case = f"C{n}"
        app.execute(
            "apply", case=case, order=f"O{n}", at=t(days=3), kind="return_refund",
            amount="60.00", reason="quality_issue",
        )  # fmt: skip
        app.execute("approve", case=case, at=t(days=3, hours=1))
        app.execute(
            "ship_back", case=case, at=t(days=3, hours=2), carrier="SF", tracking_number=TRACKING[n]
        )
        app.execute("escalate", case=case, at=t(days=3, hours=3), by="buyer")
        app.execute("submit_evidence", case=case, at=t(days=3, hours=4), note=NOTES[n])
    order(app, "O9", buyer="B9")
    app.execute(
        "apply", case="C9", order="O9", at=t(days=3), kind="refund_only",
        amount="10.00", reason="other",
    )  # fmt: skip
    app.execute(
        "reject",
        case="C9",
        at=t(days=3, hours=1),
        category="other",
        buyer_contacted=True,
        reason=REASONS[0],
    )
    app.execute("escalate", case="C9", at=t(days=3, hours=2), by="buyer")
    for i, note in enumerate(LONG_NOTES):
        app.execute("submit_evidence", case="C9", at=t(days=3, hours=3, minutes=i), note=note)
    app.projector.catch_up()  # the read models are in the scanned file too


def raw_bytes(path: Path) -> bytes:
    """The database file and its WAL and shared-memory files, as stored on disk."""
    files = [path, Path(f"{path}-wal"), Path(f"{path}-shm")]
    return b"".join(f.read_bytes() for f in files if f.exists())


def found(blob: bytes, secrets: list[str]) -> list[str]:
    return [s for s in secrets if s.encode() in blob]


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "aftersales.db"


def test_raw_scan_without_cipher_finds_the_personal_data(db: Path) -> None:
    """The control: the same scan does see plaintext, so a clean scan means something."""
    app = AfterSales(db)
    seed(app)
    blob = raw_bytes(db)
    app.close()
    hits = found(blob, SECRETS)
    print(f"\nno cipher: {len(hits)}/{len(SECRETS)} seeded values found in {len(blob)} bytes")
    assert set(BUYERS + NOTES + TRACKING) <= set(hits)


@pytest.mark.parametrize("compress", [True, False], ids=["aes+zlib", "aes"])
def test_raw_scan_with_cipher_finds_no_personal_data(db: Path, compress: bool) -> None:
    app = AfterSales(db, env=cipher_env(compress=compress))
    seed(app)
    assert app.snapshots is not None and list(app.snapshots.get(app.get_case("C9").id))
    blob_open = raw_bytes(db)  # while open: the WAL holds the recent pages
    app.close()
    blob = raw_bytes(db)
    hits = found(blob_open, SECRETS) + found(blob, SECRETS)
    print(
        f"\ncipher ({'aes+zlib' if compress else 'aes'}): {len(hits)}/{len(SECRETS)}"
        f" seeded values found in {len(blob_open)} + {len(blob)} bytes"
    )
    assert hits == []


def test_read_models_hold_no_personal_data(db: Path) -> None:
    """The plaintext read models carry ids, states and amounts, never the buyer,
    the notes or the waybills."""
    app = AfterSales(db, env=cipher_env())
    seed(app)
    rows: list[str] = []
    with app.sql.read() as cur:
        cur.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        tables = [r[0] for r in cur.fetchall() if r[0] != "stored_events"]
        for table in tables:
            cur.execute(f'SELECT * FROM "{table}"')
            rows += [repr(tuple(r)) for r in cur.fetchall()]
    app.close()
    text = "\n".join(rows)
    print(f"\nread models: {len(tables)} tables, {len(rows)} rows scanned")
    assert found(text.encode(), SECRETS) == []
    assert "C0" in text  # the scan did read the case list


def test_postgres_rows_hold_no_personal_data() -> None:
    """On PostgreSQL: every row of every table of the store's schema, as text."""
    with pg_schema() as url:
        app = AfterSales(url, env=cipher_env())
        seed(app)
        schema = url.rsplit("schema=", 1)[1]
        rows: list[str] = []
        with app.sql.read() as cur:
            cur.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = ?",
                (schema,),
            )
            tables = [r[0] for r in cur.fetchall()]
            for table in tables:
                cur.execute(f'SELECT t::text FROM "{table}" AS t')
                rows += [r[0] for r in cur.fetchall()]
        app.close()
    text = "\n".join(rows)
    print(f"\npostgres: {len(tables)} tables, {len(rows)} rows scanned")
    assert found(text.encode(), SECRETS) == [] and len(rows) > 0


def test_reopening_with_the_key_reads_the_same_cases(db: Path) -> None:
    env = cipher_env()
    app = AfterSales(db, env=env)
    seed(app)
    before = {c: app.get_case(c).version for c in ("C0", "C1", "C2", "C9")}
    app.close()
    again = AfterSales(db, env=env)
    assert {c: again.get_case(c).version for c in before} == before
    assert again.get_order("O1").buyer_id == BUYERS[1]
    assert again.case_events("C9")[-1].note == LONG_NOTES[-1]  # type: ignore[attr-defined]
    again.close()


@pytest.fixture(scope="module")
def sealed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str], int]:
    """An encrypted store seeded once: its path, its settings, its event count."""
    path = tmp_path_factory.mktemp("sealed") / "aftersales.db"
    good = cipher_env()
    app = AfterSales(path, env=good)
    seed(app)
    count = app.notification_count()
    app.close()
    return path, good, count


@pytest.mark.parametrize(
    "env",
    [
        cipher_env(),  # another key
        {},  # the key forgotten
        {"CIPHER_TOPIC": AES},  # the topic without a key
        cipher_env("bm90IGEga2V5"),  # base64, but 9 bytes
        cipher_env("not base64!"),
        cipher_env(compress=False),  # another key, no compressor
    ],
    ids=["wrong-key", "no-key", "topic-only", "short-key", "bad-base64", "wrong-key-no-zlib"],
)
def test_wrong_or_missing_key_fails_at_open_with_a_clear_error(
    sealed: tuple[Path, dict[str, str], int], env: dict[str, str]
) -> None:
    db, good, count = sealed
    with pytest.raises(StoreKeyError) as info:
        AfterSales(db, env=env)
    print(f"\n{info.value}")
    assert "CIPHER_KEY" in str(info.value)
    app = AfterSales(db, env=good)
    assert app.notification_count() == count  # nothing was written under the bad key
    app.close()


def test_plain_store_opened_with_a_key_fails_clearly(db: Path) -> None:
    app = AfterSales(db)
    order(app)
    app.close()
    with pytest.raises(StoreKeyError, match="CIPHER_KEY"):
        AfterSales(db, env=cipher_env())


def test_cli_with_a_wrong_key_prints_one_error_line(
    sealed: tuple[Path, dict[str, str], int],
) -> None:
    db = sealed[0]
    env = {**os.environ, **cipher_env(), "PYTHONPATH": str(Path(__file__).parents[1] / "src")}
    done = subprocess.run(
        [sys.executable, "-m", "aftersales_es.cli", "--store", str(db), "list"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    print(f"\nexit {done.returncode}: {done.stderr.strip()}")
    assert done.returncode == 2
    assert done.stderr.startswith("error: ") and "CIPHER_KEY" in done.stderr
    assert "Traceback" not in done.stderr
