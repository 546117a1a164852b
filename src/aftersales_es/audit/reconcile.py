"""The audit's cross-checks between aggregates: each case against its order,
and each case's rule set against its stored record.

Cases arrive in case order and orders in order order, so the two sides are
never side by side. Each side instead adds its facts about an order (the
cases it opened, the cases still holding a slot, every refund with its fee
and per-line split) to a multiset hash: a sum of fact hashes in one of
:data:`BUCKETS` buckets chosen by order id. Consistent sides leave every
bucket at zero, in memory that does not grow with the store. Only when a
bucket is off are its orders read again, with their cases, to name the
case, the version and the fact that disagree. An order's refunds are also
checked against its amount and its lines' (the cap) as its events stream by.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from aftersales_es.audit.bulk import Derived, _raw_decode, _text
from aftersales_es.audit.chain import payload
from aftersales_es.domain.ruleset_record import ruleset_uuid
from aftersales_es.domain.statechart import OPEN

if TYPE_CHECKING:
    from aftersales_es.engine import AfterSales

BUCKETS = 4096
_MASK = (1 << 64) - 1
ORDER_TOPIC = "aftersales_es.order:"
_TOPICS = [ORDER_TOPIC + n for n in ("Registered", "CaseOpened", "CaseReleased", "RefundRecorded")]
_CUT = len(ORDER_TOPIC)
Fact = tuple[Any, ...]


def _n(value: Any) -> str:
    """An amount as stored; zero in one spelling (a default fee is ``0``, a
    computed one ``0.00``). Both sides store each other amount from the same
    ``Decimal``, so its string is the same."""
    text = value["_data_"] if isinstance(value, dict) else str(value)
    return "0" if not text.strip("0.-") else text


def _lines(lines: Any) -> tuple[tuple[Any, ...], ...]:
    if not lines:
        return ()
    return tuple(
        sorted((p["line"], int(p["quantity"]), _n(p["amount"]), _n(p["fee"])) for p in lines)
    )


def case_facts(d: Derived) -> Iterator[tuple[str, Fact, int]]:
    """(order id, fact, case version) of what one case says about its order."""
    case_id, order_id, state = d.row[0], d.row[1], d.row[5]
    if case_id is None:
        return
    yield order_id, ("opened", case_id), 1
    if state in OPEN:
        yield order_id, ("holds", case_id), d.row[9]
    for version, at, amount, fee, lines in d.refunds:
        yield order_id, ("refund", case_id, at, amount, _n(fee), _lines(lines)), version


class Sides:
    """The multiset hashes of both sides; zero in every bucket when they agree."""

    def __init__(self, only: set[int] | None = None) -> None:
        self.sums = [0] * BUCKETS
        self.only = only  # when locating: keep the facts of these buckets
        self.kept: dict[str, tuple[Counter[Fact], Counter[Fact], dict[Fact, int]]] = {}

    @staticmethod
    def bucket(order_id: str) -> int:
        # Python's string hash: stable within the one process that holds both sides.
        return hash(order_id) % BUCKETS

    def add(self, order_id: str, fact: Fact, sign: int, version: int) -> None:
        b = self.bucket(order_id)
        self.sums[b] = (self.sums[b] + sign * hash(fact)) & _MASK
        if self.only is not None and b in self.only:
            cases, orders, versions = self.kept.setdefault(order_id, (Counter(), Counter(), {}))
            (cases if sign > 0 else orders)[fact] += 1
            versions[fact] = version

    def off(self) -> set[int]:
        return {b for b, s in enumerate(self.sums) if s}


def decoder(app: AfterSales) -> Callable[[bytes], dict[str, Any]]:
    """Stored state -> its JSON fields (decrypted and decompressed first if sealed).
    Older class versions need no upcasting here: absent fields read as defaults."""
    mapper = app.mapper
    if mapper.cipher is None and mapper.compressor is None:
        return lambda state: _raw_decode(bytes(state).decode())[0]
    return lambda state: _raw_decode(payload(mapper, state).decode())[0]


class _Order:
    """One order's side, folded event by event."""

    def __init__(self) -> None:
        self.order_id = ""
        self.amount = Decimal(0)
        self.lines: dict[str, tuple[int, Decimal]] = {}
        self.opened: set[str] = set()
        self.open_case: str | None = None
        self.line_cases: dict[str, str] = {}
        self.settled = Decimal(0)
        self.line_settled: dict[str, tuple[int, Decimal]] = {}
        self.last = 0


