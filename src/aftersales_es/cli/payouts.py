"""CLI plugin: ``payouts`` (run, list, confirm, fail, retry, callback,
reconcile) and ``settlement``.

The provider the worker sends through is chosen by the environment
(``$AFTERSALES_PAYOUT_PROVIDER``: manual, webhook or fake; see
:func:`aftersales_es.adapters.providers.provider_from_env`).
"""

from __future__ import annotations

import argparse
import csv
import io
import sys
from datetime import UTC, datetime
from typing import Any

from aftersales_es.cli.common import add_command, emit, instant, open_app
from aftersales_es.cli.render import render_table

LIST_COLUMNS = ["payout_id", "case_id", "seller_id", "amount", "currency", "status", "attempts",
                "next_at", "reason"]  # fmt: skip


def _now(args: argparse.Namespace) -> datetime:
    at: datetime | None = getattr(args, "at", None) or getattr(args, "now", None)
    return at or datetime.now(UTC)


def _run(args: argparse.Namespace) -> int:
    from aftersales_es.adapters.providers import provider_from_env
    from aftersales_es.app.payouts import PayoutWorker
    from aftersales_es.cli.worker import json_line

    app = open_app(args)
    now: datetime | None = args.now
    clock = (lambda: now) if now is not None else (lambda: datetime.now(UTC))
    worker = PayoutWorker(app, provider_from_env(), app.payout_index, clock=clock, log=json_line)
    worker.run_once()
    return 0


def _list(args: argparse.Namespace) -> int:
    app = open_app(args)  # kept: the index reads on its connections
    rows = app.payout_index.rows(status=args.status, stuck=args.stuck, seller=args.seller)
    emit(args, rows, lambda r: render_table(r, LIST_COLUMNS))
    return 0


def _view(p: Any) -> dict[str, Any]:
    keys = (
        "payout_id",
        "case_id",
        "seller_id",
        "buyer_id",
        "amount",
        "currency",
        "method",
        "payment_reference",
        "status",
        "attempts",
        "reference",
        "reason",
        "retry_at",
    )
    return {k: getattr(p, k) for k in keys}


def _one(args: argparse.Namespace, data: dict[str, Any]) -> None:
    def table(d: dict[str, Any]) -> str:
        return render_table([{"": k, "value": v} for k, v in d.items()], ["", "value"])

    emit(args, data, table)


def _confirm(args: argparse.Namespace) -> int:
    from aftersales_es.app.payouts import Payouts

    p = Payouts(open_app(args)).confirm(args.id, at=_now(args), reference=args.reference)
    _one(args, _view(p))
    return 0


def _fail(args: argparse.Namespace) -> int:
    from aftersales_es.app.payouts import Payouts

    p = Payouts(open_app(args)).fail(args.id, at=_now(args), reason=args.reason)
    _one(args, _view(p))
    return 0


def _retry(args: argparse.Namespace) -> int:
    from aftersales_es.app.payouts import Payouts

    p = Payouts(open_app(args)).retry(args.id, at=_now(args))
    _one(args, _view(p))
    return 0


def _callback(args: argparse.Namespace) -> int:
    from aftersales_es.app.payouts import Payouts

    p, recorded = Payouts(open_app(args)).callback(
        args.id, at=_now(args), status=args.status, reference=args.reference, reason=args.reason
    )
    _one(args, {**_view(p), "recorded": recorded})
    return 0


def reconcile_text(data: dict[str, Any]) -> str:
    """The reconciliation as tables: totals, then one line per mismatch."""
    cols = ["currency", "seller_id", "refunds", "decided", "payouts", "paid", "failed", "pending"]
    lines = [render_table(data["totals"], cols), f"mismatches: {len(data['mismatches'])}"]
    for m in data["mismatches"]:
        extra = " ".join(f"{k} {m[k]}" for k in ("refund", "payout") if k in m)
        where = f"case {m['case_id']} v{m['version']} {m['payout_id']}"
        lines.append(f"  {where}: {m['problem']} {extra}")
    return "\n".join(lines)


def _reconcile(args: argparse.Namespace) -> int:
    from aftersales_es.audit.payouts import reconcile

    data = reconcile(open_app(args)).as_dict()
    emit(args, data, reconcile_text)
    return 0 if data["clean"] else 1


