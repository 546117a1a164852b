"""CLI plugin for moving and checking the record: export, replay, verify.

Exit codes: 0 clean, 1 when ``verify`` has a finding, 2 for an error (bad
input, unknown case, unreadable file).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from aftersales_es.cli.audit import history_text
from aftersales_es.cli.common import add_command, emit, open_app, writable_file
from aftersales_es.cli.render import progress, render_table


def _read(path: str) -> str:
    from aftersales_es.domain.errors import InvalidInputError

    try:
        return Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInputError(f"{path}: cannot read: {exc}") from None


def _export(args: argparse.Namespace) -> int:
    from aftersales_es.audit.export import export_lines

    app = open_app(args)
    with progress("export") as bar:
        lines, done = [], 0
        bundle = export_lines(app, args.cases, attachments=args.attachments)
        for line in bundle:  # every case is found before writing
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
    from aftersales_es.audit.blobs import check as check_blobs

    result.findings += check_blobs(app, args.cases)  # attachments missing, altered, orphaned
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


def _add_export(sub: Any) -> None:
    p = add_command(
        sub,
        "export",
        "write cases as self-contained JSON lines",
        _export,
        writes=False,
        examples=("export C1 C2 -o cases.jsonl", "export C1 --attachments -o c1-bundle.jsonl"),
    )
    p.add_argument("cases", nargs="+", metavar="CASE")
    p.add_argument(
        "-o", "--output", type=writable_file, metavar="FILE", help="file to write (default: stdout)"
    )
    p.add_argument(
        "--attachments",
        action="store_true",
        help="bundle each case's files (base64); replay checks them against their digests",
    )


def _add_replay(sub: Any) -> None:
    p = add_command(
        sub,
        "replay",
        "rebuild cases from an export file, no database",
        _replay,
        writes=False,
        examples=("replay cases.jsonl",),
    )
    p.add_argument("file", help="a file written by export")


def _add_verify(sub: Any) -> None:
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


def register(sub: Any) -> None:
    """Add the export, replay and verify subcommands to the ``aftersales`` parser."""
    _add_export(sub)
    _add_replay(sub)
    _add_verify(sub)
