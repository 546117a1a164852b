"""CLI plugin for auditors: history, deductions, audit, export, replay, verify.

Exit codes: 0 clean, 1 when ``audit`` finds a mismatch or ``verify`` a
finding, 2 for an error (bad input, unknown case, unreadable file).
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aftersales_es.cli.common import add_command, emit, open_app, positive, writable_file
from aftersales_es.cli.render import progress, render_table

if TYPE_CHECKING:
    from aftersales_es.audit.check import Report


def _when(text: str | None, flag: str) -> datetime | None:
    from aftersales_es.domain.errors import InvalidInputError

    if text is None:
        return None
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidInputError(f"{flag} {text!r}: not an ISO 8601 time") from None
    if when.tzinfo is None:
        raise InvalidInputError(f"{flag} {text!r}: needs a timezone offset (+08:00, Z)")
    return when


def _read(path: str) -> str:
    from aftersales_es.domain.errors import InvalidInputError

    try:
        return Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInputError(f"{path}: cannot read: {exc}") from None


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
    view = history(app, args.case, version=args.version, as_of=_when(args.as_of, "--as-of"))
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
        start=_when(args.start, "--from"),
        end=_when(args.end, "--to"),
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


def _export(args: argparse.Namespace) -> int:
    from aftersales_es.audit.export import export_lines

    app = open_app(args)
    with progress("export") as bar:
        lines, done = [], 0
        for line in export_lines(app, args.cases):  # every case is found before writing
            lines.append(line)
            if bar is not None and line.startswith('{"type":"order"'):  # one per case
                done += 1
                bar(done, len(args.cases))
    text = "".join(line + "\n" for line in lines)
    if args.output:
        args.output.write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return 0


def _replay(args: argparse.Namespace) -> int:
    from aftersales_es.audit.export import replay
    from aftersales_es.audit.history import history_view

    rebuilt = replay(_read(args.file).splitlines())
    for i, r in enumerate(rebuilt):
        if i and not args.json:
            print()
        emit(args, history_view(r.case, r.events), history_text)
    return 0


def _anchor(text: str) -> Any:
    from aftersales_es.audit.anchor import load
    from aftersales_es.domain.errors import InvalidInputError

    try:
        data = json.loads(text)
    except ValueError:
        data = None
    if not isinstance(data, dict):
        raise InvalidInputError(
            "--against: not an anchor file (the JSON object 'verify --anchor' prints)"
        )
    return load(text)


def _verify(args: argparse.Namespace) -> int:
    from dataclasses import asdict

    from aftersales_es.audit import anchor as anchors
    from aftersales_es.audit.chain import migrate, verify

    app = open_app(args)
    if args.migrate:
        print(json.dumps(migrate(app), sort_keys=True))
    doc: dict[str, Any] | None = None
    if args.against:
        result = anchors.against(app, _anchor(_read(args.against)))
    elif args.anchor:
        result, doc = anchors.take(app, heads=args.heads)
    else:
        result = verify(app, args.cases)
    if result.findings:
        rows = [asdict(f) for f in result.findings]
        if args.json:
            print(json.dumps({"findings": rows}, sort_keys=True, ensure_ascii=False))
        else:
            print(render_table(rows, ["aggregate", "version", "problem", "detail", "uuid"]))
        return 1
    if doc is not None:
        print(json.dumps(doc, sort_keys=True, indent=None if args.json else 1))
    elif args.json:
        print(json.dumps({"findings": []}))
    return 0


def register(sub: Any) -> None:
    """Add the audit subcommands to the ``aftersales`` parser."""
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
    p.add_argument("--as-of", dest="as_of", metavar="TIME", help="as it stood then (ISO 8601)")
    p.add_argument(
        "--version",
        type=positive(int, 1, strict=False),
        help="as it stood at this event version (1 = applied)",
    )

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
    p.add_argument("--from", dest="start", metavar="TIME", help="from this time (inclusive)")
    p.add_argument("--to", dest="end", metavar="TIME", help="up to this time (exclusive)")
    p.add_argument("--reason", help="only this reason (ruled_liable, no_reply_arbitration, ...)")
    p.add_argument("--rebuild", action="store_true", help="rebuild the read models first")

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

    p = add_command(
        sub,
        "export",
        "write cases as self-contained JSON lines",
        _export,
        writes=False,
        examples=("export C1 C2 -o cases.jsonl",),
    )
    p.add_argument("cases", nargs="+", metavar="CASE")
    p.add_argument(
        "-o", "--output", type=writable_file, metavar="FILE", help="file to write (default: stdout)"
    )

    p = add_command(
        sub,
        "replay",
        "rebuild cases from an export file, no database",
        _replay,
        writes=False,
        examples=("replay cases.jsonl",),
    )
    p.add_argument("file", help="a file written by export")

    p = add_command(
        sub,
        "verify",
        "check the events' hash chains (tamper evidence)",
        _verify,
        writes=False,
        examples=("verify --anchor > heads.json", "verify --against heads.json"),
    )
    p.add_argument("cases", nargs="*", metavar="CASE", help="only these cases (default: all)")
    p.add_argument("--anchor", action="store_true", help="print the store-wide head as JSON")
    p.add_argument("--heads", action="store_true", help="with --anchor: list every chain head")
    p.add_argument(
        "--against", metavar="FILE", help="an anchor file: detect a rewritten or cut history"
    )
    p.add_argument(
        "--migrate", action="store_true", help="first chain events stored before the chain"
    )