def settlement_text(data: dict[str, Any]) -> str:
    """A settlement as tables: each section, then the totals per currency."""
    ledger_cols = ["at", "case_id", "reason", "amount", "currency", "rule"]
    sections = [
        ("deductions and penalties", data["deductions"], ledger_cols),
        ("freight charges", data["freight"], ledger_cols),
        (
            "refunds borne",
            data["refunds"],
            ["at", "case_id", "payout_id", "amount", "currency", "status"],
        ),
        ("points (not money)", data["points"], ["at", "case_id", "reason", "amount", "rule"]),
        (
            "totals per currency",
            data["totals"],
            ["currency", "deductions", "freight", "refunds", "total"],
        ),
    ]
    start, end = data["from"] or "the first entry", data["to"] or "the last"
    head = f"settlement of seller {data['seller']}: from {start} to {end}"
    return "\n\n".join([head, *(f"{t}:\n{render_table(r, c)}" for t, r, c in sections)])


def settlement_csv(data: dict[str, Any]) -> str:
    """Every row of a settlement as CSV: section, at, case, kind, amount, currency."""
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(["section", "at", "case_id", "kind", "amount", "currency", "rule"])
    for section in ("deductions", "freight", "refunds", "points"):
        for r in data[section]:
            kind = r.get("reason") or r.get("payout_id", "")
            w.writerow(
                [
                    section,
                    r["at"],
                    r["case_id"],
                    kind,
                    r["amount"],
                    r["currency"],
                    r.get("rule") or "",
                ]
            )
    for t in data["totals"]:
        w.writerow(["total", "", "", "total", t["total"], t["currency"], ""])
    return out.getvalue()


def _settlement(args: argparse.Namespace) -> int:
    from aftersales_es.readmodels.settlement import settlement

    data = settlement(open_app(args), seller=args.seller, start=args.start, end=args.end)
    if args.csv:
        sys.stdout.write(settlement_csv(data))
        return 0
    emit(args, data, settlement_text)
    return 0


def _add_payouts(sub: Any) -> None:
    p = sub.add_parser("payouts", help="refund payouts: run the worker, list, confirm, reconcile")
    actions = p.add_subparsers(dest="payouts_cmd", required=True, metavar="ACTION")
    q = add_command(
        actions,
        "run",
        "send due payout instructions to the provider once",
        _run,
        writes=True,
        examples=("payouts run", "payouts run --now 2026-06-01T00:00:00+08:00"),
    )
    q.add_argument("--now", type=instant, metavar="TIME", help="the worker's now (default: now)")
    q = add_command(
        actions,
        "list",
        "payout instructions; --stuck: given up, a person must act",
        _list,
        writes=False,
        examples=("payouts list --stuck",),
    )
    q.add_argument("--status", choices=("pending", "sending", "accepted", "succeeded", "given_up"))
    q.add_argument("--stuck", action="store_true", help="only those given up (need a person)")
    q.add_argument("--seller", help="only this seller's")
    for name, func, text in (
        ("confirm", _confirm, "a person (or the provider) records that the money arrived"),
        ("fail", _fail, "a person records that the payout failed for good"),
        ("retry", _retry, "send a given-up payout again (its tries start over)"),
        ("callback", _callback, "the provider's final outcome (as its webhook callback does)"),
    ):
        q = add_command(
            actions,
            name,
            text,
            func,
            writes=True,
            examples=(f"payouts {name} PO-C1-5 --at 2026-06-01T10:00:00+08:00",),
        )
        q.add_argument("id", help="payout id (see payouts list)")
        q.add_argument("--at", type=instant, metavar="TIME", help="when (default: now)")
        if name == "confirm":
            q.add_argument("--reference", required=True, help="the payment's reference")
        if name == "fail":
            q.add_argument("--reason", required=True, help="why, for the record")
        if name == "callback":
            q.add_argument("--status", required=True, choices=("succeeded", "failed"))
            q.add_argument("--reference", default="", help="the provider's payment reference")
            q.add_argument("--reason", default="", help="the provider's reason for a failure")
    add_command(
        actions,
        "reconcile",
        "refunds decided vs paid, failed, pending; exit 1 on a mismatch",
        _reconcile,
        writes=False,
        examples=("payouts reconcile",),
    )


def _add_settlement(sub: Any) -> None:
    q = add_command(
        sub,
        "settlement",
        "a seller's period: deductions, freight, refunds borne, points; totals per currency",
        _settlement,
        writes=False,
        examples=(
            "settlement --seller S1 --from 2026-05-01T00:00:00+08:00 "
            "--to 2026-06-01T00:00:00+08:00 --csv",
        ),
    )
    q.add_argument("--seller", required=True, help="the seller")
    q.add_argument("--from", dest="start", type=instant, metavar="TIME", help="inclusive")
    q.add_argument("--to", dest="end", type=instant, metavar="TIME", help="exclusive")
    q.add_argument("--csv", action="store_true", help="every row as CSV on stdout")


def register(sub: Any) -> None:
    """Add the ``payouts`` and ``settlement`` commands."""
    _add_payouts(sub)
    _add_settlement(sub)
