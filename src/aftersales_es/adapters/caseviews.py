"""Each case's view as of its last event, written with the events that made it.

``aftersales show`` prints a case's fields, what can happen next and its
events. Computing that needs the domain (the event classes, the rule-set
models, the statechart), whose import alone takes several times longer than
the query. So on a SQLite file whose application asks for it (the command
line does; ``AFTERSALES_CASE_VIEWS``, see :func:`aftersales_es.engine.keeps_views`)
the application computes the view when it saves a case
(:attr:`~aftersales_es.adapters.storage.Stored.view_rows`) and the recorder
writes it **in the insert transaction** of the case's new events:
one head row per case (its fields and what can happen next, replaced) and
one row per event (appended). :func:`read` gives the view back with nothing
but ``sqlite3`` and ``json``.

A stored view is a cache of the replay, never a source of truth. :func:`read`
answers only when the head is at the case's last stored event and in the
current :data:`FORMAT`; otherwise (a store written before views existed, a
view left behind by an older release) it answers ``None`` and the caller
replays the events.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

VIEWS = "aftersales_case_views"
#: Bumped whenever what a view holds changes: older views are then ignored.
FORMAT = 1
#: The version key of a case's head row; its events' rows have their versions.
HEAD = 0

# One B-tree, keyed (case, version): a save's head and event rows sit side by
# side, so a save touches one more page, not two or three.
DDL = (
    f"CREATE TABLE IF NOT EXISTS {VIEWS} (case_id TEXT NOT NULL, version INTEGER NOT NULL,"
    " body TEXT NOT NULL, PRIMARY KEY (case_id, version)) WITHOUT ROWID",
)


class ViewRow(NamedTuple):
    """What a save writes for one case: its head after the save and its new events."""

    case_id: str
    case_uuid: str
    version: int
    head: dict[str, Any]
    next: dict[str, Any]
    events: Sequence[tuple[int, dict[str, Any]]]


def write(cur: Any, views: Sequence[ViewRow]) -> None:
    """Write ``views`` with ``cur``, inside the caller's transaction."""
    rows = []
    for v in views:
        head = {"format": FORMAT, "uuid": v.case_uuid, "version": v.version, "case": v.head}
        head["next"] = v.next
        rows.append((v.case_id, HEAD, _dump(head)))
        rows += [(v.case_id, n, _dump(row)) for n, row in v.events]
    cur.executemany(f"INSERT OR REPLACE INTO {VIEWS} VALUES (?, ?, ?)", rows)


def _dump(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def read(path: str | Path, case_id: str, events_table: str = "stored_events") -> Any:
    """The view of ``case_id`` in the SQLite file ``path`` (as
    ``case_dict(case, events)`` plus ``"next"``), or ``None`` when there is no
    current one: no such file or table, no view of the case, a view behind the
    case's last event or in another format."""
    uri = Path(path).resolve().as_uri() + "?mode=ro"
    try:
        conn = sqlite3.connect(uri, uri=True)
    except sqlite3.Error:
        return None
    try:
        return _read(conn, case_id, events_table)
    except sqlite3.Error:
        return None
    finally:
        conn.close()


def _read(conn: sqlite3.Connection, case_id: str, events_table: str) -> Any:
    rows = conn.execute(
        f"SELECT version, body FROM {VIEWS} WHERE case_id = ? ORDER BY version", (case_id,)
    ).fetchall()
    if not rows or rows[0][0] != HEAD:
        return None
    head = json.loads(rows[0][1])
    if head.get("format") != FORMAT:
        return None
    (last,) = conn.execute(
        f"SELECT max(originator_version) FROM {events_table} WHERE originator_id = ?",
        (head["uuid"],),
    ).fetchone()
    if last != head["version"] or [r[0] for r in rows[1:]] != list(range(1, last + 1)):
        return None
    view = head["case"]
    view["events"] = [json.loads(r[1]) for r in rows[1:]]
    view["next"] = head["next"]
    return view
