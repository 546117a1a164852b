"""The ``aftersales`` command line.

Human tables by default, ``--json`` for machines. The store is a SQLite
file (``./aftersales.db``) unless ``--store`` or ``$AFTERSALES_STORE`` says
otherwise (``postgresql://...`` for PostgreSQL). Further subcommands are
contributed by modules listed in ``PLUGINS`` (each has ``register(sub)``).
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
import unicodedata
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from aftersales_es.app.commands import COMMANDS
from aftersales_es.domain.errors import AfterSalesError, InvalidInputError
from aftersales_es.readmodels.queries import CASE_COLUMNS

PLUGINS = (
    "aftersales_es.cli.audit",
    "aftersales_es.cli.ops",
    "aftersales_es.cli.rules",
    "aftersales_es.cli.tokens",
    "aftersales_es.cli.serve",
)
Handler = Callable[[argparse.Namespace], int]
COMMAND_HELP = {
    "apply": "buyer: apply for after-sales on an order",
    "approve": "seller: approve as asked (refund-only refunds at once)",
    "propose": "seller: propose another plan (kind, amount, --offline)",
    "accept_proposal": "buyer: accept the proposed plan",
    "decline_proposal": "buyer: decline; back to the seller",
    "reject": "seller: reject with a reason, --category, --buyer-contacted (KS-3)",
    "ship_back": "buyer: ship the goods back with the waybill",
    "confirm_receipt": "seller (or --by platform at the warehouse, KM-3): confirm receipt",
    "ship_replacement": "seller: send the replacement or repaired item",
    "confirm_completion": "buyer: the exchange or repair is done",
    "escalate": "buyer or seller: ask the platform to arbitrate",
    "submit_evidence": "buyer or seller: evidence for the platform",
    "rule": "platform: rule for the buyer (refund) or the seller (close)",
    "withdraw": "buyer: withdraw the application",
    "request_goods_back": "seller: ask for warehouse-held goods back (KM-4)",
    "waive_deduction": "platform: waive a deduction whose cause was not the seller's (KM-1)",
}


def now() -> datetime:
    """The CLI's default business time: the wall clock (the domain never reads it)."""
    return datetime.now(UTC)


def open_app(args: argparse.Namespace) -> Any:
    """Open the application on the store the arguments name."""
    from aftersales_es.engine import AfterSales

    return AfterSales(args.store)


def emit(args: argparse.Namespace, data: Any, table: Callable[[Any], str] | None = None) -> None:
    """Print ``data`` as JSON (``--json``) or as a human table."""
    from aftersales_es.readmodels.views import plain

    if args.json or table is None:
        print(json.dumps(plain(data), indent=None if args.json else 2, ensure_ascii=False))
    else:
        print(table(data))


