"""A ruling's outcome (KS-8, KM-8): a refund, a partial refund, or the goods
back for a refund, a replacement or a repair, after which the case proceeds
from where the goods are. Given -> when -> then on the aggregates (``Desk``).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from aftersales_es.domain.errors import NotAllowedError, RefundCapError
from aftersales_es.domain.events import Arbitrated

from .desk import Desk
from .helpers import event_types, order, refused, t

APPLIED = t(days=3)
H = timedelta(hours=1)
D = timedelta(days=1)
BILL = {"carrier": "SF", "tracking_number": "SF1"}
CONTACTED = {"category": "other", "buyer_contacted": True}


def disputed(
    desk: Desk, kind: str = "refund_only", path: tuple[str, ...] = (), **apply: Any
) -> datetime:
    """Given: a Kuaishou case C1 of ``kind`` taken along ``path``, then escalated
    by the buyer; returns when it was escalated."""
    order(desk)
    desk.execute("apply", case="C1", order="O1", at=APPLIED, kind=kind, **apply)
    at = APPLIED
    for name in path:
        at += H
        args = BILL if name.startswith("ship") else {}
        if name == "reject":
            args = {"reason": "worn", **CONTACTED}
        desk.execute(name, case="C1", at=at, **args)
    desk.execute("escalate", case="C1", at=at + H, by="buyer")
    return at + H


def ruling(desk: Desk) -> Arbitrated:
    found = [e for e in desk.case_events("C1") if isinstance(e, Arbitrated)]
    return found[-1]


# ------------------------------------------------------- return then refund
def test_return_then_refund_ruling_sends_the_goods_back_and_refunds_on_receipt_ks8(
    desk: Desk,
) -> None:
    at = disputed(desk, "refund_only", ("reject",), amount="80.00", reason="quality_issue")
    # when: the platform orders the goods back, then the refund
    case = desk.execute("rule", case="C1", at=at + D, in_favour_of="buyer",
                        outcome="return_then_refund")  # fmt: skip
    # then: the case waits for the goods as a return, with KS-5's ship-back deadline
    assert (case.state, case.kind, case.amount) == (
        "awaiting_return",
        "return_refund",
        Decimal("80.00"),
    )
    due = case.pending_deadline
    assert due is not None and (due.action, due.rule, due.due) == (
        "auto_close",
        "KS-5",
        at + 11 * D,
    )
    r = ruling(desk)
    assert (r.outcome, r.kind, r.refund_amount, r.seller_liable) == (
        "return_then_refund", "return_refund", Decimal("80.00"), True,
    )  # fmt: skip
    assert "Refunded" not in event_types(desk, "C1") and not desk.deductions()
    # when: the buyer ships back and the seller confirms receipt
    desk.execute("ship_back", case="C1", at=at + 2 * D, **BILL)
    case = desk.execute("confirm_receipt", case="C1", at=at + 3 * D)
    # then: refunded as ruled, and the liable seller charged what was refunded, then
    assert case.state == "refunded" and case.refunded_total == Decimal("80.00")
    assert event_types(desk, "C1")[-3:] == ["Received", "Refunded", "DeductionRecorded"]
    (deduction,) = desk.deductions()
    assert (deduction["reason"], deduction["amount"], deduction["at"]) == (
        "ruled_liable", Decimal("80.00"), at + 3 * D,
    )  # fmt: skip


def test_return_then_refund_not_shipped_back_closes_with_no_charge_ks8(desk: Desk) -> None:
    at = disputed(desk, "refund_only", ("reject",), amount="80.00")
    desk.execute("rule", case="C1", at=at + D, in_favour_of="buyer", outcome="return_then_refund")
    desk.fire_due(at + 30 * D)
    case = desk.get_case("C1")
    assert (case.state, case.closed_reason) == ("closed", "not_shipped_back")
    assert not desk.deductions()  # nothing was refunded, so nothing is charged


def test_return_then_refund_keeps_no_return_fee_from_the_ordered_amount_ks8() -> None:
    desk = Desk()
    order(desk, platform="generic", currency="USD")
    desk.execute("apply", case="C1", order="O1", at=APPLIED, kind="return_refund",
                 reason="changed_mind")  # fmt: skip
    desk.execute("escalate", case="C1", at=APPLIED + H, by="buyer")
    ruled = {"outcome": "return_then_refund", "refund_amount": "100.00", "seller_liable": False}
    desk.execute("rule", case="C1", at=APPLIED + 2 * H, in_favour_of="buyer", **ruled)
    desk.execute("ship_back", case="C1", at=APPLIED + 3 * H, **BILL)
    case = desk.execute("confirm_receipt", case="C1", at=APPLIED + 4 * H)
    refunded = desk.case_events("C1")[-1]
    assert case.refunded_total == Decimal("100.00") and refunded.fee == 0  # type: ignore[attr-defined]
    assert not desk.deductions()


def test_return_then_refund_on_goods_already_received_refunds_at_once_ks8(desk: Desk) -> None:
    at = disputed(desk, "exchange", ("approve", "ship_back", "confirm_receipt"))
    case = desk.execute("rule", case="C1", at=at + D, in_favour_of="buyer",
                        outcome="return_then_refund", refund_amount="120.00")  # fmt: skip
    assert case.state == "refunded" and case.refunded_total == Decimal("120.00")


def test_ruled_case_is_not_escalated_again_ks8(desk: Desk) -> None:
    at = disputed(desk, "refund_only", ("reject",), amount="80.00")
    desk.execute("rule", case="C1", at=at + D, in_favour_of="buyer", outcome="return_then_refund")
    with refused(desk, NotAllowedError, "KS-8", "final"):
        desk.execute("escalate", case="C1", at=at + 2 * D, by="seller")


# ---------------------------------------------------- replacement, repair
@pytest.mark.parametrize(
    ("path", "outcome", "state", "kind"),
    [(("approve",), "replacement", "awaiting_return", "exchange"),
     (("approve", "ship_back"), "repair", "returning", "repair"),
     (("approve", "ship_back", "confirm_receipt"), "replacement", "received", "exchange"),
     (("approve", "ship_back", "confirm_receipt", "ship_replacement"), "replacement",
      "awaiting_return", "exchange")],
)  # fmt: skip
def test_replacement_or_repair_ruling_goes_on_from_where_the_goods_are_ks8(
    desk: Desk, path: tuple[str, ...], outcome: str, state: str, kind: str
) -> None:
    at = disputed(desk, "exchange", path)
    case = desk.execute("rule", case="C1", at=at + D, in_favour_of="buyer", outcome=outcome)
    assert (case.state, case.kind, case.refunded_total) == (state, kind, Decimal("0.00"))
    assert case.pending_deadline is not None  # the state's own deadline runs
    assert (ruling(desk).outcome, ruling(desk).refund_amount) == (outcome, Decimal("0.00"))


def test_replacement_ruled_on_received_goods_ends_in_completion_ks8(desk: Desk) -> None:
    at = disputed(desk, "repair", ("approve", "ship_back", "confirm_receipt"))
    desk.execute("rule", case="C1", at=at + D, in_favour_of="buyer", outcome="replacement")
    desk.execute("ship_replacement", case="C1", at=at + 2 * D, **BILL)
    case = desk.execute("confirm_completion", case="C1", at=at + 3 * D)
    assert (case.state, case.kind) == ("completed", "exchange")
    assert not desk.deductions()  # a replacement refunds nothing, so charges no money


def test_replacement_on_a_refund_only_case_refused_ks8(desk: Desk) -> None:
    at = disputed(desk, "refund_only", ("reject",))
    with refused(desk, NotAllowedError, "KS-8", "exchange, repair"):
        desk.execute("rule", case="C1", at=at + D, in_favour_of="buyer", outcome="replacement")


def test_replacement_with_a_refund_amount_refused_ks8(desk: Desk) -> None:
    at = disputed(desk, "exchange", ("approve",))
    with refused(desk, NotAllowedError, "KS-8", "refunds nothing"):
        desk.execute("rule", case="C1", at=at + D, in_favour_of="buyer", outcome="repair",
                     refund_amount="10.00")  # fmt: skip


# ---------------------------------------------------------- partial refund
def km_disputed(desk: Desk, kind: str = "refund_only", **apply: Any) -> datetime:
    """Given: a Kilimall 4200.00 KES case C1 the seller rejected, escalated by the buyer."""
    order(desk, platform="kilimall", amount="4200.00", currency="KES")
    desk.execute("apply", case="C1", order="O1", at=APPLIED, kind=kind, **apply)
    desk.execute("reject", case="C1", at=APPLIED + H, reason="used", category="malicious_return")
    desk.execute("escalate", case="C1", at=APPLIED + 2 * H, by="buyer")
    return APPLIED + 2 * H


def test_partial_refund_ruling_refunds_that_amount_and_ends_km8(desk: Desk) -> None:
    at = km_disputed(desk)
    case = desk.execute("rule", case="C1", at=at + D, in_favour_of="buyer",
                        outcome="partial_refund", refund_amount="1500.00")  # fmt: skip
    assert case.state == "refunded" and case.refunded_total == Decimal("1500.00")
    assert ruling(desk).outcome == "partial_refund"
    assert [(d["reason"], d["amount"]) for d in desk.deductions()] == [
        ("ruled_liable", Decimal("1500.00"))
    ]
    assert desk.get_order("O1").remaining == Decimal("2700.00")


@pytest.mark.parametrize(
    ("amount", "words"),
    [(None, "names its refund_amount"), ("4200.00", "less than"), ("0.00", "refunds > 0")],
)
def test_partial_refund_ruling_needs_an_amount_below_the_ask_km8(
    desk: Desk, amount: str | None, words: str
) -> None:
    at = km_disputed(desk)
    args = {} if amount is None else {"refund_amount": amount}
    with refused(desk, NotAllowedError, "KM-8", words):
        desk.execute("rule", case="C1", at=at + D, in_favour_of="buyer",
                     outcome="partial_refund", **args)  # fmt: skip


def test_partial_refund_ruling_above_the_refund_cap_refused_inv_cap(desk: Desk) -> None:
    # an exchange asks no money: the cap is what is left on the order
    order(desk, platform="kilimall", amount="4200.00", currency="KES")
    desk.execute("apply", case="C1", order="O1", at=APPLIED, kind="exchange")
    desk.execute("escalate", case="C1", at=APPLIED + H, by="seller")
    with refused(desk, RefundCapError, "INV-cap"):
        desk.execute("rule", case="C1", at=APPLIED + D, in_favour_of="buyer",
                     outcome="partial_refund", refund_amount="5000.00")  # fmt: skip
    case = desk.execute("rule", case="C1", at=APPLIED + D, in_favour_of="buyer",
                        outcome="partial_refund", refund_amount="700.00")  # fmt: skip
    assert case.refunded_total == Decimal("700.00")


@pytest.mark.parametrize(("side", "outcome"), [("seller", "refund"), ("buyer", "close")])
def test_outcome_that_does_not_fit_the_side_refused_km8(
    desk: Desk, side: str, outcome: str
) -> None:
    at = km_disputed(desk)
    with refused(desk, NotAllowedError, "KM-8", "does not fit"):
        desk.execute("rule", case="C1", at=at + D, in_favour_of=side, outcome=outcome)


def test_ruling_for_the_seller_records_its_outcome_close_km8(desk: Desk) -> None:
    at = km_disputed(desk)
    case = desk.execute("rule", case="C1", at=at + D, in_favour_of="seller")
    assert (case.state, ruling(desk).outcome) == ("closed", "close")
