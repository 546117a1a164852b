"""Payout reconciliation: refunds decided against payouts made, from the events.

Every ``Refunded`` event (with a positive amount) is a decision that must
have exactly one payout instruction with the same case, refund version,
amount and currency; every instruction must point at such a decision.
Refunds stored before the first instruction in the log (a store written
before payouts existed) are counted apart, not reported as mismatches. The
figures per currency and seller say what was decided, paid (succeeded),
failed (given up: a person must act) and is still pending. Both sides are
read from the event log (cases' ``Applied`` for their seller and currency,
``Refunded``, and every payout event), never from the read models, so the
report re-derives what the payout index shows. ``aftersales audit`` includes
the mismatches.

The two sides arrive in different orders (cases by case id, payouts by
payout id), so the check streams: :class:`PayoutSide` takes the payout
events in the audit's one scan of the log and each case as it is derived,
adds each refund decision's fact to a multiset hash and takes each
instruction's away, and keeps only the totals. A zero sum means every
refund has its one instruction and there is no other; memory does not grow
with the store. Only when the sum is off (a mismatch, or a store with
refunds from before payouts existed) does :func:`reconcile` read both sides
into memory to name each case and instruction.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from aftersales_es.audit.bulk import Derived, derive
from aftersales_es.audit.reconcile import decoder
from aftersales_es.domain import events as ev
from aftersales_es.domain import payout as po

if TYPE_CHECKING:
    from aftersales_es.engine import AfterSales

_CASE_TOPICS = ["aftersales_es.events:Applied", "aftersales_es.events:Refunded"]
_PAYOUT_TOPICS = [
    f"{po.PayoutInstructed.__module__}:{cls.__qualname__}"
    for cls in (
        po.PayoutInstructed,
        po.PayoutSent,
        po.PayoutAccepted,
        po.PayoutSucceeded,
        po.PayoutFailed,
        po.PayoutRetryScheduled,
        po.PayoutGivenUp,
    )
]
PAGE = 1000
#: Payout statuses as the reconciliation groups them.
BUCKET = {"succeeded": "paid", "given_up": "failed"}
#: The group a payout is in after each of its events (``Payout``'s statuses
#: through :data:`BUCKET`); a ``PayoutFailed`` changes no status.
AFTER = {
    "PayoutInstructed": "pending",
    "PayoutSent": "pending",
    "PayoutAccepted": "pending",
    "PayoutRetryScheduled": "pending",
    "PayoutSucceeded": "paid",
    "PayoutGivenUp": "failed",
}
_MASK = (1 << 64) - 1


@dataclass
class Reconciliation:
    """Totals per (currency, seller) and every mismatch; clean when none."""

    totals: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    mismatches: list[dict[str, Any]] = field(default_factory=list)
    #: Refunds decided before the store kept payout instructions (not mismatches).
    before_outbox: int = 0

    def add(self, currency: str, seller: str, column: str, amount: Decimal) -> None:
        zero = Decimal(0)
        row = self.totals.setdefault(
            (currency, seller),
            {
                "currency": currency,
                "seller_id": seller,
                "decided": zero,
                "paid": zero,
                "failed": zero,
                "pending": zero,
                "refunds": 0,
                "payouts": 0,
            },
        )
        row[column] += amount

    def as_dict(self) -> dict[str, Any]:
        """Plain, sorted data."""
        return {
            "totals": [self.totals[k] for k in sorted(self.totals)],
            "mismatches": sorted(self.mismatches, key=lambda m: (m["case_id"], m["version"])),
            "clean": not self.mismatches,
            "refunds_before_payouts_existed": self.before_outbox,
        }


class PayoutSide:
    """Both sides of the reconciliation as one scan passes them: payout events
    (:attr:`topics`, through :meth:`row`, in key order) and cases (through
    :meth:`case`). Keeps the totals and a multiset hash, nothing per case."""

    topics = frozenset(_PAYOUT_TOPICS)

    def __init__(self, app: AfterSales, cur: Any, stop: int) -> None:
        self.decode = decoder(app)
        self.report = Reconciliation()
        self.first = _first_instruction(app, cur, stop)
        self.sum = 0
        self._raw: Any = None
        self._fields: dict[str, Any] | None = None
        self._group = "pending"

    def row(self, raw: Any, version: int, topic: str, state: bytes) -> None:
        """One payout event (each payout's events arrive together, in version order)."""
        if raw != self._raw:
            self._close()
            self._raw, self._fields, self._group = raw, None, "pending"
        name = topic.rpartition(":")[2]
        if name == "PayoutInstructed":
            self._fields = self.decode(state)
        self._group = AFTER.get(name, self._group)

    def _close(self) -> None:
        f = self._fields
        if f is None:
            return
        amount = Decimal(_amount(f["amount"]))
        self.report.add(f["currency"], f["seller_id"], self._group, amount)
        self.report.totals[(f["currency"], f["seller_id"])]["payouts"] += 1
        fact = (f["case_id"], int(f["refund_version"]), amount, f["currency"])
        self.sum = (self.sum - hash(fact)) & _MASK
        self._fields = None

    def case(self, d: Derived) -> None:
        """One case: each refund it decided (a positive amount) wants one instruction."""
        case_id, seller, currency = d.row[0], d.row[2], d.row[8]
        if case_id is None:
            return
        for version, _, amount, *_ in d.refunds:
            value = Decimal(_amount(amount))
            if value <= 0:
                continue
            self.report.add(currency, seller, "decided", value)
            self.report.totals[(currency, seller)]["refunds"] += 1
            if self.first is None or d.refunded_at[version] < self.first:
                self.report.before_outbox += 1  # decided before instructions were kept
            else:
                self.sum = (self.sum + hash((case_id, int(version), value, currency))) & _MASK

    def clean(self) -> bool:
        """True once the scan is over if the two sides match exactly."""
        self._close()
        return self.sum == 0


def _first_instruction(app: AfterSales, cur: Any, stop: int) -> int | None:
    """The log position of the first payout instruction up to ``stop``, if any."""
    table = app.recorder.events_table_name  # type: ignore[attr-defined]
    position = "notification_id" if app.sql.dialect == "postgres" else "rowid"
    cur.execute(
        f"SELECT MIN({position}) FROM {table} WHERE topic = ? AND {position} <= ?",
        (_PAYOUT_TOPICS[0], stop),
    )
    row = cur.fetchone()
    return None if row is None or row[0] is None else int(row[0])


def _amount(value: Any) -> str:
    return str(value["_data_"] if isinstance(value, dict) else value)


def _notes(app: AfterSales, topics: list[str], stop: int | None) -> Iterator[Any]:
    start = 1
    while True:
        page = app.recorder.select_notifications(start=start, limit=PAGE, topics=topics, stop=stop)
        if not page:
            return
        for n in page:
            yield n.id, app.mapper.to_domain_event(n)
        start = page[-1].id + 1


def reconcile(app: AfterSales, stop: int | None = None) -> Reconciliation:
    """Refunds decided vs payouts, up to log position ``stop`` (None: all).
    A store of partitions is reconciled a partition at a time (a payout lives
    in its case's partition) and the totals added up."""
    if hasattr(app, "partitions"):
        return _merged([reconcile(part) for part in app.partitions])
    with app.sql.read() as cur:
        end = stop if stop is not None else int(app.recorder.max_notification_id() or 0)
        side = PayoutSide(app, cur, end)
        for d in derive(app, cur, end, others=side):
            side.case(d)
    return side.report if side.clean() else named(app, stop)


def named(app: AfterSales, stop: int | None = None) -> Reconciliation:
    """:func:`reconcile` with both sides read into memory, to name every
    mismatch: what the streaming check does when its sum is off."""
    cases: dict[str, tuple[str, str, str]] = {}  # case uuid -> (case id, seller, currency)
    refunds: dict[tuple[str, int], tuple[Decimal, str, str]] = {}
    positions: dict[tuple[str, int], int] = {}
    for position, e in _notes(app, _CASE_TOPICS, stop):
        key = str(e.originator_id)
        if isinstance(e, ev.Applied):
            cases[key] = (e.case_id, e.seller_id, e.currency)
        elif isinstance(e, ev.Refunded) and e.amount > 0 and key in cases:
            case_id, seller, currency = cases[key]
            refunds[(case_id, e.originator_version)] = (e.amount, currency, seller)
            positions[(case_id, e.originator_version)] = position
    payouts: dict[str, Any] = {}
    first = None  # where the outbox began: refunds before it had no instruction
    for position, e in _notes(app, _PAYOUT_TOPICS, stop):
        first = position if first is None else first
        payouts[str(e.originator_id)] = e.mutate(payouts.get(str(e.originator_id)))
    report = Reconciliation()
    for amount, currency, seller in refunds.values():
        report.add(currency, seller, "decided", amount)
        report.totals[(currency, seller)]["refunds"] += 1
    seen: set[tuple[str, int]] = set()
    for p in payouts.values():
        ref = (p.case_id, p.refund_version)
        report.add(p.currency, p.seller_id, BUCKET.get(p.status, "pending"), p.amount)
        report.totals[(p.currency, p.seller_id)]["payouts"] += 1
        found = refunds.get(ref)
        where = {"case_id": p.case_id, "version": p.refund_version, "payout_id": p.payout_id}
        if ref in seen:
            report.mismatches.append({**where, "problem": "second payout for one refund"})
        seen.add(ref)
        if found is None:
            report.mismatches.append(
                {
                    **where,
                    "problem": "payout without a refund decision",
                    "payout": f"{p.amount} {p.currency}",
                }
            )
        elif (found[0], found[1]) != (p.amount, p.currency):
            report.mismatches.append(
                {
                    **where,
                    "problem": "amount differs",
                    "refund": f"{found[0]} {found[1]}",
                    "payout": f"{p.amount} {p.currency}",
                }
            )
    for (cid, version), (amount, currency, _) in refunds.items():
        if (cid, version) in seen:
            continue
        if first is None or positions[(cid, version)] < first:
            report.before_outbox += 1  # decided before instructions were kept
        else:
            report.mismatches.append(
                {
                    "case_id": cid,
                    "version": version,
                    "payout_id": "",
                    "problem": "refund decided without a payout",
                    "refund": f"{amount} {currency}",
                }
            )
    return report


def _merged(parts: list[Reconciliation]) -> Reconciliation:
    """The reconciliations of a store's partitions as one (totals added up)."""
    out = Reconciliation()
    for r in parts:
        for key, row in r.totals.items():
            if key not in out.totals:
                out.totals[key] = dict(row)
                continue
            mine = out.totals[key]
            for column, value in row.items():
                if column not in ("currency", "seller_id"):
                    mine[column] += value
        out.mismatches += r.mismatches
        out.before_outbox += r.before_outbox
    return out


def audit_mismatches(app: AfterSales, stop: int | None = None) -> list[dict[str, Any]]:
    """The reconciliation's named mismatches in the audit's shape (table ``payouts``)."""
    return [
        {
            "table": "payouts",
            "case_id": m["case_id"],
            "case_uuid": "",
            "version": m["version"],
            "field": m["problem"],
            "found": m.get("payout", m["payout_id"]),
            "expected": m.get("refund", ""),
        }
        for m in named(app, stop).mismatches
    ]
