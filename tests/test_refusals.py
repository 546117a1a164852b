"""Every refused path (SPEC §3 invariants): the error type, a message naming the
state and the rule, and nothing written (``helpers.refused`` checks all three).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest

from aftersales_es.app.service import AfterSales
from aftersales_es.domain.case import Case
from aftersales_es.domain.errors import (
    AlreadyExistsError,
    CaseNotFoundError,
    InvalidInputError,
    NotAllowedError,
    NotFoundError,
    OpenCaseExistsError,
    RefundCapError,
    TransitionNotAllowedError,
    WindowClosedError,
)

from .helpers import event_types, order, refused, t

APPLIED = t(days=3)
WAYBILL = {"carrier": "YTO", "tracking_number": "YT1"}


def at(hours: float) -> Any:
    return APPLIED + timedelta(hours=hours)


def apply(
    app: AfterSales,
    kind: str = "refund_only",
    case: str = "C1",
    order_id: str = "O1",
    when: Any = APPLIED,
    **args: Any,
) -> Case:
    return app.execute("apply", case=case, order=order_id, at=when, kind=kind, **args)


def refunded(app: AfterSales) -> None:
    """Given: C1, a refund-only case approved and refunded (100 of 120)."""
    order(app)
    apply(app, amount="100.00")
    app.execute("approve", case="C1", at=at(1))


def awaiting_return(app: AfterSales) -> None:
    order(app)
    apply(app, "return_refund", amount="120.00")
    app.execute("approve", case="C1", at=at(1))


def returning(app: AfterSales, kind: str = "return_refund") -> None:
    order(app)
    apply(app, kind, **({"amount": "120.00"} if kind == "return_refund" else {}))
    app.execute("approve", case="C1", at=at(1))
    app.execute("ship_back", case="C1", at=at(2), **WAYBILL)


def reshipping(app: AfterSales) -> None:
    returning(app, "exchange")
    app.execute("confirm_receipt", case="C1", at=at(3))
    app.execute("ship_replacement", case="C1", at=at(4), carrier="SF", tracking_number="SF1")


def disputed(app: AfterSales) -> None:
    order(app)
    apply(app, amount="100.00")
    app.execute("reject", case="C1", at=at(1), reason="not faulty")
    app.execute("escalate", case="C1", at=at(2))


# ----------------------------------------------------------------- wrong state
WRONG_STATE: list[tuple[Callable[[AfterSales], None], str, str, dict[str, Any]]] = [
    (refunded, "refunded", "approve", {}),
    (refunded, "refunded", "reject", {"reason": "too late"}),
    (refunded, "refunded", "withdraw", {}),
    (refunded, "refunded", "escalate", {"by": "buyer"}),
    (refunded, "refunded", "ship_back", WAYBILL),
    (awaiting_return, "awaiting_return", "approve", {}),
    (awaiting_return, "awaiting_return", "confirm_receipt", {}),
    (awaiting_return, "awaiting_return", "decline_proposal", {}),
    (returning, "returning", "withdraw", {}),
    (returning, "returning", "ship_replacement", WAYBILL),
    (disputed, "disputed", "approve", {}),
    (disputed, "disputed", "confirm_completion", {}),
]


@pytest.mark.parametrize(
    ("given", "state", "command", "args"),
    WRONG_STATE,
    ids=[f"{state}-{command}" for _, state, command, _ in WRONG_STATE],
)
def test_command_in_wrong_state_refused(
    app: AfterSales,
    given: Callable[[AfterSales], None],
    state: str,
    command: str,
    args: dict[str, Any],
) -> None:
    given(app)
    with refused(app, TransitionNotAllowedError, f"(state {state})", command, "statechart"):
        app.execute(command, case="C1", at=at(30), **args)


def test_rule_outside_a_dispute_refused(app: AfterSales) -> None:
    order(app)
    apply(app, amount="50.00")
    with refused(app, TransitionNotAllowedError, "requested", "rule", "statechart"):
        app.execute("rule", case="C1", at=at(1), in_favour_of="buyer")


def test_accept_without_a_proposal_refused_km7(app: AfterSales) -> None:
    order(app)
    apply(app, amount="50.00")
    with refused(app, TransitionNotAllowedError, "requested", "KM-7", "nothing proposed"):
        app.execute("accept_proposal", case="C1", at=at(1))


# ------------------------------------------------------------------ wrong kind
@pytest.mark.parametrize("kind", ["exchange", "repair"])
def test_exchange_or_repair_asking_money_refused(app: AfterSales, kind: str) -> None:
    order(app)
    with refused(app, NotAllowedError, "new", "apply", "no refund"):
        apply(app, kind, amount="10.00")


def test_refund_asking_zero_refused(app: AfterSales) -> None:
    order(app)
    with refused(app, NotAllowedError, "new", "above 0"):
        apply(app, amount="0.00")


@pytest.mark.parametrize(
    ("kind", "amount", "words"),
    [
        ("cancel_undelivered", "10.00", ("KM-6", "cannot propose")),
        ("exchange", "10.00", ("KM-6", "refunds nothing")),
        ("refund_only", "0", ("KM-6", "amount > 0")),
        ("return_refund", "0", ("KM-6", "amount > 0")),
    ],
)
def test_proposal_of_wrong_kind_or_amount_refused_km6(
    app: AfterSales, kind: str, amount: str, words: tuple[str, ...]
) -> None:
    order(app)
    apply(app, "return_refund", amount="120.00")
    with refused(app, NotAllowedError, "requested", *words):
        app.execute("propose", case="C1", at=at(1), kind=kind, amount=amount)


def test_ship_replacement_on_a_return_refused(app: AfterSales) -> None:
    """A return_refund is refunded on receipt: it never reaches ``received``."""
    returning(app)
    with refused(app, TransitionNotAllowedError, "returning", "return_refund", "statechart"):
        app.execute("ship_replacement", case="C1", at=at(3), **WAYBILL)


# ----------------------------------------------------------------- wrong actor
def test_buyer_may_not_escalate_a_pending_application_ks8(app: AfterSales) -> None:
    """From ``requested`` only the seller asks for arbitration (KM-6 malicious return)."""
    order(app)
    apply(app, amount="50.00")
    with refused(app, TransitionNotAllowedError, "requested", "by the buyer", "statechart"):
        app.execute("escalate", case="C1", at=at(1), by="buyer")


def test_seller_may_not_escalate_a_replacement_in_transit(app: AfterSales) -> None:
    reshipping(app)
    with refused(app, TransitionNotAllowedError, "reshipping", "by the seller", "statechart"):
        app.execute("escalate", case="C1", at=at(5), by="seller")


def test_submit_evidence_outside_a_dispute_refused(app: AfterSales) -> None:
    order(app)
    apply(app, amount="50.00")
    with refused(app, TransitionNotAllowedError, "requested", "submit_evidence"):
        app.execute("submit_evidence", case="C1", at=at(1), by="seller", note="x")


# ------------------------------------------------------ missing reason/waybill
@pytest.mark.parametrize("reason", ["", "   "])
def test_reject_without_reason_refused_ks3(app: AfterSales, reason: str) -> None:
    order(app)
    apply(app, amount="50.00")
    with refused(app, NotAllowedError, "requested", "KS-3"):
        app.execute("reject", case="C1", at=at(1), reason=reason)


@pytest.mark.parametrize(
    "waybill",
    [{}, {"carrier": "YTO"}, {"tracking_number": "1"}, {"carrier": " ", "tracking_number": "1"}],
)
def test_ship_back_without_waybill_refused_ks5(app: AfterSales, waybill: dict[str, str]) -> None:
    awaiting_return(app)
    with refused(app, NotAllowedError, "awaiting_return", "KS-5", "tracking number"):
        app.execute("ship_back", case="C1", at=at(2), **waybill)


def test_ship_replacement_without_waybill_refused_ks7(app: AfterSales) -> None:
    returning(app, "exchange")
    app.execute("confirm_receipt", case="C1", at=at(3))
    with refused(app, NotAllowedError, "received", "KS-7", "tracking"):
        app.execute("ship_replacement", case="C1", at=at(4), carrier="SF")


def test_evidence_without_note_refused_ks8(app: AfterSales) -> None:
    disputed(app)
    with refused(app, NotAllowedError, "disputed", "KS-8", "note"):
        app.execute("submit_evidence", case="C1", at=at(3), by="buyer", note=" ")


def test_ruling_for_buyer_of_nothing_refused_ks8(app: AfterSales) -> None:
    disputed(app)
    with refused(app, NotAllowedError, "disputed", "KS-8", "> 0"):
        app.execute("rule", case="C1", at=at(3), in_favour_of="buyer", refund_amount="0")


# -------------------------------------------------------------- time windows
def test_command_after_its_deadline_fell_due_refused_ks1(app: AfterSales) -> None:
    order(app)
    apply(app, amount="50.00")
    with refused(app, WindowClosedError, "requested", "KS-1", "seller_review"):
        app.execute("reject", case="C1", at=at(49), reason="late answer")


def test_command_dated_before_the_last_event_refused(app: AfterSales) -> None:
    awaiting_return(app)
    with refused(app, WindowClosedError, "awaiting_return", "[time]", "before the case's last"):
        app.execute("ship_back", case="C1", at=at(0.5), **WAYBILL)


def test_application_before_payment_refused(app: AfterSales) -> None:
    order(app)
    with refused(app, WindowClosedError, "new", "[order]", "before payment"):
        apply(app, when=t(seconds=-1))


def test_application_dated_before_another_case_on_the_order_refused(app: AfterSales) -> None:
    """A new case may not slip in before a later event of an earlier case on the order."""
    refunded(app)
    with refused(app, WindowClosedError, "new", "[time]", "before the last case event"):
        apply(app, case="C2", when=at(0.5), amount="10.00")
    assert apply(app, case="C2", when=at(1), amount="10.00").state == "requested"


def test_escalation_dated_before_a_later_case_on_the_order_refused(app: AfterSales) -> None:
    order(app)
    apply(app, amount="50.00")
    app.execute("reject", case="C1", at=at(1), reason="not faulty")
    apply(app, case="C2", when=at(2), amount="20.00")
    app.execute("approve", case="C2", at=at(3))
    with refused(app, WindowClosedError, "rejected", "[time]", "order O1"):
        app.execute("escalate", case="C1", at=at(2.5))
    assert app.execute("escalate", case="C1", at=at(3)).state == "disputed"


# ----------------------------------------------------------------- INV-cap
def test_application_above_the_order_amount_refused_inv_cap(app: AfterSales) -> None:
    order(app)
    with refused(app, RefundCapError, "new", "INV-cap", "120.00"):
        apply(app, amount="120.01")


def test_application_above_what_is_left_refused_inv_cap(app: AfterSales) -> None:
    refunded(app)
    with refused(app, RefundCapError, "new", "INV-cap", "20.00"):
        apply(app, case="C2", when=at(2), amount="20.01")
    case = apply(app, case="C2", when=at(2))  # no amount: what is left
    assert case.amount == Decimal("20.00")


def test_application_on_a_fully_refunded_order_refused_inv_cap(app: AfterSales) -> None:
    order(app)
    apply(app)
    app.execute("approve", case="C1", at=at(1))
    with refused(app, RefundCapError, "new", "INV-cap", "fully refunded"):
        apply(app, case="C2", when=at(2))
    # An exchange asks for no money: still possible.
    assert apply(app, "exchange", case="C3", when=at(2)).state == "requested"


def test_ruling_above_what_is_left_refused_inv_cap(app: AfterSales) -> None:
    order(app)
    apply(app, amount="100.00")
    app.execute("reject", case="C1", at=at(1), reason="not faulty")
    apply(app, case="C2", when=at(2), amount="100.00")
    app.execute("approve", case="C2", at=at(3))
    app.execute("escalate", case="C1", at=at(4))
    with refused(app, RefundCapError, "disputed", "INV-cap", "20.00"):
        app.execute("rule", case="C1", at=at(5), in_favour_of="buyer")
    case = app.execute("rule", case="C1", at=at(5), in_favour_of="buyer", refund_amount="20.00")
    assert case.refunded_total == Decimal("20.00")
    assert app.get_order("O1").remaining == 0


# ---------------------------------------------------------------- INV-open
def test_second_open_case_on_an_order_refused_inv_open(app: AfterSales) -> None:
    order(app)
    apply(app, amount="50.00")
    with refused(app, OpenCaseExistsError, "new", "INV-open", "C1"):
        apply(app, case="C2", when=at(1), amount="20.00")


def test_escalating_a_rejection_while_another_case_is_open_refused_inv_open(
    app: AfterSales,
) -> None:
    order(app)
    apply(app, amount="50.00")
    app.execute("reject", case="C1", at=at(1), reason="not faulty")
    apply(app, case="C2", when=at(2), amount="20.00")
    with refused(app, OpenCaseExistsError, "rejected", "INV-open", "C2"):
        app.execute("escalate", case="C1", at=at(3))


# ------------------------------------------------------ unknown / duplicate
def test_command_on_unknown_case_refused(app: AfterSales) -> None:
    order(app)
    with refused(app, CaseNotFoundError, "C9"):
        app.execute("approve", case="C9", at=at(1))


def test_application_on_unknown_order_refused(app: AfterSales) -> None:
    with refused(app, NotFoundError, "O9"):
        apply(app, order_id="O9")


def test_duplicate_case_id_refused(app: AfterSales) -> None:
    order(app)
    order(app, "O2")
    apply(app, amount="50.00")
    with refused(app, AlreadyExistsError, "C1"):
        apply(app, order_id="O2", when=at(1), amount="10.00")
    assert event_types(app, "C1") == ["Applied"]


def test_duplicate_order_id_refused(app: AfterSales) -> None:
    order(app)
    with refused(app, AlreadyExistsError, "O1"):
        order(app)


@pytest.mark.parametrize(
    ("command", "args", "words"),
    [
        ("approve_all", {}, ("unknown command",)),
        ("reject", {"reason": 5}, ("reason",)),
        ("rule", {"in_favour_of": "nobody"}, ("in_favour_of",)),
        ("escalate", {"by": "platform"}, ("by",)),
    ],
)
def test_invalid_command_input_refused(
    app: AfterSales, command: str, args: dict[str, Any], words: tuple[str, ...]
) -> None:
    order(app)
    apply(app, amount="50.00")
    with refused(app, InvalidInputError, *words):
        app.execute(command, case="C1", at=at(1), **args)


def test_amount_with_too_many_decimals_refused(app: AfterSales) -> None:
    order(app)
    with refused(app, InvalidInputError, "amount", "decimals"):
        apply(app, amount="10.001")


def test_naive_time_refused(app: AfterSales) -> None:
    order(app)
    with refused(app, InvalidInputError, "at"):
        apply(app, when=APPLIED.replace(tzinfo=None))
