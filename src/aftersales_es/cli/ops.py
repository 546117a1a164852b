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
from types import FrameType
from typing import Any

from aftersales_es.cli.common import add_command, emit, instant, open_app, positive
from aftersales_es.cli.render import progress, render_table


def _open(args: argparse.Namespace) -> Any:
    from aftersales_es.adapters.sql import retry_busy

    # Several workers may start at once on a fresh database: table creation
    # can then hit a transient lock; opening again is safe.
    return retry_busy(lambda: open_app(args))


def _worker(args: argparse.Namespace) -> int:
    from aftersales_es.cli.worker import serve

    start = args.now
    app = _open(args)
    try:
        return serve(app, start=start, batch=args.batch, poll=args.poll, once=args.once)
    finally:
        app.close()


def _status(args: argparse.Namespace) -> int:
    from aftersales_es.app.worker import wall_clock

    now = args.now or wall_clock()
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
    from aftersales_es.adapters.sql import retry_busy
    from aftersales_es.readmodels.queries import DEADLINE_COLUMNS

    app = _open(args)
    if args.action == "rebuild":
        with progress("rebuild"):  # one call: the bar shows that it is running
            count = retry_busy(app.projector.rebuild)
        emit(args, {"rebuilt_from_events": count, "position": app.projector.position()}, None)
        return 0
    before = args.due_before
    rows = app.read_models.deadlines(before, args.limit)
    emit(args, rows, lambda r: render_table(r, DEADLINE_COLUMNS))
    return 0


def _position(text: str) -> int | str:
    """A feed position: a whole number, or a composite one (``12.0.7``)."""
    parts = text.split(".")
    if not all(p.isdigit() for p in parts):
        raise argparse.ArgumentTypeError(
            f"{text!r}: a position is a whole number (or, on a store of partitions, one"
            " per partition joined by dots, like 12.0.7)"
        )
    return int(text) if len(parts) == 1 else text


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


def _add_worker(sub: Any) -> None:
    seconds = positive(float, 0)
    p = add_command(
        sub,
        "worker",
        "fire due deadlines until SIGTERM (or --once)",
        _worker,
        writes=True,
        examples=("worker --poll 5", "worker --once"),
    )
    p.add_argument("--once", action="store_true", help="fire what is due, then exit (cron)")
    p.add_argument(
        "--poll",
        type=seconds,
        default=5.0,
        metavar="SECONDS",
        help="seconds between sweeps, > 0 (default 5)",
    )
    p.add_argument(
        "--now",
        type=instant,
        metavar="TIME",
        help="virtual clock start, ISO 8601 with offset (default: wall clock)",
    )
    p.add_argument(
        "--batch",
        type=positive(int, 1, strict=False),
        default=25,
        metavar="N",
        help="deadlines claimed at a time, >= 1 (default 25)",
    )


def _add_status(sub: Any) -> None:
    p = add_command(
        sub,
        "status",
        "deadline backlog: due now, pending, oldest overdue",
        _status,
        writes=False,
        examples=("status", "--json status"),
    )
    p.add_argument(
        "--now", type=instant, metavar="TIME", help="as of this instant (default: wall clock)"
    )


def _add_deadlines(sub: Any) -> None:
    p = sub.add_parser("deadlines", help="the deadline index: list, or rebuild from events")
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    q = add_command(
        actions,
        "list",
        "pending deadlines, earliest first",
        _deadlines,
        writes=False,
        examples=("deadlines list --due-before 2026-06-01T00:00:00Z",),
    )
    q.add_argument(
        "--due-before",
        dest="due_before",
        type=instant,
        metavar="TIME",
        help="only those due by then",
    )
    q.add_argument(
        "--limit",
        type=positive(int, 1, strict=False),
        default=100,
        help="at most this many (default 100)",
    )
    q = add_command(
        actions,
        "rebuild",
        "re-derive the read models from the events",
        _deadlines,
        writes=False,
        examples=("deadlines rebuild",),
    )


def _add_events(sub: Any) -> None:
    seconds = positive(float, 0)
    p = add_command(
        sub,
        "events",
        "case events as JSON lines, from a position",
        _events,
        writes=False,
        examples=("events --after 0 --follow",),
    )
    p.add_argument(
        "--after",
        type=_position,
        default=0,
        metavar="POSITION",
        help="last position already handled (default 0; on a store of partitions,"
        " the composite position printed, like 12.0.7)",
    )
    p.add_argument("--follow", action="store_true", help="keep polling for new events")
    p.add_argument(
        "--poll",
        type=seconds,
        default=1.0,
        metavar="SECONDS",
        help="seconds between polls, > 0 (default 1)",
    )


def register(sub: Any) -> None:
    """Add the operations commands to the ``aftersales`` parser."""
    _add_worker(sub)
    _add_status(sub)
    _add_deadlines(sub)
    _add_events(sub)
