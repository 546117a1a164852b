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

from aftersales_es.cli import ruletools


def _json(args: argparse.Namespace) -> bool:
    # `--json` is accepted before the command (global) and after it (local).
    return bool(args.json or args.local_json)


def _list(args: argparse.Namespace) -> int:
    rows = ruletools.list_rulesets()
    print(json.dumps(rows, ensure_ascii=False) if _json(args) else ruletools.list_text(rows))
    return 0


def _show(args: argparse.Namespace) -> int:
    view = ruletools.show(args.ruleset)
    print(json.dumps(view, ensure_ascii=False) if _json(args) else ruletools.show_text(view))
    return 0


def _check(args: argparse.Namespace) -> int:
    result = ruletools.check_file(args.file)
    if _json(args):
        print(json.dumps(result.as_dict(), ensure_ascii=False))
    else:
        print("\n".join(result.lines()))
    return 0 if result.ok else 2


def register(sub: Any) -> None:
    """Add the ``rules`` command to the ``aftersales`` parser."""
    p = sub.add_parser("rules", help="list, show and check platform rule sets")
    rules = p.add_subparsers(dest="rules_cmd", required=True, metavar="ACTION")
    json_flag: dict[str, Any] = {
        "dest": "local_json",
        "action": "store_true",
        "help": "machine-readable output",
    }
    q = rules.add_parser("list", help="the shipped rule sets")
    q.add_argument("--json", **json_flag)
    q.set_defaults(func=_list)
    q = rules.add_parser("show", help="every value with its rule id and basis")
    q.add_argument("ruleset", metavar="NAME|PATH", help="a shipped name or a rule-set file")
    q.add_argument("--json", **json_flag)
    q.set_defaults(func=_show)
    q = rules.add_parser("check", help="validate a rule-set file (exit 2 on problems)")
    q.add_argument("file", metavar="FILE")
    q.add_argument("--json", **json_flag)
    q.set_defaults(func=_check)
