"""``aftersales rules list|show|check``: the rule-set tooling on the command line.

``list`` shows the shipped rule sets; ``show NAME|PATH`` every value with its
rule id and basis (documented, assumption, example, disabled); ``check FILE``
validates a user's file and exits 0 (``ok: NAME vN digest ...``) or 2 with
one line per problem, each naming its key. None of them opens a store.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from aftersales_es.cli.common import add_command


def _list(args: argparse.Namespace) -> int:
    from aftersales_es.cli import ruletools

    rows = ruletools.list_rulesets()
    print(json.dumps(rows, ensure_ascii=False) if args.json else ruletools.list_text(rows))
    return 0


def _show(args: argparse.Namespace) -> int:
    from aftersales_es.cli import ruletools

    view = ruletools.show(args.ruleset)
    print(json.dumps(view, ensure_ascii=False) if args.json else ruletools.show_text(view))
    return 0


def _check(args: argparse.Namespace) -> int:
    from aftersales_es.cli import ruletools

    result = ruletools.check_file(args.file)
    if args.json:
        print(json.dumps(result.as_dict(), ensure_ascii=False))
    else:
        print("\n".join(result.lines()))
    return 0 if result.ok else 2


def register(sub: Any) -> None:
    """Add the ``rules`` command to the ``aftersales`` parser."""
    p = sub.add_parser("rules", help="list, show and check platform rule sets (no store needed)")
    rules = p.add_subparsers(dest="rules_cmd", required=True, metavar="ACTION")
    add_command(
        rules, "list", "the shipped rule sets", _list, writes=False, examples=("rules list",)
    )
    q = add_command(
        rules,
        "show",
        "every value with its rule id and basis, and a glossary",
        _show,
        writes=False,
        examples=("rules show kuaishou", "rules show ./my-rules.yaml"),
    )
    q.add_argument("ruleset", metavar="NAME|PATH", help="a shipped name or a rule-set file")
    q = add_command(
        rules,
        "check",
        "validate a rule-set file (exit 2 on problems)",
        _check,
        writes=False,
        examples=("rules check my-rules.yaml",),
    )
    q.add_argument("file", metavar="FILE")
