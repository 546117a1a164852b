"""What an order's lines have left and which open case or ruling holds them.

:class:`~aftersales_es.domain.order.Order` inherits these read-only views; they
live apart so that module holds the order's events and what records them.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any


class OrderLines:
    """The queries on an order's lines, open cases and rulings."""

    __slots__ = ()

    lines: list[dict[str, Any]]
    category: str
    line_settled: dict[str, Decimal]
    line_quantity: dict[str, int]
    line_cases: dict[str, str]
    open_case_id: str | None
    rulings: tuple[dict[str, Any], ...]

    def line(self, line_id: str) -> dict[str, Any] | None:
        """The registered line ``line_id`` ({line, sku, title, quantity, unit_price})."""
        return next((ln for ln in self.lines if ln["line"] == line_id), None)

    def line_left(self, line_id: str) -> tuple[int, Decimal]:
        """What line ``line_id`` has left: quantity, and amount (paid - refunded - fees)."""
        ln = self.line(line_id)
        if ln is None:
            return 0, Decimal(0)
        paid = ln["quantity"] * Decimal(ln["unit_price"])
        left = paid - self.line_settled.get(line_id, Decimal(0))
        return ln["quantity"] - self.line_quantity.get(line_id, 0), left

    def line_caps(self, lines: list[dict[str, Any]]) -> list[Decimal]:
        """Per named {line, quantity}: the most it may refund (the named
        quantities' price, never above what the line has left)."""
        caps = []
        for part in lines:
            ln = self.line(part["line"])
            price = Decimal(ln["unit_price"]) if ln else Decimal(0)
            caps.append(min(part["quantity"] * price, self.line_left(part["line"])[1]))
        return caps

    def blocking(self, line_ids: list[str], case_id: str | None = None) -> tuple[str, str] | None:
        """(rule, case) of an open case that keeps a case on ``line_ids`` (empty:
        the whole order) from opening, or None. A whole-order case blocks
        every line; any line case blocks a whole-order case."""
        whole = self.open_case_id if self.open_case_id != case_id else None
        others = {k: v for k, v in self.line_cases.items() if v != case_id}
        if not line_ids:
            if whole is not None:
                return "INV-open", whole
            return ("INV-line-open", next(iter(others.values()))) if others else None
        if whole is not None:
            return "INV-line-open", whole
        held = [others[i] for i in line_ids if i in others]
        return ("INV-line-open", held[0]) if held else None

    def ruled(self, lines: list[str], reason: str) -> str | None:
        """The case whose ruling already covers ``lines`` (empty: the whole order)
        on the grounds ``reason``, or None (KS-8: a ruling is final)."""
        for r in self.rulings:
            overlap = not r["lines"] or not lines or set(r["lines"]) & set(lines)
            if overlap and r["reason"] == reason:
                return str(r["case_id"])
        return None

    def category_of(self, lines: list[str]) -> list[str]:
        """The product categories of ``lines`` (empty: the order's own category)."""
        if not lines:
            return [self.category]
        found = [self.line(i) or {} for i in lines]
        return [str(ln.get("category") or self.category) for ln in found]
