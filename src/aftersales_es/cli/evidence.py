"""CLI plugin for attachments and evidence: ``attach``, ``evidence``, ``blob get``,
``blob gc``; and reading the files that ``--attach`` names.

``message`` and ``--attach`` on ``apply`` and ``submit_evidence`` are case
commands (:mod:`.cases`); :mod:`.files` reads the files.
"""

from __future__ import annotations

import argparse
import re
from typing import Any

from aftersales_es.cli.common import add_command, emit, instant, open_app, positive, writable_file
from aftersales_es.cli.render import render_table

EVIDENCE_COLUMNS = ("id", "v", "by", "kind", "text", "name", "media_type", "size", "digest")


def _attach(args: argparse.Namespace) -> int:
    from aftersales_es.cli.cases import case_text, case_view
    from aftersales_es.cli.files import read_files

    refs, files = read_files(args.file)
    app = open_app(args)
    data: dict[str, Any] = {"case": args.case, "by": args.by, "at": args.at}
    case = app.execute("message", attachments=refs, files=files, **data)
    emit(args, case_view(app, case), case_text)
    return 0


def evidence_rows(case: Any) -> list[dict[str, Any]]:
    """One row per evidence item and attachment: id, version, author, kind, text, file."""
    files = {a["digest"]: a for a in case.attachments}
    rows = []
    for item in case.evidence:
        head = {"id": item["id"], "v": item["version"], "by": item["by"], "kind": item["kind"],
                "text": item["text"]}  # fmt: skip
        for digest in item["attachments"] or [None]:
            ref = files.get(digest, {}) if digest else {}
            rows.append({**head, **{k: ref.get(k, "") for k in ("name", "media_type", "size")},
                         "digest": digest or ""})  # fmt: skip
            head = {**dict.fromkeys(head, ""), "id": item["id"]}
    return rows


def _evidence(args: argparse.Namespace) -> int:
    app = open_app(args)
    rows = evidence_rows(app.get_case(args.case))
    emit(args, rows, lambda r: render_table(r, list(EVIDENCE_COLUMNS)) if r else "no evidence")
    return 0


def _blob_get(args: argparse.Namespace) -> int:
    from aftersales_es.domain.errors import InvalidInputError, NotFoundError

    if not re.fullmatch(r"[0-9a-f]{64}", args.digest):
        raise InvalidInputError(f"digest {args.digest!r}: 64 lowercase hex digits (sha256)")
    app = open_app(args)
    data = app.blobs.get(args.digest)
    if data is None:
        raise NotFoundError(f"blob {args.digest}: not in {app.blobs.where}")
    args.output.write_bytes(data)
    return 0


def _blob_gc(args: argparse.Namespace) -> int:
    from datetime import timedelta

    from aftersales_es.audit.blobs import collect

    removed = collect(open_app(args), timedelta(hours=args.grace_hours), args.now)
    emit(args, {"removed": removed}, lambda d: "\n".join(d["removed"]) or "nothing to remove")
    return 0


def _add_blob(sub: Any) -> None:
    blob = sub.add_parser("blob", help="attachment bytes in the blob store: get, gc")
    inner = blob.add_subparsers(dest="blob_cmd", required=True, metavar="ACTION")
    p = add_command(inner, "get", "write an attachment's bytes to a file", _blob_get,
                    writes=False, examples=("blob get 6b7fa4...bcd0 -o photo.png",))  # fmt: skip
    p.add_argument("digest", help="the sha256 of the file ('evidence CASE' lists them)")
    p.add_argument("-o", "--output", type=writable_file, required=True, metavar="FILE",
                   help="file to write")  # fmt: skip
    p = add_command(
        inner,
        "gc",
        "remove blobs no event cites (left by a command that failed after writing them)",
        _blob_gc,
        writes=False,
        examples=("blob gc", "blob gc --grace-hours 24"),
    )
    p.add_argument(
        "--grace-hours",
        type=positive(float),
        default=1.0,
        help="keep blobs younger than this: a command may be saving them (default 1)",
    )
    p.add_argument("--now", type=instant, metavar="TIME", help="the instant to count from")


def register(sub: Any) -> None:
    """Add ``attach``, ``evidence`` and ``blob`` to the ``aftersales`` parser."""
    p = add_command(
        sub,
        "attach",
        "attach a file to a case as a message of its own (buyer, seller or platform)",
        _attach,
        writes=True,
        examples=("attach C1 lid.jpg --by buyer --at 2026-05-14T11:00:00+08:00",),
    )
    p.add_argument("case", help="case id")
    p.add_argument("file", nargs="+", help="the file(s): photos, videos, PDFs")
    p.add_argument("--by", required=True, choices=("buyer", "seller", "platform"),
                   help="who attaches it (buyer, seller, platform)")  # fmt: skip
    p.add_argument("--at", type=instant, metavar="TIME", help="when, ISO 8601 (default: now)")
    p = add_command(
        sub,
        "evidence",
        "a case's evidence items (E1, ...) and attachments, with their digests",
        _evidence,
        writes=False,
        examples=("evidence C1", "--json evidence C1"),
    )
    p.add_argument("case", help="case id")
    _add_blob(sub)
