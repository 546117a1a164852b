"""CLI plugin for auditors: history, deductions, audit.

Exit codes: 0 clean, 1 when ``audit`` finds a mismatch, 2 for an error
(bad input, unknown case).
"""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING, Any

from aftersales_es.cli.common import add_command, emit, instant, open_app, positive
from aftersales_es.cli.render import progress, render_table

if TYPE_CHECKING:
    from aftersales_es.audit.check import Report


def history_text(view: dict[str, Any]) -> str:
    """A history view for a terminal: the header, then one block per event, its
    amounts, deadlines and detail on indented lines wrapped to the width."""
    import textwrap

    from aftersales_es.audit.history import render_parts
    from aftersales_es.cli.render import width

    head, rows = render_parts(view)
    out = [*head, ""]
    fill = max(width(), 40)
    for r in rows:
        out.append(f"v{r['v']:<3} {r['at']}  {r['event']}  by {r['by']}  {r['state']}")
        for label in ("amounts", "deadlines", "detail"):
            parts = r[label].split("; ") if label == "deadlines" else [r[label]]
            for part in filter(None, parts):
                out += textwrap.wrap(
                    part,
                    fill,
                    initial_indent=f"     {label:<10} ",
                    subsequent_indent=" " * 16,
                    break_on_hyphens=False,
                )
    return "\n".join(out)


def _history(args: argparse.Namespace) -> int:
    from aftersales_es.audit.history import history

    app = open_app(args)
    view = history(app, args.case, version=args.version, as_of=args.as_of)
    emit(args, view, history_text)
    return 0


def _deductions(args: argparse.Namespace) -> int:
    from aftersales_es.readmodels import ledger

    app = open_app(args)
    if args.rebuild:
        ledger.rebuild(app)
    data = ledger.report(
        app,
        seller=args.seller,
        start=args.start,
        end=args.end,
        reason=args.reason,
    )
    emit(args, data, _ledger_text)
    return 0


def _ledger_text(data: dict[str, Any]) -> str:
    sections = [
        ("deductions", data["deductions"],
         ["at", "seller_id", "case_id", "reason", "amount", "currency", "rule"]),
        ("totals per seller and reason", data["totals"],
         ["seller_id", "reason", "currency", "count", "amount"]),
        ("totals per seller", data["by_seller"], ["seller_id", "currency", "count", "amount"]),
        ("totals per currency", data["by_currency"], ["currency", "count", "amount"]),
    ]  # fmt: skip
    return "\n\n".join(f"{title}:\n{render_table(rows, cols)}" for title, rows, cols in sections)


def _money(totals: dict[str, str]) -> str:
    return "  ".join(f"{c} {v}" for c, v in totals.items()) or "none"


def _audit_text(report: Report) -> str:
    """The report as text: a summary, then one line per mismatch."""
    data = report.as_dict()
    lines = [
        f"audited up to log position {data['position']}: {data['events']} events,"
        f" {data['case_events']} case events, {data['cases']} cases,"
        f" {data['deductions']} deductions",
        f"refunded:  {_money(data['refunded'])}",
        f"deducted:  {_money(data['deducted'])}",
        f"mismatches: {len(data['mismatches'])}",
    ]
    for m in data["mismatches"]:
        at = f" v{m['version']}" if "version" in m else ""
        if "expected" in m:
            order = f" order {m['order_id']}" if m.get("order_id") else ""
            lines.append(
                f"  {m['table']}: case {m['case_id'] or '?'}{order}{at} {m['field']}:"
                f" found {m['found']!r}, expected {m['expected']!r}"
            )
            continue
        lines.append(
            f"  {m['table']}: case {m['case_id'] or '?'} ({m['case_uuid']}){at} {m['field']}:"
            f" events say {m['events']!r}, read model says {m['read_model']!r}"
        )
    return "\n".join(lines)


def _audit(args: argparse.Namespace) -> int:
    from aftersales_es.audit.check import audit

    app = open_app(args)
    with progress("audit", show=args.progress) as bar:
        report = audit(app, progress=bar)
    if args.json:
        print(json.dumps(report.as_dict(), sort_keys=True, ensure_ascii=False))
    else:
        print(_audit_text(report))
    return 1 if report.mismatches else 0


def _add_history(sub: Any) -> None:
    p = add_command(
        sub,
        "history",
        "a case's timeline; --as-of/--version: as it stood then",
        _history,
        writes=False,
        examples=(
            "history C1",
            "history C1 --version 2",
            "history C1 --as-of 2026-05-15T00:00:00+08:00",
        ),
    )
    p.add_argument("case", help="case id")
    p.add_argument(
        "--as-of", dest="as_of", type=instant, metavar="TIME", help="as it stood then (ISO 8601)"
    )
    p.add_argument(
        "--version",
        type=positive(int, 1, strict=False),
        help="as it stood at this event version (1 = applied)",
    )


def _add_deductions(sub: Any) -> None:
    p = add_command(
        sub,
        "deductions",
        "the seller deduction ledger with totals",
        _deductions,
        writes=False,
        examples=(
            "deductions --seller S1 --from "
            "2026-05-01T00:00:00+03:00 --to 2026-06-01T00:00:00+03:00",
        ),
    )
    p.add_argument("--seller", help="only this seller")
    p.add_argument(
        "--from", dest="start", type=instant, metavar="TIME", help="from this time (inclusive)"
    )
    p.add_argument(
        "--to", dest="end", type=instant, metavar="TIME", help="up to this time (exclusive)"
    )
    p.add_argument("--reason", help="only this reason (ruled_liable, no_reply_arbitration, ...)")
    p.add_argument("--rebuild", action="store_true", help="rebuild the read models first")


def _add_audit(sub: Any) -> None:
    p = add_command(
        sub,
        "audit",
        "re-derive cases and ledger from events; exit 1 if they differ",
        _audit,
        writes=False,
        examples=("audit", "--json audit"),
    )
    p.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="progress on stderr (default: only on a terminal)",
    )


def register(sub: Any) -> None:
    """Add the history, deductions and audit subcommands to the ``aftersales`` parser."""
    _add_history(sub)
    _add_deductions(sub)
    _add_audit(sub)
