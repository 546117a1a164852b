"""Case commands: every case command, ``show``, ``list``."""

from __future__ import annotations

import argparse
from typing import Any

from aftersales_es.cli import spec
from aftersales_es.cli.common import (
    add_command,
    add_yes_no,
    emit,
    instant,
    open_app,
    positive,
    stored_view,
)
from aftersales_es.cli.render import render_table

CASE_LIST_COLUMNS = (
    "case_id",
    "order_id",
    "platform",
    "kind",
    "state",
    "amount",
    "refunded_total",
    "currency",
)


# ------------------------------------------------------------------ a case
def case_view(app: Any, case: Any) -> dict[str, Any]:
    """A case for output: its fields, events, and what can happen next."""
    from aftersales_es.readmodels.views import case_view as view

    return view(case, app.case_events(case.case_id), app.ruleset_of(case))


def case_text(view: dict[str, Any]) -> str:
    """Header, what can happen next, then the events."""
    head = [
        f"case {view['case_id']}  order {view['order_id']}  {view['platform']}  {view['kind']}",
        f"state {view['state']}  asked {view['amount']}  refunded {view['refunded_total']} "
        f"{view['currency']}  version {view['version']}",
    ]
    nxt = view["next"]
    if nxt["allowed"]:
        head.append("what can happen next:")
        for a in nxt["allowed"]:
            note = f" ({a['note']})" if a.get("note") else ""
            head.append(
                f"  {a['command']:<20} by {' or '.join(a['actors'])}"
                f" -> {' or '.join(a['leads_to'])}{note}"
            )
    else:
        head.append("what can happen next: nothing (the case is settled)")
    for d in nxt["deadlines"]:
        head.append(f"  if nobody acts: {d['action']} at {d['due']} [{d['rule']}]")
    rows = [
        {
            "v": e["version"],
            "at": e["at"],
            "event": e["type"],
            "by": e.get("rule") if e["auto"] else e.get("actor"),
            "state": e.get("state"),
        }
        for e in view.get("events", [])
    ]
    text = "\n".join(head) + "\n\n" + render_table(rows, ["v", "at", "event", "by", "state"])
    return text + conversation_text(view.get("events", []))


def conversation_text(events: list[dict[str, Any]]) -> str:
    """The messages and evidence of a case, one line each, with their files."""
    lines = []
    for e in events:
        if e["type"] not in ("MessagePosted", "EvidenceSubmitted"):
            continue
        words = e.get("text", e.get("note", ""))
        files = ", ".join(f"{a['name']} ({a['media_type']})" for a in e.get("attachments", []))
        line = f"  v{e['version']} {e['at']} {e['by']}: {words}"
        lines.append(line + (f" [{files}]" if files else ""))
    return "\n\nconversation:\n" + "\n".join(lines) if lines else ""


def _run_command(args: argparse.Namespace) -> int:
    # No --at: the service takes "now" as it decides, after loading the case.
    data: dict[str, Any] = {"case": args.case, "at": args.at}
    if args.idempotency_key is not None:
        data["idempotency_key"] = args.idempotency_key
    files: dict[str, bytes] = {}
    for option in spec.COMMANDS[args.command].options:
        value = getattr(args, option.field, None)
        if option.files and value:
            from aftersales_es.cli.files import read_files

            data[option.field], files = read_files(value)
        elif value is not None:
            data[option.field] = value
    app = open_app(args)
    case = app.execute(args.command, files=files, **data)
    emit(args, case_view(app, case), case_text)
    return 0


def _show(args: argparse.Namespace) -> int:
    view = stored_view(args.store, args.case)
    if view is None:
        app = open_app(args)
        view = case_view(app, app.get_case(args.case))
    emit(args, view, case_text)
    return 0


def _list(args: argparse.Namespace) -> int:
    app = open_app(args)
    rows = app.cases(
        state=args.state,
        platform=args.platform,
        order=args.order,
        after=args.after,
        limit=args.limit,
    )
    if not rows and args.platform:
        _check_platform(app, args.platform)
    emit(args, rows, lambda r: render_table(r, CASE_LIST_COLUMNS))
    if len(rows) == args.limit and not args.json:
        print(f"(first {args.limit}; next page: --after {rows[-1]['case_id']})")
    return 0


def _check_platform(app: Any, platform: str) -> None:
    from aftersales_es.domain.errors import InvalidInputError
    from aftersales_es.domain.ruleload import builtin_names

    known = sorted(set(builtin_names()) | {r["platform"] for r in app.cases()})
    if platform not in known:
        raise InvalidInputError(f"--platform {platform!r}: unknown; use one of {', '.join(known)}")


# ------------------------------------------------------------------ parsers
def _add_case_commands(sub: Any) -> None:
    for name, cmd in spec.COMMANDS.items():
        p = add_command(sub, name, cmd.help, _run_command, writes=True, examples=(cmd.example,))
        p.add_argument("case", help="case id (letters, digits, _ . : -)")
        p.add_argument(
            "--at",
            type=instant,
            metavar="TIME",
            help="when it happened, ISO 8601 with offset (default: now)",
        )
        p.add_argument(
            "--idempotency-key",
            dest="idempotency_key",
            metavar="KEY",
            help="a retry with the same key has one effect",
        )
        for o in cmd.options:
            flag = "--" + o.field.replace("_", "-")
            if o.flag:
                add_yes_no(p, flag, o.field, o.help)
                continue
            if o.files:
                p.add_argument("--attach", dest=o.field, action="append", metavar="FILE",
                               help=o.help)  # fmt: skip
                continue
            choices = f" ({', '.join(o.choices)})" if o.choices else ""
            p.add_argument(
                flag,
                dest=o.field,
                required=o.required,
                choices=o.choices,
                metavar=o.field.upper(),
                help=o.help + choices,
            )
        p.set_defaults(command=name)


def _add_show(sub: Any) -> None:
    p = add_command(
        sub,
        "show",
        "a case: state, amounts, what can happen next, events",
        _show,
        writes=False,
        examples=("show C1", "--json show C1"),
    )
    p.add_argument("case", help="case id")


def _add_list(sub: Any) -> None:
    p = add_command(
        sub,
        "list",
        "cases, by state, platform or order, a page at a time",
        _list,
        writes=False,
        examples=("list --state refunded", "list --order O1", "list --limit 50 --after C0050"),
    )
    p.add_argument(
        "--state",
        choices=spec.STATES,
        metavar="STATE",
        help=f"only cases in this state ({', '.join(spec.STATES)})",
    )
    p.add_argument("--platform", help="only this platform (kuaishou, kilimall, generic, ...)")
    p.add_argument("--order", help="only this order's cases")
    p.add_argument(
        "--limit",
        type=positive(int, 1, strict=False),
        default=1000,
        help="at most this many (default 1000)",
    )
    p.add_argument("--after", metavar="CASE", help="the next page: cases after this case id")


def register(sub: Any) -> None:
    """Add the case commands, ``show`` and ``list``."""
    _add_case_commands(sub)
    _add_show(sub)
    _add_list(sub)
