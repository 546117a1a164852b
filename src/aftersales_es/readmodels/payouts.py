"""The payout index: every refund payout instruction and where it stands.

Kept from the payout events by its own tracking projection (exactly once,
rebuilt from 0 like the other read models), and read here: what a worker may
send now (:meth:`PayoutIndex.sendable`), the instructions listed for people
(:meth:`PayoutIndex.rows`, ``stuck`` for those given up), and what
reconciliation and settlement sum.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from eventsourcing.persistence import ApplicationRecorder

from aftersales_es.adapters.sql import Cursor, SqlStore, where
from aftersales_es.domain import payout as po
from aftersales_es.domain.errors import InvalidInputError
from aftersales_es.readmodels.projector import utc_key
from aftersales_es.readmodels.tracking import TrackingProjection

PAYOUTS = "aftersales_payouts"
PAYOUT_TOPIC = "aftersales_es.domain.payout:"
COLUMNS = (
    "payout_id",
    "case_id",
    "order_id",
    "seller_id",
    "amount",
    "currency",
    "method",
    "payment_reference",
    "status",
    "attempts",
    "next_at",
    "decided_at",
    "updated_at",
    "provider",
    "reference",
    "reason",
    "refund_version",
)
DDL = (
    f"CREATE TABLE IF NOT EXISTS {PAYOUTS} (payout_uuid TEXT PRIMARY KEY, payout_id TEXT NOT NULL,"
    " case_id TEXT NOT NULL, order_id TEXT NOT NULL, seller_id TEXT NOT NULL,"
    " amount TEXT NOT NULL, currency TEXT NOT NULL, method TEXT NOT NULL,"
    " payment_reference TEXT NOT NULL, status TEXT NOT NULL, attempts INTEGER NOT NULL,"
    " next_utc TEXT, next_at TEXT, decided_utc TEXT NOT NULL, decided_at TEXT NOT NULL,"
    " updated_at TEXT NOT NULL, provider TEXT NOT NULL, reference TEXT NOT NULL,"
    " reason TEXT NOT NULL, refund_version INTEGER NOT NULL)",
    f"CREATE INDEX IF NOT EXISTS {PAYOUTS}_next ON {PAYOUTS} (status, next_utc)",
    f"CREATE INDEX IF NOT EXISTS {PAYOUTS}_seller ON {PAYOUTS} (seller_id, decided_utc)",
)


def _changes(e: Any) -> dict[str, Any]:
    """The columns one payout event changes (besides ``updated_at``)."""
    if isinstance(e, po.PayoutSent):
        due = e.lease_until
        return {
            "status": "sending",
            "attempts": e.attempt,
            "provider": e.provider,
            "next_utc": utc_key(due),
            "next_at": due.isoformat(),
        }
    if isinstance(e, po.PayoutAccepted):
        return {"status": "accepted", "reference": e.reference, "next_utc": None, "next_at": None}
    if isinstance(e, po.PayoutSucceeded):
        return {
            "status": "succeeded",
            "reference": e.reference,
            "reason": "",
            "next_utc": None,
            "next_at": None,
        }
    if isinstance(e, po.PayoutFailed):
        return {"reason": e.reason}
    if isinstance(e, po.PayoutRetryScheduled):
        due = e.retry_at
        return {"status": "pending", "next_utc": utc_key(due), "next_at": due.isoformat()}
    if isinstance(e, po.PayoutGivenUp):
        return {"status": "given_up", "reason": e.reason, "next_utc": None, "next_at": None}
    return {}


class PayoutProjection(TrackingProjection):
    """Keeps :data:`PAYOUTS` from the payout events."""

    tracker = "payouts"
    tables = (PAYOUTS,)
    ddl = DDL
    topics = PAYOUT_TOPIC

    def project(self, cur: Cursor, events: Sequence[Any]) -> None:
        for e in events:
            key = str(e.originator_id)
            if isinstance(e, po.PayoutInstructed):
                at = e.at
                cur.execute(
                    f"INSERT INTO {PAYOUTS} (payout_uuid, payout_id, case_id, order_id, seller_id,"
                    " amount, currency, method, payment_reference, status, attempts, next_utc,"
                    " next_at, decided_utc, decided_at, updated_at, provider, reference, reason,"
                    " refund_version) VALUES (?,?,?,?,?,?,?,?,?,'pending',0,?,?,?,?,?,'','','',?)"
                    " ON CONFLICT (payout_uuid) DO NOTHING",
                    (
                        key,
                        e.payout_id,
                        e.case_id,
                        e.order_id,
                        e.seller_id,
                        str(e.amount),
                        e.currency,
                        e.method,
                        e.payment_reference,
                        utc_key(at),
                        at.isoformat(),
                        utc_key(at),
                        at.isoformat(),
                        at.isoformat(),
                        e.refund_version,
                    ),
                )
                continue
            row = {**_changes(e), "updated_at": e.at.isoformat()}
            cols = ", ".join(f"{c} = ?" for c in row)
            cur.execute(f"UPDATE {PAYOUTS} SET {cols} WHERE payout_uuid = ?", (*row.values(), key))


class PayoutIndex:
    """The payout index of one store: kept by :attr:`projection`, read here."""

    def __init__(
        self, sql: SqlStore, recorder: ApplicationRecorder, decode: Callable[[Any], Any]
    ) -> None:
        self.sql = sql
        self.projection = PayoutProjection(
            sql,
            lambda start, limit: recorder.select_notifications(start=start, limit=limit),
            decode,
        )

    def catch_up(self) -> int:
        """Project the events not yet projected; how many."""
        return self.projection.catch_up()

    def sendable(self, now: datetime, limit: int = 100) -> list[str]:
        """Payouts pending and due at ``now``, or sent and unanswered past their
        lease, earliest first (the :class:`~aftersales_es.app.ports.PayoutQueue`)."""
        if now.tzinfo is None:
            raise InvalidInputError("now: needs a timezone")
        self.catch_up()
        with self.sql.read() as cur:
            cur.execute(
                f"SELECT payout_id FROM {PAYOUTS} WHERE status IN ('pending', 'sending')"
                " AND next_utc <= ? ORDER BY next_utc, payout_id LIMIT ?",
                (utc_key(now), limit),
            )
            return [str(r[0]) for r in cur.fetchall()]

    def rows(
        self,
        *,
        status: str | None = None,
        stuck: bool = False,
        seller: str | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
    ) -> list[dict[str, Any]]:
        """Instructions in decision order, filtered; ``stuck``: given up (a person
        must confirm, fail or retry them). ``start``/``end``: decided in [start, end)."""
        self.catch_up()
        cond, params = where(
            (
                ("status = ?", "given_up" if stuck else status),
                ("seller_id = ?", seller),
                ("decided_utc >= ?", utc_key(start) if start else None),
                ("decided_utc < ?", utc_key(end) if end else None),
            )
        )
        sql = f"SELECT {', '.join(COLUMNS)} FROM {PAYOUTS} WHERE 1 = 1{cond}"
        with self.sql.read() as cur:
            cur.execute(sql + " ORDER BY decided_utc, payout_id", params)
            found = [dict(zip(COLUMNS, tuple(r), strict=True)) for r in cur.fetchall()]
        for r in found:
            r["amount"] = Decimal(r["amount"])
        return found

    def rebuild(self) -> int:
        """Empty the index and project the whole log again."""
        return self.projection.rebuild()
