"""Order commands: ``order register``, ``shipped``, ``delivered``, ``show`` and ``list``."""

from __future__ import annotations

import argparse
from typing import Any

from aftersales_es.cli.common import add_command, emit, instant, open_app, positive
from aftersales_es.cli.render import cell, render_table


def _order_view(order: Any) -> dict[str, Any]:
    from aftersales_es.domain.order import FACTS

    return {k: getattr(order, k) for k in (*FACTS, "refunded_total", "open_case_id")}


def _order_text(view: dict[str, Any]) -> str:
    return "\n".join(f"{k:15} {cell(v)}" for k, v in view.items())


def _register(args: argparse.Namespace) -> int:
    import json

    from aftersales_es.domain.errors import InvalidInputError

    facts: dict[str, Any] = {"id": args.id, "gs": args.gs}
    for key in (
        "seller",
        "buyer",
        "platform",
        "amount",
        "currency",
        "paid_at",
        "shipped_at",
        "delivered_at",
        "return_address",
        "payment_reference",
        "refund_method",
    ):
        if getattr(args, key) is not None:
            facts[key] = getattr(args, key)
    if args.lines:
        try:
            facts["lines"] = json.loads(args.lines)
        except json.JSONDecodeError as exc:
            raise InvalidInputError(f"--lines: not valid JSON: {exc}") from None
    emit(args, _order_view(open_app(args).register_order(facts)), _order_text)
    return 0


def _mark(args: argparse.Namespace) -> int:
    from datetime import UTC, datetime

    app = open_app(args)
    getattr(app, f"mark_{args.fact}")(args.id, args.at or datetime.now(UTC))
    emit(args, _order_view(app.get_order(args.id)), _order_text)
    return 0


def _order_show(args: argparse.Namespace) -> int:
    emit(args, _order_view(open_app(args).get_order(args.id)), _order_text)
    return 0


def _order_list(args: argparse.Namespace) -> int:
    from aftersales_es.adapters.storage import fold

    app = open_app(args)
    topic = "aftersales_es.order:Registered"
    rows: list[dict[str, Any]] = []
    start = args.after + 1
    while len(rows) < args.limit:
        page = app.recorder.select_notifications(start=start, limit=500, topics=[topic])
        if not page:
            break
        for n in page:
            order = fold(None, app.events.get(n.originator_id))
            if args.seller is None or order.seller_id == args.seller:
                rows.append({"position": n.id, **_order_view(order)})
        start = page[-1].id + 1
    rows = rows[: args.limit]
    cols = (
        "position",
        "order_id",
        "seller_id",
        "platform",
        "amount",
        "currency",
        "refunded_total",
        "open_case_id",
    )
    emit(args, rows, lambda r: render_table(r, cols))
    if len(rows) == args.limit and not args.json:
        print(f"(first {args.limit}; next page: --after {rows[-1]['position']})")
    return 0


# ------------------------------------------------------------------ parsers
def _add_register(actions: Any) -> None:
    q = add_command(
        actions,
        "register",
        "register an order (the facts cases are judged on)",
        _register,
        writes=True,
        examples=(
            "order register O1 --seller S1 --buyer B1 --platform kuaishou "
            "--amount 89.90 --currency CNY --paid-at 2026-05-10T20:15:00+08:00",
        ),
    )
    q.add_argument("id", help="order id")
    for flag, text in (
        ("seller", "seller id"),
        ("buyer", "buyer id"),
        ("platform", "rule set: kuaishou, kilimall, generic or your own"),
        ("amount", "amount paid, a plain decimal like 89.90"),
        ("currency", "ISO 4217 code, like CNY or KES"),
    ):
        q.add_argument(f"--{flag}", required=True, help=text)
    q.add_argument(
        "--paid-at",
        dest="paid_at",
        required=True,
        type=instant,
        metavar="TIME",
        help="when it was paid, ISO 8601 with offset",
    )
    for fact in ("shipped", "delivered"):
        q.add_argument(
            f"--{fact}-at",
            dest=f"{fact}_at",
            type=instant,
            metavar="TIME",
            help=f"when it was {fact}, if it was",
        )
    q.add_argument("--gs", action="store_true", help="a Kilimall global-selling order")
    q.add_argument(
        "--return-address",
        dest="return_address",
        metavar="ADDRESS",
        help="the seller's return address, where returned goods go (KS-5)",
    )
    q.add_argument(
        "--payment-reference", help="the buyer's payment, which refunds are paid back to"
    )
    q.add_argument(
        "--refund-method",
        choices=("original_payment", "store_credit", "offline"),
        help="how refunds are paid out (default: original_payment)",
    )
    q.add_argument(
        "--lines", help='lines as JSON: [{"line": "L1", "quantity": 3, "unit_price": "9.90"}]'
    )


def _add_marks(actions: Any) -> None:
    for fact in ("shipped", "delivered"):
        q = add_command(
            actions,
            fact,
            f"record that the order was {fact}",
            _mark,
            writes=True,
            examples=(f"order {fact} O1 --at 2026-05-11T09:00:00+08:00",),
        )
        q.add_argument("id", help="order id")
        q.add_argument("--at", type=instant, metavar="TIME", help="when, ISO 8601 (default: now)")
        q.set_defaults(fact=fact)


def _add_show_and_list(actions: Any) -> None:
    q = add_command(
        actions,
        "show",
        "an order: facts, refunded total, open case",
        _order_show,
        writes=False,
        examples=("order show O1",),
    )
    q.add_argument("id", help="order id")
    q = add_command(
        actions,
        "list",
        "orders in registration order",
        _order_list,
        writes=False,
        examples=("order list --seller S1 --limit 20",),
    )
    q.add_argument("--seller", help="only this seller's orders")
    q.add_argument(
        "--limit",
        type=positive(int, 1, strict=False),
        default=100,
        help="at most this many (default 100)",
    )
    q.add_argument(
        "--after",
        type=positive(int, 0, strict=False),
        default=0,
        metavar="POSITION",
        help="the next page: the last position shown",
    )


def register(sub: Any) -> None:
    """Add the ``order`` command and its actions."""
    p = sub.add_parser("order", help="register, show and list orders; mark them shipped/delivered")
    actions = p.add_subparsers(dest="order_cmd", required=True, metavar="ACTION")
    _add_register(actions)
    _add_marks(actions)
    _add_show_and_list(actions)
