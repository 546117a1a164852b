"""The audit: re-derive every case and the whole ledger from the events alone,
and compare them with the stored read models.

Beside the read models, the same pass checks the events against each other
(:mod:`.reconcile`): each refund against the total it carries, each case
against its order (cases opened, slots still held, refunds per case and per
line, the order's cap) and each rule-set digest against its stored record.

The case events are streamed in case order, a page at a time (not one
``repository.get`` per case), and each case is folded from its own events by
:mod:`.replay`; the three read models are read in the same key order, so the
comparison is one merge in a single pass and nothing is kept once a case is
done: memory stays flat however many cases there are. Everything printed is
sorted and carries no wall-clock time, so two runs on one store print the
same bytes whatever ``TZ`` or ``PYTHONHASHSEED`` say.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from aftersales_es.adapters.sql import Cursor
from aftersales_es.audit.bulk import Derived, Fanout, Progress, count, derive
from aftersales_es.audit.chain import paged
from aftersales_es.audit.payouts import PayoutSide, audit_mismatches
from aftersales_es.audit.reconcile import Orders, Sides, case_facts, locate, rulesets
from aftersales_es.readmodels.projector import (
    CASE_FIELDS,
    CASES,
    DEDUCTIONS,
    PROJECTOR,
    TRACKING,
)
from aftersales_es.readmodels.queries import DEADLINES_BY_CASE

if TYPE_CHECKING:
    from aftersales_es.engine import AfterSales

__all__ = ["CASE_FIELDS", "DEDUCTION_FIELDS", "Progress", "Report", "audit"]

#: Read-model rows per query. Three streams are open at once, so their pages,
#: not the store's size, set the audit's peak memory: kept small.
PAGE = 500
DEDUCTION_FIELDS = ("case_id", "seller_id", "reason", "amount", "currency", "at_utc", "at", "rule")
Row = tuple[Any, ...]


@dataclass
class Report:
    """The audit's result; ``mismatches`` is empty on a consistent store."""

    position: int = 0
    events: int = 0
    case_events: int = 0
    cases: int = 0
    deductions: int = 0
    refunded: dict[str, Decimal] = field(default_factory=dict)
    deducted: dict[str, Decimal] = field(default_factory=dict)
    mismatches: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """Plain, sorted data for JSON output."""
        return {
            "position": self.position,
            "events": self.events,
            "case_events": self.case_events,
            "cases": self.cases,
            "deductions": self.deductions,
            "refunded": {c: f"{v:f}" for c, v in sorted(self.refunded.items())},
            "deducted": {c: f"{v:f}" for c, v in sorted(self.deducted.items())},
            "mismatches": sorted(
                self.mismatches, key=lambda m: json.dumps(m, sort_keys=True, default=str)
            ),
        }


def merged(reports: list[Report]) -> Report:
    """The reports of a store's partitions as one (positions and counts added up)."""
    out = Report()
    for r in reports:
        out.position += r.position
        out.events += r.events
        out.case_events += r.case_events
        out.cases += r.cases
        out.deductions += r.deductions
        for mine, theirs in ((out.refunded, r.refunded), (out.deducted, r.deducted)):
            for currency, amount in theirs.items():
                mine[currency] = mine.get(currency, Decimal(0)) + amount
        out.mismatches += r.mismatches
    return out


def _merge(
    derived: Iterator[tuple[Any, ...]], stored: Iterator[tuple[Any, ...]], width: int
) -> Iterator[tuple[tuple[Any, ...] | None, tuple[Any, ...] | None]]:
    """Pairs (derived, stored) with equal keys; None where one side has no row."""
    d, s = next(derived, None), next(stored, None)
    while d is not None or s is not None:
        dk = d[:width] if d is not None else None
        sk = s[:width] if s is not None else None
        if sk is None or (dk is not None and dk < sk):
            yield d, None
            d = next(derived, None)
        elif dk is None or sk < dk:
            yield None, s
            s = next(stored, None)
        else:
            yield d, s
            d, s = next(derived, None), next(stored, None)


