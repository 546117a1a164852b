"""Operations commands: ``worker``, ``status``, ``deadlines``, ``events``.

A plugin of :mod:`aftersales_es.cli` (``register(sub)``). ``worker`` and
``events --follow`` run until SIGTERM or SIGINT and then exit 0; both print
JSON lines whatever ``--json`` says, because their readers are programs.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from datetime import datetime
from types import FrameType
from typing import Any

from aftersales_es.adapters.sql import retry_busy
from aftersales_es.cli.main import emit, open_app, render_table
from aftersales_es.domain.errors import InvalidInputError


def _instant(text: str | None, flag: str) -> datetime | None:
    if text is None:
        return None
    try:
        at = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidInputError(f"{flag}: not an ISO 8601 instant: {text!r}") from None
    if at.tzinfo is None:
        raise InvalidInputError(f"{flag}: needs a timezone offset: {text!r}")
    return at


def _open(args: argparse.Namespace) -> Any:
    # Several workers may start at once on a fresh database: table creation
    # can then hit a transient lock; opening again is safe.
    return retry_busy(lambda: open_app(args))


def _worker(args: argparse.Namespace) -> int:
    from aftersales_es.cli.worker import serve

    start = _instant(args.now, "--now")
    app = _open(args)
    try:
        return serve(app, start=start, batch=args.batch, poll=args.poll, once=args.once)
    finally:
        app.close()


def _status(args: argparse.Namespace) -> int:
    from aftersales_es.app.worker import wall_clock

    now = _instant(args.now, "--now") or wall_clock()
    app = _open(args)  # kept: the read models run on its connections
    data = app.read_models.backlog(now)

    def table(d: dict[str, Any]) -> str:
        lines = [
            f"now              {d['now']}",
            f"pending          {d['pending']}",
            f"due now          {d['due_now']}",
            f"events / indexed {d['events']} / {d['projected']}",
        ]
        old, nxt = d["oldest_overdue"], d["next_due"]
        if old:
            lines.append(
                f"oldest overdue   {old['case_id']} {old['name']} due {old['due']} "
                f"[{old['rule']}] ({old['overdue_seconds']:.0f} s late)"
            )
        elif nxt:
            lines.append(f"next due         {nxt['case_id']} {nxt['name']} at {nxt['due']}")
        return "\n".join(lines)

    emit(args, data, table)
    return 0


def _deadlines(args: argparse.Namespace) -> int:
    from aftersales_es.readmodels.queries import DEADLINE_COLUMNS

    app = _open(args)
    if args.action == "rebuild":
        count = retry_busy(app.projector.rebuild)
        emit(args, {"rebuilt_from_events": count, "position": app.projector.position()}, None)
        return 0
    before = _instant(args.due_before, "--due-before")
    rows = app.read_models.deadlines(before, args.limit)
    emit(args, rows, lambda r: render_table(r, DEADLINE_COLUMNS))
    return 0


def _events(args: argparse.Namespace) -> int:
    from aftersales_es.audit.feed import follow, iter_events

    app = _open(args)
    stop = threading.Event()

    def handler(signum: int, frame: FrameType | None) -> None:
        stop.set()

    if args.follow:
        signal.signal(signal.SIGTERM, handler)
        signal.signal(signal.SIGINT, handler)
        items = follow(app, args.after, poll=args.poll, stop=stop)
    else:
        items = iter_events(app, args.after)
    try:
        for position, event in items:
            sys.stdout.write(json.dumps({"position": position, **event}, ensure_ascii=False))
            sys.stdout.write("\n")
            sys.stdout.flush()
    except BrokenPipeError:  # the reader went away (| head): not an error
        return 0
    finally:
        app.close()
    return 0


def register(sub: Any) -> None:
    """Add the operations commands to the ``aftersales`` parser."""
    p = sub.add_parser("worker", help="fire due deadlines until SIGTERM (or --once)")
    p.add_argument("--once", action="store_true", help="fire what is due, then exit (cron)")
    p.add_argument("--poll", type=float, default=5.0, help="seconds between sweeps (5)")
    p.add_argument("--now", help="virtual clock start, ISO 8601 with offset (default: wall)")
    p.add_argument("--batch", type=int, default=25, help="deadlines claimed at a time (25)")
    p.set_defaults(func=_worker)

    p = sub.add_parser("status", help="deadline backlog: due now, pending, oldest overdue")
    p.add_argument("--now", help="as of this instant (default: wall clock)")
    p.set_defaults(func=_status)

    p = sub.add_parser("deadlines", help="the deadline index: list, or rebuild from events")
    p.add_argument("action", choices=["list", "rebuild"])
    p.add_argument("--due-before", dest="due_before", help="list only those due by then")
    p.add_argument("--limit", type=int, default=100)
    p.set_defaults(func=_deadlines)

    p = sub.add_parser("events", help="case events as JSON lines, from a position")
    p.add_argument("--after", type=int, default=0, help="last position already handled")
    p.add_argument("--follow", action="store_true", help="keep polling for new events")
    p.add_argument("--poll", type=float, default=1.0, help="seconds between polls (1)")
    p.set_defaults(func=_events)
