"""The seller ledger over time as an inline SVG bar chart (no JavaScript)."""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from html import escape
from typing import Any

W, BAR_H, GAP, LABEL_W = 560, 18, 6, 120


def by_period(rows: Iterable[dict[str, Any]]) -> list[tuple[str, str, Decimal]]:
    """(month, currency, total deducted) in time order, from ledger rows."""
    sums: dict[tuple[str, str], Decimal] = {}
    for r in rows:
        key = (str(r["at"])[:7], str(r["currency"]))
        sums[key] = sums.get(key, Decimal(0)) + Decimal(r["amount"])
    return [(m, c, v) for (m, c), v in sorted(sums.items())]


def ledger_chart(rows: Iterable[dict[str, Any]]) -> str:
    """One horizontal bar per month and currency, scaled per currency."""
    data = by_period(rows)
    if not data:
        return ""
    top: dict[str, Decimal] = {}
    for _, cur, v in data:
        top[cur] = max(top.get(cur, Decimal(0)), v)
    h = len(data) * (BAR_H + GAP) + GAP
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {W} {h}" class="chart"'
        ' role="img" aria-label="deductions per month">'
    ]
    span = W - LABEL_W - 110
    for i, (month, cur, v) in enumerate(data):
        y = GAP + i * (BAR_H + GAP)
        width = 0 if not top[cur] else float(v / top[cur]) * span
        parts.append(
            f'<text x="0" y="{y + 13}" class="clabel">{escape(month)} {escape(cur)}</text>'
            f'<rect x="{LABEL_W}" y="{y}" width="{width:.1f}" height="{BAR_H}" class="bar"/>'
            f'<text x="{LABEL_W + width + 6:.1f}" y="{y + 13}" class="cvalue">{v:f}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)
