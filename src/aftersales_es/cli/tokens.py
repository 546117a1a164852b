"""CLI plugin: API tokens for the HTTP service (``aftersales tokens ...``)."""

from __future__ import annotations

import argparse
from typing import Any

from aftersales_es.cli.common import add_command, emit, open_app
from aftersales_es.cli.render import render_table


def _tokens(args: argparse.Namespace) -> Any:
    from aftersales_es.app.tokens import Tokens

    return Tokens(open_app(args).sql)


def _create(args: argparse.Namespace) -> int:
    token, who = _tokens(args).create(
        args.role, seller=args.seller, buyer=args.buyer, label=args.label
    )
    data = {"token": token, "role": who.role, "seller": who.seller, "buyer": who.buyer}
    # The token is shown once: only its hash is stored.
    emit(args, data, lambda d: d["token"])
    return 0


def _list(args: argparse.Namespace) -> int:
    rows = _tokens(args).list()
    cols = ["token_id", "role", "seller", "buyer", "label", "created_at", "revoked_at"]
    emit(args, rows, lambda r: render_table(r, cols))
    return 0


def _revoke(args: argparse.Namespace) -> int:
    _tokens(args).revoke(args.token_id)
    return 0


def register(sub: Any) -> None:
    """Add ``tokens create|list|revoke``."""
    p = sub.add_parser("tokens", help="API tokens for `aftersales serve` (hashed at rest)")
    tsub = p.add_subparsers(dest="tokens_cmd", required=True, metavar="ACTION")
    c = add_command(
        tsub,
        "create",
        "a new token; printed once",
        _create,
        writes=True,
        examples=(
            "tokens create --role seller --seller S1 --label 'shop S1'",
            "tokens create --role auditor",
        ),
    )
    roles = ("buyer", "seller", "platform", "auditor", "admin")
    c.add_argument(
        "--role",
        required=True,
        choices=roles,
        metavar="ROLE",
        help=f"what the token may do ({', '.join(roles)})",
    )
    c.add_argument("--seller", default=None, help="the seller a seller token acts for")
    c.add_argument("--buyer", default=None, help="the buyer a buyer token acts for")
    c.add_argument("--label", default="", help="a note: who holds it")
    add_command(
        tsub,
        "list",
        "every token (never the secret)",
        _list,
        writes=False,
        examples=("tokens list",),
    )
    r = add_command(
        tsub,
        "revoke",
        "stop a token from working",
        _revoke,
        writes=False,
        examples=("tokens revoke TOKEN_ID",),
    )
    r.add_argument("token_id", help="the id 'tokens list' shows")
