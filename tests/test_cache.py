"""The process's cache of cases and orders: speed never costs correctness.

A command takes its case and order from the cache when this process saved
them last. Another process (here a second application on the same store)
may have written since; the command must then end exactly as it would have
without a cache: a refusal made on cached state is decided again on stored
state, an acceptance made on stale state fails its write and is retried on
stored state, and on SQLite the write transaction itself checks that every
aggregate a decision read (the order too, when only the case changes) is
still at the version it read.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from eventsourcing.persistence import RecordConflictError

from aftersales_es.domain.case import Context
from aftersales_es.domain.errors import OpenCaseExistsError, TransitionNotAllowedError
from aftersales_es.engine import AfterSales

from .helpers import event_types, order, refused, t

WAYBILL = {"carrier": "YTO", "tracking_number": "YT100"}
LINES = [
    {"line": "L1", "sku": "TEE", "title": "T-shirt", "quantity": 1, "unit_price": "60.00"},
    {"line": "L2", "sku": "CAP", "title": "Cap", "quantity": 1, "unit_price": "60.00"},
]


@pytest.fixture(params=["cache", "no cache"])
def two(store: str, request: pytest.FixtureRequest) -> Iterator[tuple[AfterSales, AfterSales]]:
    """Two processes' applications on one store (A with and without its cache:
    ``AFTERSALES_CACHE_SIZE=0`` must change nothing but speed)."""
    env = {"AFTERSALES_CACHE_SIZE": "0"} if request.param == "no cache" else {}
    a, b = AfterSales(store, env=env), AfterSales(store)
    yield a, b
    a.close()
    b.close()


APPLIED = t(days=3)


def apply_return(app: AfterSales, case: str = "C1", at: datetime = APPLIED, **args: Any) -> None:
    app.execute(
        "apply", case=case, order="O1", at=at, kind="return_refund", reason="damaged", **args
    )


def test_command_on_case_another_process_moved_is_decided_on_stored_state(
    two: tuple[AfterSales, AfterSales],
) -> None:
    a, b = two
    # given: A opened C1 (A's cache: requested); B approved it since
    order(a)
    apply_return(a)
    b.execute("approve", case="C1", at=t(days=3, hours=1))
    # when: A ships back, allowed only once approved
    case = a.execute("ship_back", case="C1", at=t(days=3, hours=2), **WAYBILL)
    # then
    assert case.state == "returning"
    assert event_types(b, "C1") == ["Applied", "Approved", "ShippedBack"]


def test_acceptance_on_stale_cached_case_is_refused_on_stored_state(
    two: tuple[AfterSales, AfterSales],
) -> None:
    a, b = two
    # given: A opened C1 (A's cache: requested); B rejected it since
    order(a)
    apply_return(a)
    b.execute(
        "reject",
        case="C1",
        at=t(days=3, hours=1),
        category="other",
        buyer_contacted=True,
        reason="used item",
    )
    # when / then: approve is valid on A's cached state, not on the stored one
    with refused(a, TransitionNotAllowedError, "C1", "rejected"):
        a.execute("approve", case="C1", at=t(days=3, hours=2))
    assert event_types(a, "C1") == ["Applied", "Rejected"]


def test_order_changed_by_another_process_is_read_again(
    two: tuple[AfterSales, AfterSales],
) -> None:
    a, b = two
    # given: A holds C1 (line L1) and the order; B opened C2 on line L2 since
    order(a, lines=LINES)
    apply_return(a, lines=[{"line": "L1", "quantity": 1}])
    apply_return(b, "C2", t(days=3, minutes=5), lines=[{"line": "L2", "quantity": 1}])
    # when: A approves C1 (writes no order event) and then asks for L2 too
    assert a.execute("approve", case="C1", at=t(days=3, hours=1)).state == "awaiting_return"
    # then: A's next decision knows L2 is taken (INV-line-open)
    with refused(a, OpenCaseExistsError, "INV-line-open"):
        apply_return(a, "C3", t(days=3, hours=2), lines=[{"line": "L2", "quantity": 1}])
    assert a.get_order("O1").version == b.get_order("O1").version


def test_write_with_a_stale_read_set_conflicts_and_writes_nothing(tmp_path: Path) -> None:
    # given: C1 decided on the order as it was before C2 opened on line L2
    app = AfterSales(tmp_path / "s.db")
    order(app, lines=LINES)
    apply_return(app, lines=[{"line": "L1", "quantity": 1}])
    case, stale = app.get_case("C1"), app.get_order("O1")
    apply_return(app, "C2", t(days=3, minutes=5), lines=[{"line": "L2", "quantity": 1}])
    case.approve(Context(stale, app.ruleset_of(case)), at=t(days=3, hours=1))
    before = app.notification_count()
    # when: the save names the order version the decision read
    with pytest.raises(RecordConflictError):
        app.save(case, reads={case.id: case.version, stale.id: stale.version})
    # then: the write transaction refused it whole
    assert app.notification_count() == before
    assert event_types(app, "C1") == ["Applied"]
    app.close()
