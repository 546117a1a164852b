"""Resubmission cap (issue 7): ``max_applications_after_rejection``.

KS-3 lets a buyer file a new application after a rejection; a rule set may
cap how many times on one order. The setting counts the applications made on
the order after its first rejected case: with a cap of N, the first
application plus N more after rejections are accepted, and the next one is
refused naming the rule. ``null`` means no cap.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest

from aftersales_es.app.service import AfterSales
from aftersales_es.domain.base import order_uuid
from aftersales_es.domain.errors import NotAllowedError, OpenCaseExistsError
from aftersales_es.domain.order import CaseRejected

from .helpers import event_types, order, refused, t


def capped(store: str, cap: int | None) -> AfterSales:
    """Kuaishou's rules with the cap overridden (the refusal still names KS-3)."""
    return AfterSales(store, settings={"max_applications_after_rejection": cap})


@pytest.fixture
def app_cap2(store: str) -> Iterator[AfterSales]:
    app = capped(store, 2)
    yield app
    app.close()


def at(step: int) -> datetime:
    """Instants one hour apart from T0+3h: every step well inside the 48 h review."""
    return t(hours=3) + timedelta(hours=step)


def apply(app: AfterSales, case: str, step: int, **args: Any) -> None:
    args = {"kind": "refund_only", "amount": "10.00", "reason": "changed_mind", **args}
    app.execute("apply", case=case, order="O1", at=at(step), **args)


def apply_and_reject(app: AfterSales, case: str, step: int) -> None:
    apply(app, case, step)
    app.execute("reject", case=case, at=at(step) + timedelta(minutes=30), reason="used item")


def rejected(app: AfterSales, times: int) -> None:
    """Given: ``times`` applications on O1, each rejected by the seller."""
    for i in range(times):
        apply_and_reject(app, f"C{i + 1}", i)


def test_cap_two_accepts_two_applications_after_rejection_ks3(app_cap2: AfterSales) -> None:
    order(app_cap2)
    rejected(app_cap2, 2)  # C1 (first), C2 (1st after a rejection): both rejected
    apply(app_cap2, "C3", 2)  # the 2nd after a rejection: still within the cap
    assert event_types(app_cap2, "C3") == ["Applied"]
    assert app_cap2.get_order("O1").applications_after_rejection == 2


def test_cap_two_refuses_the_third_application_after_rejection_naming_ks3(
    app_cap2: AfterSales,
) -> None:
    order(app_cap2)
    rejected(app_cap2, 3)
    with refused(app_cap2, NotAllowedError, "KS-3", "at most 2", "order O1", "(2 used)"):
        apply(app_cap2, "C4", 3)


def test_cap_zero_refuses_any_application_after_a_rejection(store: str) -> None:
    app = capped(store, 0)
    order(app)
    rejected(app, 1)
    with refused(app, NotAllowedError, "KS-3", "at most 0"):
        apply(app, "C2", 1)
    app.close()


def test_null_cap_is_unlimited_ks3(app: AfterSales) -> None:
    """Kuaishou ships null for KS-3: a buyer may apply again after any number of rejections."""
    assert app.ruleset("kuaishou").settings.max_applications_after_rejection.value is None
    order(app)
    rejected(app, 8)
    apply(app, "C9", 8)
    assert event_types(app, "C9") == ["Applied"]
    assert app.get_order("O1").applications_after_rejection == 8


def test_generic_caps_at_five_gen10(store: str) -> None:
    """The generic example rule set: five applications after rejections, the sixth refused."""
    app = AfterSales(store)
    order(app, platform="generic", currency="USD")
    rejected(app, 6)  # C1 first, C2..C6: five after a rejection
    with refused(app, NotAllowedError, "GEN-10", "at most 5", "(5 used)"):
        apply(app, "C7", 6)
    app.close()


def test_applications_before_the_first_rejection_do_not_count(store: str) -> None:
    app = capped(store, 1)
    order(app)
    for i, case in enumerate(["C1", "C2"]):  # withdrawn, not rejected
        apply(app, case, i)
        app.execute("withdraw", case=case, at=at(i) + timedelta(minutes=5))
    apply_and_reject(app, "C3", 2)
    apply_and_reject(app, "C4", 3)  # the one application after a rejection
    with refused(app, NotAllowedError, "KS-3", "at most 1", "(1 used)"):
        apply(app, "C5", 4)
    app.close()


def test_a_withdrawn_application_after_a_rejection_counts(store: str) -> None:
    app = capped(store, 1)
    order(app)
    rejected(app, 1)
    apply(app, "C2", 1)
    app.execute("withdraw", case="C2", at=at(1) + timedelta(minutes=5))
    with refused(app, NotAllowedError, "KS-3", "at most 1"):
        apply(app, "C3", 2)
    app.close()


def test_open_case_is_refused_for_inv_open_before_the_cap(store: str) -> None:
    """An open case on the order is the first reason to refuse; the cap comes after."""
    app = capped(store, 0)
    order(app)
    apply(app, "C1", 0)
    with refused(app, OpenCaseExistsError, "INV-open"):
        apply(app, "C2", 1)
    app.close()


def test_rejection_is_recorded_on_the_order(app: AfterSales) -> None:
    order(app)
    apply(app, "C1", 0)
    app.execute("reject", case="C1", at=at(0) + timedelta(minutes=30), reason="used item")
    stored = list(app.repository.event_store.get(order_uuid("O1")))
    rejections = [e for e in stored if isinstance(e, CaseRejected)]
    assert [(e.case_id, e.at) for e in rejections] == [("C1", at(0) + timedelta(minutes=30))]
    assert app.get_order("O1").rejected_case_ids == ("C1",)