def text_width(text: str) -> int:
    """Columns ``text`` takes on a terminal: wide East Asian characters take two."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def render_table(rows: Sequence[dict[str, Any]], columns: Sequence[str]) -> str:
    """A plain aligned text table (CJK text aligned by display width)."""
    from aftersales_es.readmodels.views import plain

    cells = [
        [str(plain(r.get(c, "")) if r.get(c) is not None else "") for c in columns] for r in rows
    ]
    widths = [
        max([text_width(c)] + [text_width(row[i]) for row in cells]) for i, c in enumerate(columns)
    ]

    def line(values: Sequence[str]) -> str:
        padded = (v + " " * (w - text_width(v)) for v, w in zip(values, widths, strict=True))
        return "  ".join(padded).rstrip()

    return "\n".join([line(columns), "  ".join("-" * w for w in widths), *map(line, cells)])


def _case_table(view: dict[str, Any]) -> str:
    head = [
        f"case {view['case_id']}  order {view['order_id']}  {view['platform']}  {view['kind']}",
        f"state {view['state']}  asked {view['amount']}  refunded {view['refunded_total']} "
        f"{view['currency']}  version {view['version']}",
    ]
    d = view.get("pending_deadline")
    head.append(f"pending: {d['action']} at {d['due']} [{d['rule']}]" if d else "pending: none")
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
    return "\n".join(head) + "\n\n" + render_table(rows, ["v", "at", "event", "by", "state"])


def _run_command(args: argparse.Namespace) -> int:
    from aftersales_es.readmodels.views import case_dict

    data: dict[str, Any] = {"case": args.case, "at": args.at or now()}
    for field in COMMANDS[args.command].model_fields:
        if field in ("name", "case", "at"):
            continue
        value = getattr(args, field, None)
        if value is not None:
            data[field] = value
    app = open_app(args)
    case = app.execute(args.command, **data)
    emit(args, case_dict(case, app.case_events(case.case_id)), _case_table)
    return 0


def _add_command_parsers(sub: Any) -> None:
    for name, model in COMMANDS.items():
        p = sub.add_parser(name, help=COMMAND_HELP.get(name, name))
        p.add_argument("case", help="case id")
        p.add_argument("--at", help="business time, ISO 8601 with offset (default: now)")
        p.add_argument("--idempotency-key", dest="idempotency_key")
        for field, info in model.model_fields.items():
            if field in ("name", "case", "at", "idempotency_key"):
                continue
            flag = "--" + field.replace("_", "-")
            if info.annotation in (bool, bool | None):
                p.add_argument(flag, dest=field, type=lambda v: v.lower() in ("1", "true", "yes"))
            else:
                p.add_argument(flag, dest=field, required=info.is_required())
        p.set_defaults(func=_run_command, command=name)


def _parse_lines(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidInputError(f"lines: not valid JSON: {exc}") from None


def _order(args: argparse.Namespace) -> int:
    app = open_app(args)
    if args.action == "register":
        facts = {
            "id": args.id,
            "seller": args.seller,
            "buyer": args.buyer,
            "platform": args.platform,
            "amount": args.amount,
            "currency": args.currency,
            "paid_at": args.paid_at,
            "shipped_at": args.shipped_at,
            "delivered_at": args.delivered_at,
            "gs": args.gs,
        }
        if args.lines:
            facts["lines"] = _parse_lines(args.lines)
        order = app.register_order(facts)
    else:
        at = datetime.fromisoformat(args.at) if args.at else now()
        getattr(app, f"mark_{args.action}")(args.id, at)
        order = app.get_order(args.id)
    view = {
        k: getattr(order, k)
        for k in (
            "order_id",
            "seller_id",
            "buyer_id",
            "platform",
            "amount",
            "currency",
            "paid_at",
            "shipped_at",
            "delivered_at",
            "gs",
            "refunded_total",
            "open_case_id",
        )
    }
    emit(args, view, lambda v: "\n".join(f"{k:15} {v[k]}" for k in v))
    return 0


def _show(args: argparse.Namespace) -> int:
    from aftersales_es.readmodels.views import case_dict

    app = open_app(args)
    emit(args, case_dict(app.get_case(args.case), app.case_events(args.case)), _case_table)
    return 0


def _list(args: argparse.Namespace) -> int:
    rows = open_app(args).cases(state=args.state, platform=args.platform)
    cols = [c for c in CASE_COLUMNS if c != "version"]
    emit(args, rows, lambda r: render_table(r, cols))
    return 0


def _fire_due(args: argparse.Namespace) -> int:
    at = datetime.fromisoformat(args.now) if args.now else now()
    fired = open_app(args).fire_due(at)
    rows = [{"case_id": f.case_id, "deadline": f.name, "due": f.due, "rule": f.rule} for f in fired]
    emit(args, rows, lambda r: render_table(r, ["case_id", "deadline", "due", "rule"]))
    return 0


def _simulate(args: argparse.Namespace) -> int:
    from aftersales_es.sim.simulate import load_scenario, run, to_json

    print(to_json(run(load_scenario(args.file))))
    return 0


def _demo(args: argparse.Namespace) -> int:
    from aftersales_es.sim.demo import run_demo

    return run_demo(args.store, cases=args.cases, seed=args.seed)


def _diagrams(args: argparse.Namespace) -> int:
    from aftersales_es.domain.diagrams import write_all

    for path in write_all(args.out):
        print(path)
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser (core commands plus plugins)."""
    parser = argparse.ArgumentParser(prog="aftersales", description=__doc__.splitlines()[0])
    parser.add_argument("--store", default=None, help="SQLite path, 'memory' or postgresql://...")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    sub = parser.add_subparsers(dest="cmd", required=True, metavar="COMMAND")

    p = sub.add_parser("order", help="register an order, or mark it shipped/delivered")
    p.add_argument("action", choices=["register", "shipped", "delivered"])
    p.add_argument("id")
    for flag in (
        "seller",
        "buyer",
        "platform",
        "amount",
        "currency",
        "paid-at",
        "shipped-at",
        "delivered-at",
        "at",
    ):
        p.add_argument(f"--{flag}", dest=flag.replace("-", "_"))
    p.add_argument("--gs", action="store_true", help="a Kilimall global-selling order")
    p.add_argument(
        "--lines",
        help='order lines as JSON: [{"line": "L1", "quantity": 3, "unit_price": "9.90"}]',
    )
    p.set_defaults(func=_order)

    _add_command_parsers(sub)

    p = sub.add_parser("show", help="a case: state, amounts, pending deadline, events")
    p.add_argument("case")
    p.set_defaults(func=_show)
    p = sub.add_parser("list", help="cases, by state and platform")
    p.add_argument("--state")
    p.add_argument("--platform")
    p.set_defaults(func=_list)
    p = sub.add_parser("fire-due", help="fire every deadline due now (or at --now) and exit")
    p.add_argument("--now")
    p.set_defaults(func=_fire_due)
    p = sub.add_parser("simulate", help="run a scenario file (SPEC §4); JSON on stdout")
    p.add_argument("file")
    p.set_defaults(func=_simulate)
    p = sub.add_parser("demo", help="a realistic marketplace day on the store")
    p.add_argument("--cases", type=int, default=300)
    p.add_argument("--seed", type=int, default=7)
    p.set_defaults(func=_demo)
    p = sub.add_parser("diagrams", help="write the Mermaid statecharts")
    p.add_argument("--out", default="statecharts")
    p.set_defaults(func=_diagrams)

    for name in PLUGINS:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
            continue
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``aftersales`` console script."""
    args = build_parser().parse_args(argv)
    try:
        code: int = args.func(args)
    except AfterSalesError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        # The reader (e.g. ``| head``) went away; that is not an error of ours.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    return code


if __name__ == "__main__":
    sys.exit(main())
