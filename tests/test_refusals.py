"""Every refused path of a case's decisions (SPEC §3 invariants): the error
type, a message naming the state and the rule, and nothing recorded
(``helpers.refused`` checks all three). On the aggregates themselves
(``desk.Desk``); the refusals the service makes before a case decides
(unknown ids, invalid input) are in ``test_service_refusals``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest

from aftersales_es.domain.case import Case, Context
from aftersales_es.domain.errors import (
    NotAllowedError,
    OpenCaseExistsError,
    RefundCapError,
    TransitionNotAllowedError,
    WindowClosedError,
)

from .desk import Desk, make_case, make_order, make_rules
from .helpers import order, refused, t

APPLIED = t(days=3)
WAYBILL = {"carrier": "YTO", "tracking_number": "YT1"}


def at(hours: float) -> Any:
    return APPLIED + timedelta(hours=hours)


def apply(
    desk: Desk,
    kind: str = "refund_only",
    case: str = "C1",
    order_id: str = "O1",
    when: Any = APPLIED,
    **args: Any,
) -> Case:
    return desk.execute("apply", case=case, order=order_id, at=when, kind=kind, **args)


def refunded(desk: Desk) -> None:
    """Given: C1, a refund-only case approved and refunded (100 of 120)."""
    order(desk)
    apply(desk, amount="100.00")
    desk.execute("approve", case="C1", at=at(1))


def awaiting_return(desk: Desk) -> None:
    order(desk)
    apply(desk, "return_refund", amount="120.00")
    desk.execute("approve", case="C1", at=at(1))


def returning(desk: Desk, kind: str = "return_refund") -> None:
    order(desk)
    apply(desk, kind, **({"amount": "120.00"} if kind == "return_refund" else {}))
    desk.execute("approve", case="C1", at=at(1))
    desk.execute("ship_back", case="C1", at=at(2), **WAYBILL)


def reshipping(desk: Desk) -> None:
    returning(desk, "exchange")
    desk.execute("confirm_receipt", case="C1", at=at(3))
    desk.execute("ship_replacement", case="C1", at=at(4), carrier="SF", tracking_number="SF1")


def disputed(desk: Desk) -> None:
    order(desk)
    apply(desk, amount="100.00")
    desk.execute(
        "reject", case="C1", at=at(1), category="other", buyer_contacted=True, reason="not faulty"
    )
    desk.execute("escalate", case="C1", at=at(2))


# ----------------------------------------------------------------- wrong state
WRONG_STATE: list[tuple[Callable[[Desk], None], str, str, dict[str, Any]]] = [
    (refunded, "refunded", "approve", {}),
    (
        refunded,
        "refunded",
        "reject",
        {"category": "other", "buyer_contacted": True, "reason": "too late"},
    ),
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
    desk: Desk,
    given: Callable[[Desk], None],
    state: str,
    command: str,
    args: dict[str, Any],
) -> None:
    given(desk)
    with refused(desk, TransitionNotAllowedError, f"(state {state})", command, "statechart"):
        desk.execute(command, case="C1", at=at(30), **args)


def test_rule_outside_a_dispute_refused(desk: Desk) -> None:
    order(desk)
    apply(desk, amount="50.00")
    with refused(desk, TransitionNotAllowedError, "requested", "rule", "statechart"):
        desk.execute("rule", case="C1", at=at(1), in_favour_of="buyer")


def test_accept_without_a_proposal_refused_km7(desk: Desk) -> None:
    order(desk)
    apply(desk, amount="50.00")
    with refused(desk, TransitionNotAllowedError, "requested", "KM-7", "nothing proposed"):
        desk.execute("accept_proposal", case="C1", at=at(1))


# ------------------------------------------------------------------ wrong kind
@pytest.mark.parametrize("kind", ["exchange", "repair"])
def test_exchange_or_repair_asking_money_refused(desk: Desk, kind: str) -> None:
    order(desk)
    with refused(desk, NotAllowedError, "new", "apply", "no refund"):
        apply(desk, kind, amount="10.00")


def test_refund_asking_zero_refused(desk: Desk) -> None:
    order(desk)
    with refused(desk, NotAllowedError, "new", "above 0"):
        apply(desk, amount="0.00")


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
    desk: Desk, kind: str, amount: str, words: tuple[str, ...]
) -> None:
    order(desk)
    apply(desk, "return_refund", amount="120.00")
    with refused(desk, NotAllowedError, "requested", *words):
        desk.execute("propose", case="C1", at=at(1), kind=kind, amount=amount)


def test_ship_replacement_on_a_return_refused(desk: Desk) -> None:
    """A return_refund is refunded on receipt: it never reaches ``received``."""
    returning(desk)
    with refused(desk, TransitionNotAllowedError, "returning", "return_refund", "statechart"):
        desk.execute("ship_replacement", case="C1", at=at(3), **WAYBILL)


# ----------------------------------------------------------------- wrong actor
def test_submit_evidence_outside_a_dispute_refused(desk: Desk) -> None:
    order(desk)
    apply(desk, amount="50.00")
    with refused(desk, TransitionNotAllowedError, "requested", "submit_evidence"):
        desk.execute("submit_evidence", case="C1", at=at(1), by="seller", note="x")


# ------------------------------------------------------ missing reason/waybill
@pytest.mark.parametrize("reason", ["", "   "])
def test_reject_without_reason_refused_ks3(desk: Desk, reason: str) -> None:
    order(desk)
    apply(desk, amount="50.00")
    with refused(desk, NotAllowedError, "requested", "KS-3"):
        desk.execute(
            "reject", case="C1", at=at(1), category="other", buyer_contacted=True, reason=reason
        )


@pytest.mark.parametrize(
    "waybill",
    [{}, {"carrier": "YTO"}, {"tracking_number": "1"}, {"carrier": " ", "tracking_number": "1"}],
)
def test_ship_back_without_waybill_refused_ks5(desk: Desk, waybill: dict[str, str]) -> None:
    awaiting_return(desk)
    with refused(desk, NotAllowedError, "awaiting_return", "KS-5", "tracking number"):
        desk.execute("ship_back", case="C1", at=at(2), **waybill)


def test_ship_replacement_without_waybill_refused_ks7(desk: Desk) -> None:
    returning(desk, "exchange")
    desk.execute("confirm_receipt", case="C1", at=at(3))
    with refused(desk, NotAllowedError, "received", "KS-7", "tracking"):
        desk.execute("ship_replacement", case="C1", at=at(4), carrier="SF")


def test_evidence_without_note_refused_ks8(desk: Desk) -> None:
    disputed(desk)
    with refused(desk, NotAllowedError, "disputed", "KS-8", "note"):
        desk.execute("submit_evidence", case="C1", at=at(3), by="buyer", note=" ")


def test_ruling_for_buyer_of_nothing_refused_ks8(desk: Desk) -> None:
    disputed(desk)
    with refused(desk, NotAllowedError, "disputed", "KS-8", "> 0"):
        desk.execute("rule", case="C1", at=at(3), in_favour_of="buyer", refund_amount="0")


# -------------------------------------------------------------- time windows
def test_command_after_its_deadline_fell_due_refused_ks1(desk: Desk) -> None:
    order(desk)
    apply(desk, amount="50.00")
    with refused(desk, WindowClosedError, "requested", "KS-1", "seller_review"):
        desk.execute(
            "reject",
            case="C1",
            at=at(49),
            category="other",
            buyer_contacted=True,
            reason="late answer",
        )


def test_command_dated_before_the_last_event_refused(desk: Desk) -> None:
    awaiting_return(desk)
    with refused(desk, WindowClosedError, "awaiting_return", "[time]", "before the case's last"):
        desk.execute("ship_back", case="C1", at=at(0.5), **WAYBILL)


def test_application_before_payment_refused(desk: Desk) -> None:
    order(desk)
    with refused(desk, WindowClosedError, "new", "[order]", "before payment"):
        apply(desk, when=t(seconds=-1))


def test_application_dated_before_another_case_on_the_order_refused(desk: Desk) -> None:
    """A new case may not slip in before a later event of an earlier case on the order."""
    refunded(desk)
    with refused(desk, WindowClosedError, "new", "[time]", "before the last case event"):
        apply(desk, case="C2", when=at(0.5), amount="10.00")
    assert apply(desk, case="C2", when=at(1), amount="10.00").state == "requested"


def test_escalation_dated_before_a_later_case_on_the_order_refused(desk: Desk) -> None:
    order(desk)
    apply(desk, amount="50.00")
    desk.execute(
        "reject", case="C1", at=at(1), category="other", buyer_contacted=True, reason="not faulty"
    )
    apply(desk, case="C2", when=at(2), amount="20.00")
    desk.execute("approve", case="C2", at=at(3))
    with refused(desk, WindowClosedError, "rejected", "[time]", "order O1"):
        desk.execute("escalate", case="C1", at=at(2.5))
    assert desk.execute("escalate", case="C1", at=at(3)).state == "disputed"


# ----------------------------------------------------------------- INV-cap
def test_application_above_the_order_amount_refused_inv_cap(desk: Desk) -> None:
    order(desk)
    with refused(desk, RefundCapError, "new", "INV-cap", "120.00"):
        apply(desk, amount="120.01")


def test_application_above_what_is_left_refused_inv_cap(desk: Desk) -> None:
    refunded(desk)
    with refused(desk, RefundCapError, "new", "INV-cap", "20.00"):
        apply(desk, case="C2", when=at(2), amount="20.01")
    case = apply(desk, case="C2", when=at(2))  # no amount: what is left
    assert case.amount == Decimal("20.00")


def test_application_on_a_fully_refunded_order_refused_inv_cap(desk: Desk) -> None:
    order(desk)
    apply(desk)
    desk.execute("approve", case="C1", at=at(1))
    with refused(desk, RefundCapError, "new", "INV-cap", "fully refunded"):
        apply(desk, case="C2", when=at(2))
    # An exchange asks for no money: still possible.
    assert apply(desk, "exchange", case="C3", when=at(2)).state == "requested"


def test_ruling_above_what_is_left_refused_inv_cap(desk: Desk) -> None:
    order(desk)
    apply(desk, amount="100.00")
    desk.execute(
        "reject", case="C1", at=at(1), category="other", buyer_contacted=True, reason="not faulty"
    )
    apply(desk, case="C2", when=at(2), amount="100.00")
    desk.execute("approve", case="C2", at=at(3))
    desk.execute("escalate", case="C1", at=at(4))
    with refused(desk, RefundCapError, "disputed", "INV-cap", "20.00"):
        desk.execute("rule", case="C1", at=at(5), in_favour_of="buyer")
    case = desk.execute("rule", case="C1", at=at(5), in_favour_of="buyer", refund_amount="20.00")
    assert case.refunded_total == Decimal("20.00")
    assert desk.get_order("O1").remaining == 0


# ---------------------------------------------------------------- INV-open
def test_second_open_case_on_an_order_refused_inv_open(desk: Desk) -> None:
    order(desk)
    apply(desk, amount="50.00")
    with refused(desk, OpenCaseExistsError, "new", "INV-open", "C1"):
        apply(desk, case="C2", when=at(1), amount="20.00")


def test_escalating_a_rejection_while_another_case_is_open_refused_inv_open(
    desk: Desk,
) -> None:
    order(desk)
    apply(desk, amount="50.00")
    desk.execute(
        "reject", case="C1", at=at(1), category="other", buyer_contacted=True, reason="not faulty"
    )
    apply(desk, case="C2", when=at(2), amount="20.00")
    with refused(desk, OpenCaseExistsError, "rejected", "INV-open", "C2"):
        desk.execute("escalate", case="C1", at=at(3))


# ------------------------------------------------------- what a refusal says
def test_refusal_offers_commands_people_may_send_never_automatic_ones(desk: Desk) -> None:
    order(desk)
    apply(desk, amount="50.00")
    with pytest.raises(TransitionNotAllowedError) as info:
        desk.execute("confirm_receipt", case="C1", at=at(1))
    message = str(info.value)
    assert "approve (seller)" in message and "withdraw (buyer)" in message
    assert not [w for w in ("auto_", "express_refund", "grant_cancel") if w in message]


def test_refused_decision_records_nothing_on_the_case_or_its_order_ks1() -> None:
    """The aggregates themselves: a refusal leaves no pending event on either."""
    # given: an order and a refund-only case built directly under Kuaishou's rules
    rules, o = make_rules("kuaishou"), make_order()
    case = make_case(o, rules, amount=Decimal("50.00"))
    assert [type(e).__name__ for e in case.collect_events()] == ["Applied"]
    assert [type(e).__name__ for e in o.collect_events()] == ["CaseOpened"]
    # when: the seller approves when the 48 h deadline has fallen due
    with pytest.raises(WindowClosedError, match=r"\[KS-1\].*system approves"):
        case.approve(Context(o, rules), at=APPLIED + timedelta(hours=48))
    # then: nothing was recorded
    assert case.collect_events() == [] and o.collect_events() == []
