"""The seller deduction ledger: queries and totals over the read model.

The ledger rows live in ``aftersales_deductions``, which the projector
(:mod:`.projector`) keeps from the ``DeductionRecorded``,
``DeductionWaived`` (a reversing row, ``<reason>_waived``, negative) and
``PointsDeducted`` (unit ``points``) events exactly once, with a tracking
position. It can be dropped and rebuilt from the events at any time
(:func:`rebuild`). Amounts are summed as exact decimals, per seller, reason
and currency (currencies, and points, are never mixed).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any, Protocol

from aftersales_es.adapters.sql import SqlStore, where
from aftersales_es.domain.errors import InvalidInputError
from aftersales_es.domain.events import (
    CaseEvent,
    DeductionRecorded,
    DeductionWaived,
    PointsDeducted,
)
from aftersales_es.readmodels.projector import DEDUCTIONS, Projector, ledger_entry, utc_key

COLUMNS = ("seller_id", "case_id", "reason", "amount", "currency", "at", "rule", "version")


class Source(Protocol):
    """Where the ledger is read: the read models, or the application holding them."""

    sql: SqlStore
    projector: Projector


def deductions(
    app: Source,
    *,
    seller: str | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    reason: str | None = None,
) -> list[dict[str, Any]]:
    """Ledger rows in time order, filtered; ``start`` inclusive, ``end`` exclusive.

    The interval is half-open so that consecutive periods (a day, a month)
    count each deduction exactly once.
    """
    if hasattr(app, "partitions"):  # a store of partitions: each one's rows, merged
        rows = [
            r
            for part in app.partitions
            for r in deductions(part, seller=seller, start=start, end=end, reason=reason)
        ]
        return sorted(
            rows,
            key=lambda r: (utc_key(datetime.fromisoformat(r["at"])), r["case_id"], r["version"]),
        )
    for name, when in (("from", start), ("to", end)):
        if when is not None and when.tzinfo is None:
            raise InvalidInputError(f"--{name} {when.isoformat()}: needs a timezone offset")
    app.projector.catch_up()
    cond, params = where(
        (
            ("seller_id = ?", seller),
            ("reason = ?", reason),
            ("at_utc >= ?", utc_key(start) if start else None),
            ("at_utc < ?", utc_key(end) if end else None),
        )
    )
    sql = f"SELECT {', '.join(COLUMNS)} FROM {DEDUCTIONS} WHERE 1 = 1{cond}"
    with app.sql.read() as cur:
        cur.execute(sql + " ORDER BY at_utc, case_id, version", params)
        rows = [dict(zip(COLUMNS, tuple(r), strict=True)) for r in cur.fetchall()]
    for r in rows:
        r["amount"] = Decimal(r["amount"])
        r["version"] = int(r["version"])
    return rows


def totals(
    rows: Iterable[dict[str, Any]], keys: Sequence[str] = ("seller_id", "reason", "currency")
) -> list[dict[str, Any]]:
    """Count and exact sum of ``amount`` per distinct ``keys``, sorted by the keys."""
    sums: dict[tuple[str, ...], list[Any]] = {}
    for r in rows:
        key = tuple(str(r[k]) for k in keys)
        acc = sums.setdefault(key, [0, Decimal(0)])
        acc[0] += 1
        acc[1] += r["amount"]
    return [
        {**dict(zip(keys, key, strict=True)), "count": n, "amount": total}
        for key, (n, total) in sorted(sums.items())
    ]


def report(
    app: Source,
    *,
    seller: str | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    reason: str | None = None,
) -> dict[str, Any]:
    """Rows plus totals per seller and reason, per seller, and per currency."""
    rows = deductions(app, seller=seller, start=start, end=end, reason=reason)
    return {
        "deductions": rows,
        "totals": totals(rows),
        "by_seller": totals(rows, ("seller_id", "currency")),
        "by_currency": totals(rows, ("currency",)),
    }


def from_events(events: Iterable[CaseEvent], case_id: str = "") -> list[dict[str, Any]]:
    """The ledger rows a case's events imply (what the projection must hold)."""
    rows = []
    for e in events:
        if isinstance(e, (DeductionRecorded, DeductionWaived, PointsDeducted)):
            reason, amount, unit = ledger_entry(e)
            rows.append(
                {
                    "seller_id": e.seller_id,
                    "case_id": case_id,
                    "reason": reason,
                    "amount": Decimal(amount),
                    "currency": unit,
                    "at": e.at.isoformat(),
                    "rule": e.rule,
                    "version": e.originator_version,
                }
            )
    return rows


def rebuild(app: Source) -> int:
    """Drop every read-model row and project the whole event log again."""
    return app.projector.rebuild()
