"""Buyer-side return fees and line allocation: exact money.

For any amounts, quantities and fee settings: refund + fee == asked,
refund >= 0, and the fee is rounded to the currency's minor unit (KES and
CNY: 0.01; JPY: 1) exactly as the rule set's rounding rule says. The fee is
waived when the reason is the seller's fault, and only the refund of goods
returned (a return_refund case's receipt) carries it.
"""

from __future__ import annotations

from decimal import ROUND_DOWN, Decimal
from typing import Any

import hypothesis.strategies as st
from hypothesis import given, settings

from aftersales_es.domain import events as ev
from aftersales_es.domain.fees import allocate, return_fee
from aftersales_es.domain.money import quantum
from aftersales_es.domain.rules import SELLER_FAULT, FeeSpec

from .desk import Desk
from .helpers import order, t

CURRENCIES = ("KES", "CNY", "JPY")
REASONS = ("changed_mind", "other", *sorted(SELLER_FAULT))


def amounts(currency: str, top: int = 10**7) -> st.SearchStrategy[Decimal]:
    """Amounts of ``currency`` in whole minor units, from 0 to ``top`` units."""
    q = quantum(currency)
    return st.integers(0, top).map(lambda n: Decimal(n) * q)


fee_specs = st.builds(
    FeeSpec,
    type=st.sampled_from(["fixed", "percent"]),
    value=st.decimals(min_value=0, max_value=100, places=3),
    waived_for_seller_fault=st.booleans(),
    rounding=st.sampled_from(["half_even", "half_up", "down"]),
)


@st.composite
def fee_cases(draw: st.DrawFn) -> tuple[FeeSpec, Decimal, str, str]:
    currency = draw(st.sampled_from(CURRENCIES))
    return draw(fee_specs), draw(amounts(currency)), currency, draw(st.sampled_from(REASONS))


@given(fee_cases())
def test_refund_plus_fee_is_what_was_asked(case: tuple[FeeSpec, Decimal, str, str]) -> None:
    spec, asked, currency, reason = case
    fee = return_fee(spec, asked, currency, reason)
    refund = asked - fee
    assert refund + fee == asked
    assert refund >= 0 and fee >= 0
    assert fee == fee.quantize(quantum(currency))


@given(fee_cases())
def test_fee_is_rounded_to_the_minor_unit_by_the_rule(
    case: tuple[FeeSpec, Decimal, str, str],
) -> None:
    spec, asked, currency, reason = case
    fee = return_fee(spec, asked, currency, reason)
    if spec.waived_for_seller_fault and reason in SELLER_FAULT:
        assert fee == 0  # waived: the seller's fault
        return
    q = quantum(currency)
    raw = spec.value if spec.type == "fixed" else asked * spec.value / 100
    if fee == asked and raw > asked:
        return  # capped at what was asked
    if spec.rounding == "down":
        assert fee <= raw < fee + q
    else:
        assert abs(raw - fee) <= q / 2
        if abs(raw - fee) == q / 2:  # a tie: half_up goes up, half_even to the even unit
            if spec.rounding == "half_up":
                assert fee > raw
            else:
                assert (fee / q) % 2 == 0


def test_rounding_examples_per_currency() -> None:
    """Ties at half a minor unit: KES/CNY 0.005, JPY 0.5."""
    ten = {"type": "percent", "value": Decimal(10)}
    cases = [
        ("CNY", "0.25", "half_even", "0.02"),
        ("CNY", "0.25", "half_up", "0.03"),
        ("KES", "333.35", "half_even", "33.34"),
        ("KES", "333.33", "down", "33.33"),
        ("JPY", "125", "half_even", "12"),
        ("JPY", "135", "half_even", "14"),
        ("JPY", "125", "half_up", "13"),
        ("JPY", "129", "down", "12"),
    ]
    for currency, asked, rounding, want in cases:
        spec = FeeSpec.model_validate({**ten, "rounding": rounding})
        assert return_fee(spec, Decimal(asked), currency, "changed_mind") == Decimal(want)


def test_fixed_fee_above_the_amount_is_capped_and_seller_fault_waived() -> None:
    spec = FeeSpec(type="fixed", value=Decimal("500"))
    assert return_fee(spec, Decimal("120.00"), "KES", "changed_mind") == Decimal("120.00")
    assert return_fee(spec, Decimal("120.00"), "KES", "damaged") == 0
    keep = FeeSpec(type="fixed", value=Decimal("5"), waived_for_seller_fault=False)
    assert return_fee(keep, Decimal("120"), "JPY", "damaged") == Decimal("5")


@st.composite
def splits(draw: st.DrawFn) -> tuple[Decimal, list[Decimal], str]:
    currency = draw(st.sampled_from(CURRENCIES))
    caps = draw(st.lists(amounts(currency, 10**6), min_size=1, max_size=6))
    total = sum(caps, Decimal(0))
    units = draw(st.integers(0, int(total / quantum(currency))))
    return Decimal(units) * quantum(currency), caps, currency


