"""The case list: filters, the principal's scope, keyset paging (read model)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from aftersales_es.adapters.sql import where
from aftersales_es.app.access import Principal
from aftersales_es.http.service import Service
from aftersales_es.readmodels.projector import CASE_FIELDS, CASES, DEADLINES, utc_key

COLUMNS = tuple(c for c in CASE_FIELDS if c != "applied_at")


@dataclass(frozen=True)
class Filters:
    state: str | None = None
    platform: str | None = None
    seller: str | None = None
    due_before: datetime | None = None
    q: str | None = None  # case id prefix


def _query(principal: Principal, f: Filters, after: str | None) -> tuple[str, list[Any]]:
    seller = principal.seller if principal.role == "seller" else f.seller
    cond, params = where(
        (clause, value or None)
        for clause, value in (
            ("c.state = ?", f.state),
            ("c.platform = ?", f.platform),
            ("c.seller_id = ?", seller),
            ("c.case_id > ?", after),
            ("c.case_id >= ?", f.q),
            ("c.case_id < ?", f.q + "\U0010ffff" if f.q else None),
        )
    )
    sql = f"SELECT {', '.join(COLUMNS)} FROM {CASES} c WHERE 1 = 1{cond}"
    if f.due_before is not None:
        sql += f" AND EXISTS (SELECT 1 FROM {DEADLINES} d WHERE d.case_uuid = c.case_uuid"
        sql += " AND d.due_utc <= ?)"
        params.append(utc_key(f.due_before))
    return sql + " ORDER BY c.case_id LIMIT ?", params


def page(
    svc: Service, principal: Principal, f: Filters, after: str | None, limit: int
) -> tuple[list[dict[str, Any]], str | None]:
    """Up to ``limit`` cases after case id ``after``, and the cursor of the next page.

    A seller's scope is a column of the read model; a buyer's is not, so a
    buyer's pages are filtered through the cases' parties (cached).
    """
    svc.app.projector.catch_up()
    parts = getattr(svc.app, "partitions", [svc.app])  # a store of partitions: merged
    rows: list[dict[str, Any]] = []
    while True:
        sql, params = _query(principal, f, after)
        batch = []
        for part in parts:
            with part.sql.read() as cur:
                cur.execute(sql, [*params, limit + 1])
                batch += [dict(zip(COLUMNS, tuple(r), strict=True)) for r in cur.fetchall()]
        batch = sorted(batch, key=lambda r: str(r["case_id"]))[: limit + 1]
        if principal.role == "buyer":
            rows += [r for r in batch if svc.parties(r["case_id"])[1] == principal.buyer]
        else:
            rows += batch
        if len(rows) > limit or len(batch) <= limit:
            break
        after = batch[-1]["case_id"]
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, rows[-1]["case_id"] if more and rows else None
