"""Money arithmetic of order lines and buyer-side fees; pure functions.

Two rules keep every split exact to the currency's minor unit:

* :func:`return_fee` rounds a fee with the rule set's rounding rule and caps
  it at what the buyer asked, so ``refund + fee == asked`` and ``refund >= 0``.
* :func:`allocate` spreads an amount over a case's lines pro rata to their
  caps, half-even to the minor unit, the remainder on the last line, and
  never puts more on a line than its cap.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import ROUND_DOWN, ROUND_HALF_EVEN, ROUND_HALF_UP, Decimal

from aftersales_es.domain.money import quantum, zero
from aftersales_es.domain.rule_parts import SELLER_FAULT, FeeSpec

ROUNDING = {"half_even": ROUND_HALF_EVEN, "half_up": ROUND_HALF_UP, "down": ROUND_DOWN}


def return_fee(spec: FeeSpec | None, asked: Decimal, currency: str, reason: str) -> Decimal:
    """The buyer-side fee on a refund of ``asked`` for returned goods (0 if none or waived)."""
    q, none = quantum(currency), zero(currency)
    if spec is None or (spec.waived_for_seller_fault and reason in SELLER_FAULT):
        return none
    raw = spec.value if spec.type == "fixed" else asked * spec.value / 100
    fee = raw.quantize(q, rounding=ROUNDING[spec.rounding])
    return max(none, min(fee, asked.quantize(q)))


def allocate(amount: Decimal, caps: Sequence[Decimal], currency: str) -> list[Decimal]:
    """Split ``amount`` over lines with ``caps`` (what each may still take).

    Pro rata to the caps, rounded half-even to the minor unit, the remainder
    on the last line; if rounding would lift a line above its cap, the excess
    moves to the earlier lines that have room. ``amount`` must not exceed
    ``sum(caps)``; the parts always add up to ``amount`` exactly.
    """
    q = quantum(currency)
    total = sum(caps, Decimal(0))
    if amount > total:
        raise ValueError(f"cannot allocate {amount} over caps totalling {total}")
    if not caps:
        return []
    if total == 0:
        return [zero(currency) for _ in caps]
    parts = [(amount * c / total).quantize(q, rounding=ROUND_HALF_EVEN) for c in caps[:-1]]
    parts.append(amount.quantize(q) - sum(parts, Decimal(0)))
    # Rounding can push a part over its cap (or the remainder below 0): fix up
    # by moving the excess to lines with room, first to last.
    excess = Decimal(0)
    for i, c in enumerate(caps):
        if parts[i] > c:
            excess += parts[i] - c
            parts[i] = c.quantize(q)
        elif parts[i] < 0:
            excess += parts[i]
            parts[i] = zero(currency)
    for i, c in enumerate(caps):
        if excess == 0:
            break
        room = c - parts[i] if excess > 0 else -parts[i]
        move = min(excess, room) if excess > 0 else max(excess, room)
        parts[i] += move
        excess -= move
    return parts