@given(splits())
def test_allocation_adds_up_and_stays_within_each_line(
    split: tuple[Decimal, list[Decimal], str],
) -> None:
    amount, caps, currency = split
    parts = allocate(amount, caps, currency)
    assert sum(parts, Decimal(0)) == amount
    for part, cap in zip(parts, caps, strict=True):
        assert 0 <= part <= cap
        assert part == part.quantize(quantum(currency))


def _desk(currency: str, spec: dict[str, Any] | None) -> Desk:
    platform = "kilimall" if currency == "KES" else "kuaishou"
    desk = Desk(settings={"return_fee": spec} if spec else {})
    facts: dict[str, Any] = {"platform": platform, "currency": currency}
    if currency == "KES":
        facts["gs"] = False
    return_lines: list[dict[str, Any]] = [
        {"line": "L1", "quantity": 3, "unit_price": "999" if currency == "JPY" else "33.33"},
        {"line": "L2", "quantity": 2, "unit_price": "150" if currency == "JPY" else "12.05"},
    ]
    total = sum((ln["quantity"] * Decimal(ln["unit_price"]) for ln in return_lines), Decimal(0))
    order(desk, amount=str(total + 10), lines=return_lines, **facts)
    return desk


def _return(desk: Desk, reason: str, by: str = "seller", **args: Any) -> ev.Refunded:
    """When: a return on lines runs to its receipt (``by`` the seller, or the
    platform's warehouse, KM-3); then: its Refunded event."""
    desk.execute("apply", case="C1", at=t(days=3), order="O1", kind="return_refund",
                reason=reason, **args)  # fmt: skip
    desk.execute("approve", case="C1", at=t(days=3, hours=1))
    desk.execute("ship_back", case="C1", at=t(days=3, hours=2), carrier="SF", tracking_number="1")
    desk.execute("confirm_receipt", case="C1", at=t(days=3, hours=3), by=by)
    return next(e for e in desk.case_events("C1") if isinstance(e, ev.Refunded))


@settings(max_examples=40, deadline=None)
@given(
    currency=st.sampled_from(CURRENCIES),
    q1=st.integers(1, 3),
    q2=st.integers(1, 2),
    percent=st.decimals(min_value=0, max_value=100, places=2),
    rounding=st.sampled_from(["half_even", "half_up", "down"]),
    reason=st.sampled_from(REASONS),
    share=st.integers(1, 100),
)
def test_return_on_lines_refunds_asked_less_fee(
    currency: str, q1: int, q2: int, percent: Decimal, rounding: str, reason: str, share: int
) -> None:
    """Partial quantities and a partial amount: the fee, refund and allocation add up."""
    spec = {"type": "percent", "value": str(percent), "rounding": rounding}
    desk = _desk(currency, spec)
    o = desk.get_order("O1")
    named = [{"line": "L1", "quantity": q1}, {"line": "L2", "quantity": q2}]
    cap = sum(o.line_caps(named), Decimal(0))
    asked = (cap * share / 100).quantize(quantum(currency), rounding=ROUND_DOWN)
    if asked == 0:
        return
    e = _return(desk, reason, lines=named, amount=str(asked))
    assert e.amount + e.fee == asked and e.amount >= 0
    if reason in SELLER_FAULT:
        assert e.fee == 0
    assert sum((p["amount"] + p["fee"] for p in e.lines), Decimal(0)) == asked
    for part, c in zip(e.lines, o.line_caps(named), strict=True):
        assert part["amount"] + part["fee"] <= c
    case = desk.get_case("C1")
    assert case.fee_total == e.fee and case.refunded_total == e.amount
    after = desk.get_order("O1")
    assert after.remaining == o.amount - asked
    assert after.line_quantity == {"L1": q1, "L2": q2}


def test_refund_only_and_whole_order_cases_keep_the_full_amount() -> None:
    """The fee is on refunds of returned goods only: a refund-only case pays in full."""
    desk = _desk("CNY", {"type": "fixed", "value": "5.00"})
    desk.execute("apply", case="C1", at=t(days=3), order="O1", kind="refund_only", amount="20.00")
    desk.execute("approve", case="C1", at=t(days=3, hours=1))
    e = next(e for e in desk.case_events("C1") if isinstance(e, ev.Refunded))
    assert (e.amount, e.fee) == (Decimal("20.00"), Decimal("0.00"))


def test_kilimall_processing_fee_stays_a_seller_deduction_km3() -> None:
    """KM-3's seller-side fee is in the deduction ledger; the buyer's fee is on the refund."""
    desk = Desk(settings={"return_fee": {"type": "fixed", "value": "50"}})
    order(desk, platform="kilimall", currency="KES", amount="3000.00", gs=True)
    e = _return(desk, "changed_mind")
    assert (e.amount, e.fee) == (Decimal("2950.00"), Decimal("50.00"))
    assert desk.deductions() == []  # changed_mind: not a warehouse return, no KM-3 fee
    app2 = Desk(settings={"return_fee": {"type": "fixed", "value": "50"}})
    order(app2, platform="kilimall", currency="KES", amount="3000.00", gs=True)
    e2 = _return(app2, "damaged", by="platform")
    assert e2.fee == 0  # the seller's fault: waived
    assert [(d["reason"], d["amount"]) for d in app2.deductions()] == [
        ("return_processing_fee", Decimal("300.00"))
    ]
