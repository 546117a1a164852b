"""A seller's settlement for a period: the one query the CLI and the API share.

For ``[start, end)`` it lists the seller's ledger rows, split into
deductions and penalties in money, freight charges (``return_freight``,
``send_back_freight``) and points penalties (apart: points are never money),
and the refunds the seller bears (each refund decision's payout instruction,
by the instant it was decided), with totals per currency. Every figure is a
sum of read-model rows that are themselves re-derived from events by the
audit, so the settlement matches the ledger to the cent.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any, Protocol

from aftersales_es.domain.freight import FREIGHT_KINDS
from aftersales_es.readmodels import ledger
from aftersales_es.readmodels.payouts import PayoutIndex
from aftersales_es.readmodels.projector import POINTS

SECTIONS = ("deductions", "freight", "refunds")


class Source(ledger.Source, Protocol):
    """The read models a settlement is read from (the application holds them)."""

    payout_index: PayoutIndex


def settlement(
    app: Source, *, seller: str, start: datetime | None = None, end: datetime | None = None
) -> dict[str, Any]:
    """The seller's settlement for ``[start, end)``: rows per section and totals."""
    rows = ledger.deductions(app, seller=seller, start=start, end=end)
    money = [r for r in rows if r["currency"] != POINTS]
    refunds = [
        {
            "at": p["decided_at"],
            "case_id": p["case_id"],
            "payout_id": p["payout_id"],
            "amount": p["amount"],
            "currency": p["currency"],
            "status": p["status"],
        }
        # A store of partitions: each partition's payouts, in time order.
        for p in sorted(
            (
                row
                for part in getattr(app, "partitions", [app])
                for row in part.payout_index.rows(seller=seller, start=start, end=end)
            ),
            key=lambda row: (row["decided_at"], row["case_id"], row["payout_id"]),
        )
    ]
    sections = {
        "deductions": [r for r in money if r["reason"] not in FREIGHT_KINDS],
        "freight": [r for r in money if r["reason"] in FREIGHT_KINDS],
        "refunds": refunds,
    }
    totals: dict[str, dict[str, Any]] = {}
    for name in SECTIONS:
        for r in sections[name]:
            zero = Decimal(0)
            row = totals.setdefault(
                r["currency"], {"currency": r["currency"], **dict.fromkeys(SECTIONS, zero)}
            )
            row[name] += r["amount"]
    for row in totals.values():
        row["total"] = sum((row[name] for name in SECTIONS), Decimal(0))
    points = [r for r in rows if r["currency"] == POINTS]
    return {
        "seller": seller,
        "from": start,
        "to": end,
        **sections,
        "points": points,
        "points_total": sum(int(r["amount"]) for r in points),
        "totals": [totals[c] for c in sorted(totals)],
        "by_reason": ledger.totals(money, ("reason", "currency")),
    }