class Orders:
    """The orders' side: fed each order's rows in key order by the case scan
    (:func:`.bulk.derive`), it adds their facts to ``sides`` (sign -1) and
    checks each order's refunds against its amount and its lines' (the cap)."""

    topics = frozenset(_TOPICS)

    def __init__(self, app: AfterSales, sides: Sides, report: list[dict[str, Any]]) -> None:
        self.sides = sides
        self.report = report
        self.decode = decoder(app)
        self.fold: _Order | None = None
        self.key: Any = None

    def row(self, raw: Any, version: int, topic: str, state: bytes) -> None:
        fold = self.fold
        if fold is None or raw != self.key:
            self.finish()
            fold = self.fold = _Order()
            self.key = raw
        data, name = self.decode(state), topic[_CUT:]
        fold.last = version
        if name == "Registered":
            fold.order_id, fold.amount = data["order_id"], Decimal(_text(data["amount"]))
            fold.lines = {
                ln["line"]: (int(ln["quantity"]), Decimal(_text(ln["unit_price"])))
                for ln in data.get("lines") or []
            }
        elif name == "CaseOpened":
            fold.opened.add(data["case_id"])
            for line in data.get("lines") or []:
                fold.line_cases[line] = data["case_id"]
            if not data.get("lines"):
                fold.open_case = data["case_id"]
        elif name == "CaseReleased":
            if fold.open_case == data["case_id"]:
                fold.open_case = None
            fold.line_cases = {k: v for k, v in fold.line_cases.items() if v != data["case_id"]}
        else:  # RefundRecorded
            amount, fee = data["amount"]["_data_"], _text(data.get("fee", "0"))
            fact = ("refund", data["case_id"], data["at"]["_data_"], amount, _n(fee),
                    _lines(data.get("lines")))  # fmt: skip
            self.sides.add(fold.order_id, fact, -1, version)
            _cap(fold, version, data, Decimal(amount) + Decimal(fee), self.report)

    def finish(self) -> None:
        """The last order's slot facts (call once the scan is over)."""
        o, self.fold = self.fold, None
        if o is None:
            return
        for case_id in sorted(o.opened):
            self.sides.add(o.order_id, ("opened", case_id), -1, o.last)
        for case_id in sorted({*([o.open_case] if o.open_case else []), *o.line_cases.values()}):
            self.sides.add(o.order_id, ("holds", case_id), -1, o.last)


def _cap(o: _Order, version: int, data: dict[str, Any], paid: Decimal, report: list[Any]) -> None:
    o.settled += paid
    where = {"table": "orders", "case_id": data["case_id"], "case_uuid": "", "version": version,
             "order_id": o.order_id}  # fmt: skip
    if o.settled > o.amount:
        report.append({**where, "field": "refunded_total", "found": str(o.settled),
                       "expected": f"<= the order amount {o.amount}"})  # fmt: skip
    for part in data.get("lines") or []:
        qty, total = o.line_settled.get(part["line"], (0, Decimal(0)))
        qty += int(part["quantity"])
        total += Decimal(_text(part["amount"])) + Decimal(_text(part["fee"]))
        o.line_settled[part["line"]] = (qty, total)
        cap = o.lines.get(part["line"])
        if cap is None or qty > cap[0] or total > cap[0] * cap[1]:
            report.append({**where, "field": f"line {part['line']}", "found": f"{qty} x, {total}",
                           "expected": f"within the line {cap}"})  # fmt: skip


def locate(sides: Sides, report: list[dict[str, Any]]) -> None:
    """Name the facts one side holds and the other lacks (after a locating pass)."""
    for order_id, (cases, orders_, versions) in sorted(sides.kept.items()):
        for fact in sorted((cases - orders_) + (orders_ - cases), key=repr):
            only_case = cases[fact] > orders_[fact]
            report.append({
                "table": "orders", "case_id": fact[1], "case_uuid": "",
                "version": versions.get(fact, 0), "order_id": order_id,
                "field": fact[0],
                "found": f"the {'case' if only_case else 'order'} records {list(fact[2:]) or 'it'}",
                "expected": f"the same on the {'order' if only_case else 'case'}",
            })  # fmt: skip


def rulesets(app: AfterSales, used: dict[str, str], report: list[dict[str, Any]]) -> None:
    """Each rule-set digest a case was applied under resolves to a stored record
    whose values hash to it (``used``: digest -> a case id using it)."""
    for digest, case_id in sorted(used.items()):
        found = ""
        try:
            values: dict[str, Any] = app.repository.get(ruleset_uuid(digest)).values
            canonical = json.dumps(values, sort_keys=True, separators=(",", ":"))
            found = hashlib.sha256(canonical.encode()).hexdigest()
        except Exception as exc:  # a missing or undecodable record
            found = f"no readable record ({type(exc).__name__})"
        if found != digest:
            report.append({"table": "rulesets", "case_id": case_id, "case_uuid": "",
                           "version": 1, "field": "ruleset", "found": found,
                           "expected": digest})  # fmt: skip