def _grouped_deadlines(rows: Iterator[tuple[Any, ...]]) -> Iterator[tuple[Any, ...]]:
    """Deadline rows (case_uuid, name, due_utc, due, action, rule) -> (case_uuid, key)."""
    current: str | None = None
    group: list[list[Any]] = []
    for r in rows:
        if r[0] != current and current is not None:
            yield current, json.dumps(sorted(group), separators=(",", ":"))
            group = []
        current = r[0]
        group.append([str(x) for x in r[1:]])
    if current is not None:
        yield current, json.dumps(sorted(group), separators=(",", ":"))


def _differ(a: Any, b: Any) -> bool:
    return (a is None) != (b is None) or (a is not None and str(a) != str(b))


def _compare(
    report: Report,
    table: str,
    pairs: Iterable[tuple[Row | None, Row | None]],
    fields: tuple[str, ...],
    width: int,
    label: Callable[[tuple[Any, ...]], str],
) -> None:
    for d, s in pairs:
        row = d if d is not None else s
        assert row is not None
        where: dict[str, Any] = {
            "table": table,
            "case_id": label(row) or "",
            "case_uuid": str(row[0]),
        }
        if width == 2:
            where["version"] = int(row[1])
        if d is None or s is None:
            where.update(
                field="row",
                events="present" if d else "missing",
                read_model="present" if s else "missing",
            )
            report.mismatches.append(where)
            continue
        for i, name in enumerate(fields, start=width):
            if _differ(d[i], s[i]):
                report.mismatches.append(
                    {**where, "field": name, "events": d[i], "read_model": s[i]}
                )


def _alone(stored: list[Row]) -> Iterator[tuple[None, Row]]:
    """Read-model rows that no derived row matches."""
    return ((None, s) for s in stored)


class _Stored:
    """One read model's rows in case-key order, taken a case key at a time."""

    def __init__(self, rows: Iterator[Row]) -> None:
        self._rows = rows
        self._head = next(rows, None)

    def upto(self, key: str | None) -> tuple[list[Row], list[Row]]:
        """(rows keyed before ``key``, rows keyed ``key``); every row left if None."""
        before: list[Row] = []
        same: list[Row] = []
        while self._head is not None and (key is None or self._head[0] <= key):
            (same if self._head[0] == key else before).append(self._head)
            self._head = next(self._rows, None)
        return before, same


class _Check:
    """Compares each derived case with its read-model rows as the merge reaches it."""

    def __init__(self, cur: Cursor, report: Report) -> None:
        cols, dcols = ", ".join(CASE_FIELDS), ", ".join(DEDUCTION_FIELDS)
        self.report = report
        cases = f"SELECT case_uuid AS k0, {cols} FROM {CASES}"
        deductions = f"SELECT case_uuid AS k0, version AS k1, {dcols} FROM {DEDUCTIONS}"
        deadlines = DEADLINES_BY_CASE
        self.cases = _Stored(paged(cur, cases, (), 1, PAGE))
        self.deductions = _Stored(paged(cur, deductions, (), 2, PAGE))
        self.deadlines = _Stored(_grouped_deadlines(paged(cur, deadlines, (), 2, PAGE)))

    def case(self, d: Derived) -> None:
        key, case_id = d.key, d.row[0]
        self._tally(d)
        before, same = self.cases.upto(key)
        row = (key, *d.row)
        if before or [row] != same:  # most cases agree: compare field by field only if not
            pairs = [*_alone(before), (row, same[0] if same else None)]
            _compare(self.report, "cases", pairs, CASE_FIELDS, 1, lambda r: r[1])
        before, same = self.deductions.upto(key)
        mine = [(key, v, case_id, *rest) for v, *rest in d.deductions]
        if before or mine != same:
            pairs = [*_alone(before), *_merge(iter(mine), iter(same), 2)]
            _compare(self.report, "deductions", pairs, DEDUCTION_FIELDS, 2, lambda r: r[2])
        before, same = self.deadlines.upto(key)
        pending = [(key, d.deadlines)] if d.deadlines != "[]" else []
        if before or pending != same:
            pairs = [*_alone(before), *_merge(iter(pending), iter(same), 1)]
            label = lambda r: case_id if r[0] == key else ""  # noqa: E731
            _compare(self.report, "deadlines", pairs, ("deadlines",), 1, label)

    def rest(self) -> None:
        """Read-model rows of cases that have no events at all."""
        for name, stored, fields, width, label in (
            ("cases", self.cases, CASE_FIELDS, 1, lambda r: r[1]),
            ("deductions", self.deductions, DEDUCTION_FIELDS, 2, lambda r: r[2]),
            ("deadlines", self.deadlines, ("deadlines",), 1, lambda r: ""),
        ):
            before, _ = stored.upto(None)
            _compare(self.report, name, _alone(before), fields, width, label)

    def _tally(self, d: Derived) -> None:
        r = self.report
        r.cases += 1
        r.case_events += d.events
        currency, total = d.row[8], d.row[7]
        if currency is not None and total is not None:
            r.refunded[currency] = r.refunded.get(currency, Decimal(0)) + Decimal(total)
        for _, _, _, amount, cur, *_ in d.deductions:
            r.deductions += 1
            r.deducted[cur] = r.deducted.get(cur, Decimal(0)) + Decimal(amount)


