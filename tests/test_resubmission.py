"""Resubmission cap: ``max_applications_after_rejection`` (on the aggregates, no store).

KS-3 lets a buyer file a new application after a rejection; a rule set may
cap how many times on one order. The setting counts the applications made on
the order after its first rejected case: with a cap of N, the first
application plus N more after rejections are accepted, and the next one is
refused naming the rule. ``null`` means no cap.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest

from aftersales_es.domain.errors import NotAllowedError, OpenCaseExistsError
from aftersales_es.domain.order import CaseRejected

from .desk import Desk
from .helpers import event_types, order, refused, t


def capped(cap: int | None) -> Desk:
    """Kuaishou's rules with the cap overridden (the refusal still names KS-3)."""
    return Desk(settings={"max_applications_after_rejection": cap})


@pytest.fixture
def desk_cap2() -> Desk:
    return capped(2)


def at(step: int) -> datetime:
    """Instants one hour apart from T0+3h: every step well inside the 48 h review."""
    return t(hours=3) + timedelta(hours=step)


def apply(desk: Desk, case: str, step: int, **args: Any) -> None:
    args = {"kind": "refund_only", "amount": "10.00", "reason": "changed_mind", **args}
    desk.execute("apply", case=case, order="O1", at=at(step), **args)


def apply_and_reject(desk: Desk, case: str, step: int) -> None:
    apply(desk, case, step)
    desk.execute(
        "reject",
        case=case,
        at=at(step) + timedelta(minutes=30),
        category="other",
        buyer_contacted=True,
        reason="used item",
    )


def rejected(desk: Desk, times: int) -> None:
    """Given: ``times`` applications on O1, each rejected by the seller."""
    for i in range(times):
        apply_and_reject(desk, f"C{i + 1}", i)


def test_cap_two_accepts_two_applications_after_rejection_ks3(desk_cap2: Desk) -> None:
    order(desk_cap2)
    rejected(desk_cap2, 2)  # C1 (first), C2 (1st after a rejection): both rejected
    apply(desk_cap2, "C3", 2)  # the 2nd after a rejection: still within the cap
    assert event_types(desk_cap2, "C3") == ["Applied"]
    assert desk_cap2.get_order("O1").applications_after_rejection == 2


def test_cap_two_refuses_the_third_application_after_rejection_naming_ks3(
    desk_cap2: Desk,
) -> None:
    order(desk_cap2)
    rejected(desk_cap2, 3)
    with refused(desk_cap2, NotAllowedError, "KS-3", "at most 2", "order O1", "(2 used)"):
        apply(desk_cap2, "C4", 3)


def test_cap_zero_refuses_any_application_after_a_rejection() -> None:
    desk = capped(0)
    order(desk)
    rejected(desk, 1)
    with refused(desk, NotAllowedError, "KS-3", "at most 0"):
        apply(desk, "C2", 1)


def test_null_cap_is_unlimited_ks3(desk: Desk) -> None:
    """Kuaishou ships null for KS-3: a buyer may apply again after any number of rejections."""
    assert desk.ruleset("kuaishou").settings.max_applications_after_rejection.value is None
    order(desk)
    rejected(desk, 8)
    apply(desk, "C9", 8)
    assert event_types(desk, "C9") == ["Applied"]
    assert desk.get_order("O1").applications_after_rejection == 8


def test_generic_caps_at_five_gen10() -> None:
    """The generic example rule set: five applications after rejections, the sixth refused."""
    desk = Desk()
    order(desk, platform="generic", currency="USD")
    rejected(desk, 6)  # C1 first, C2..C6: five after a rejection
    with refused(desk, NotAllowedError, "GEN-10", "at most 5", "(5 used)"):
        apply(desk, "C7", 6)


def test_applications_before_the_first_rejection_do_not_count() -> None:
    desk = capped(1)
    order(desk)
    for i, case in enumerate(["C1", "C2"]):  # withdrawn, not rejected
        apply(desk, case, i)
        desk.execute("withdraw", case=case, at=at(i) + timedelta(minutes=5))
    apply_and_reject(desk, "C3", 2)
    apply_and_reject(desk, "C4", 3)  # the one application after a rejection
    with refused(desk, NotAllowedError, "KS-3", "at most 1", "(1 used)"):
        apply(desk, "C5", 4)


def test_a_withdrawn_application_after_a_rejection_counts() -> None:
    desk = capped(1)
    order(desk)
    rejected(desk, 1)
    apply(desk, "C2", 1)
    desk.execute("withdraw", case="C2", at=at(1) + timedelta(minutes=5))
    with refused(desk, NotAllowedError, "KS-3", "at most 1"):
        apply(desk, "C3", 2)


def test_open_case_is_refused_for_inv_open_before_the_cap() -> None:
    """An open case on the order is the first reason to refuse; the cap comes after."""
    desk = capped(0)
    order(desk)
    apply(desk, "C1", 0)
    with refused(desk, OpenCaseExistsError, "INV-open"):
        apply(desk, "C2", 1)


def test_rejection_is_recorded_on_the_order(desk: Desk) -> None:
    order(desk)
    apply(desk, "C1", 0)
    desk.execute(
        "reject",
        case="C1",
        at=at(0) + timedelta(minutes=30),
        category="other",
        buyer_contacted=True,
        reason="used item",
    )
    stored = desk.orders["O1"]
    rejections = [e for e in stored if isinstance(e, CaseRejected)]
    assert [(e.case_id, e.at) for e in rejections] == [("C1", at(0) + timedelta(minutes=30))]
    assert desk.get_order("O1").rejected_case_ids == ("C1",)
