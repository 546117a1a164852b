"""Events out: an ordered, resumable feed of every case event.

A consumer that stores its position with its own writes, stops anywhere and
resumes from that position sees every event exactly once, in order, even
while several processes write.
"""

from __future__ import annotations

import json
import random
import signal
import sqlite3
from pathlib import Path

import pytest

from aftersales_es.audit.feed import iter_events
from aftersales_es.engine import AfterSales

from .helpers import order, t
from .stores import Lines, cli_args, finish, py_args, spawn

WRITER = """
    from aftersales_es.engine import AfterSales
    from tests.helpers import order, t

    app = AfterSales({store!r})
    for i in range({n}):
        case, o = "C{tag}-%d" % i, "O{tag}-%d" % i
        order(app, o)
        app.execute("apply", case=case, order=o, at=t(days=3), kind="return_refund",
                    amount="50.00", reason="changed_mind")
        app.execute("approve", case=case, at=t(days=3, hours=1))
        app.execute("ship_back", case=case, at=t(days=4), carrier="SF", tracking_number="SF%d" % i)
    app.close()
"""


class Consumer:
    """A downstream service: each event and the position commit together."""

    def __init__(self, path: Path) -> None:
        self.db = sqlite3.connect(path, isolation_level=None)
        self.db.execute(
            "CREATE TABLE seen (position INTEGER PRIMARY KEY, case_id TEXT, type TEXT,"
            " version INTEGER, UNIQUE (case_id, version))"
        )
        self.db.execute("CREATE TABLE cursor (position INTEGER NOT NULL)")
        self.db.execute("INSERT INTO cursor VALUES (0)")

    def session(self, store: str, budget: int) -> int:
        """Open the store, handle at most ``budget`` events from the stored position, stop."""
        app = AfterSales(store)
        handled = 0
        try:
            (after,) = self.db.execute("SELECT position FROM cursor").fetchone()
            for position, e in iter_events(app, after=after, page=7):
                assert position > after
                self.db.execute("BEGIN")
                self.db.execute(
                    "INSERT INTO seen VALUES (?, ?, ?, ?)",
                    (position, e["case_id"], e["type"], e["version"]),
                )  # a second delivery would violate the keys
                self.db.execute("UPDATE cursor SET position = ?", (position,))
                self.db.execute("COMMIT")
                after, handled = position, handled + 1
                if handled == budget:
                    break  # stop mid-page, as a crashed or redeployed consumer would
        finally:
            app.close()
        return handled


def test_feed_yields_case_events_with_positions_and_case_ids(app: AfterSales) -> None:
    """Given a case that was applied and approved, then the feed yields its
    events in order with increasing positions, as SPEC §4 event dicts."""
    order(app)
    app.execute(
        "apply", case="C1", order="O1", at=t(days=3), kind="refund_only",
        amount="50.00", reason="changed_mind",
    )  # fmt: skip
    app.execute("approve", case="C1", at=t(days=3, hours=1))
    items = list(iter_events(app))
    assert [e["type"] for _, e in items] == ["Applied", "Approved", "Refunded"]
    assert {e["case_id"] for _, e in items} == {"C1"}
    positions = [p for p, _ in items]
    assert positions == sorted(set(positions))
    assert items[0][1]["at"] == t(days=3).isoformat() and items[2][1]["auto"] is False
    assert list(iter_events(app, after=positions[0])) == items[1:]  # resumes, case_id known


@pytest.mark.single_store
def test_consumer_resuming_from_its_position_sees_each_event_once_in_order(
    store: str, tmp_path: Path
) -> None:
    """Given three processes writing cases at once, when a consumer handles
    the feed in short sessions (stopping anywhere, resuming from the position
    it stored with its own writes), then it holds every case event exactly
    once, in log order, each case's versions in sequence."""
    AfterSales(store).close()
    writers = [spawn(py_args(WRITER.format(store=store, n=30, tag=tag))) for tag in "ABC"]
    consumer = Consumer(tmp_path / "consumer.db")
    rng = random.Random(3)
    sessions = 0
    while any(w.poll() is None for w in writers):
        consumer.session(store, rng.randint(1, 25))
        sessions += 1
    for w in writers:
        finish(w)
    while consumer.session(store, rng.randint(1, 25)):
        sessions += 1
    app = AfterSales(store)
    everything = [(p, e["case_id"], e["type"], e["version"]) for p, e in iter_events(app)]
    app.close()
    seen = consumer.db.execute("SELECT * FROM seen ORDER BY position").fetchall()
    assert seen == everything
    assert len({c for _, c, _, _ in seen}) == 90 and sessions > 10
    for case_id in {c for _, c, _, _ in seen}:
        versions = [v for _, c, _, v in seen if c == case_id]
        assert versions == list(range(1, len(versions) + 1))


def test_events_cli_prints_json_lines_after_a_position(tmp_path: Path) -> None:
    """``aftersales events --after N`` prints the events after N, one JSON object a line."""
    store = str(tmp_path / "a.db")
    finish(spawn(py_args(WRITER.format(store=store, n=2, tag="A"))))
    out, _ = finish(spawn(cli_args(store, "events")))
    lines = [json.loads(x) for x in out.splitlines()]
    assert [x["type"] for x in lines if x["case_id"] == "CA-0"] == [
        "Applied",
        "Approved",
        "ShippedBack",
    ]
    assert {"position", "case_id", "type", "at", "version", "auto"} <= set(lines[0])
    after, _ = finish(spawn(cli_args(store, "events", "--after", str(lines[2]["position"]))))
    assert [json.loads(x) for x in after.splitlines()] == lines[3:]


def test_events_follow_streams_new_events_and_stops_on_sigterm(tmp_path: Path) -> None:
    """``events --follow`` keeps printing what other processes write, then
    exits 0 on SIGTERM."""
    store = str(tmp_path / "a.db")
    AfterSales(store).close()
    follower = Lines(spawn(cli_args(store, "events", "--follow", "--poll", "0.1")))
    finish(spawn(py_args(WRITER.format(store=store, n=5, tag="A"))))
    follower.wait_for('"ShippedBack"', 5)
    follower.proc.send_signal(signal.SIGTERM)
    assert follower.proc.wait(10) == 0
    streamed = [json.loads(x) for x in follower.rest().splitlines()]
    app = AfterSales(store)
    assert [(p, e) for p, e in iter_events(app)] == [(x.pop("position"), x) for x in streamed]
    app.close()