def audit(app: AfterSales, progress: Progress | None = None) -> Report:
    """Re-derive every case, deadline and deduction from the events and compare.

    The read models are first brought up to date. The comparison then reads
    them, the projector's position and the events, in one snapshot (one read
    transaction, repeatable-read on PostgreSQL), replaying the log up to that
    position: writers carrying on meanwhile do not show up as mismatches.
    ``progress(done, total)`` is called after each page of case events.
    A store of partitions is audited a partition at a time (each holds its
    cases and their orders whole) and the reports added up.
    """
    if hasattr(app, "partitions"):
        return merged([audit(p, progress) for p in app.partitions])
    app.projector.catch_up()
    with app.sql.read() as cur:
        if app.sql.dialect == "postgres":
            cur.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        else:  # plain tuples: the rows are only unpacked and compared
            cur.row_factory = None  # type: ignore[attr-defined]
        cur.execute(f"SELECT position FROM {TRACKING} WHERE name = ?", (PROJECTOR,))
        report = Report(position=int(cur.fetchone()[0]))
        report.events = count(app, cur, report.position, cases_only=False)
        check = _Check(cur, report)
        sides, used = Sides(), dict[str, str]()
        orders = Orders(app, sides, report.mismatches)
        payouts = PayoutSide(app, cur, report.position)
        both = Fanout(orders, payouts)
        for derived in derive(app, cur, report.position, progress, others=both):
            check.case(derived)
            _cross(derived, sides, report)
            payouts.case(derived)
            used.setdefault(derived.ruleset, derived.row[0])
        orders.finish()
        check.rest()
        if off := sides.off():  # name what disagrees: a second pass, for those orders
            sides = Sides(only=off)
            orders = Orders(app, sides, [])
            for derived in derive(app, cur, report.position, others=orders):
                for order_id, fact, version in case_facts(derived):
                    sides.add(order_id, fact, 1, version)
            orders.finish()
            locate(sides, report.mismatches)
    used.pop("", None)
    rulesets(app, used, report.mismatches)
    # Every refund decided has its one payout instruction, and no other exists;
    # only when the streamed check is off are both sides read to name them.
    if not payouts.clean():
        report.mismatches += audit_mismatches(app, report.position)
    return report


def _cross(d: Derived, sides: Sides, report: Report) -> None:
    """The case's own money events, and its facts about its order."""
    for version, name, found, expected in d.problems:
        report.mismatches.append({"table": "events", "case_id": d.row[0] or "",
                                  "case_uuid": d.key, "version": version, "field": name,
                                  "found": found, "expected": expected})  # fmt: skip
    for order_id, fact, version in case_facts(d):
        sides.add(order_id, fact, 1, version)
