"""Snapshots: a long-lived case loads from a snapshot every 50
events, and gives exactly the state a full replay gives, at every depth.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from eventsourcing.domain import Snapshot

from aftersales_es.domain.base import case_uuid, order_uuid
from aftersales_es.domain.case import Case, Context
from aftersales_es.engine import AfterSales

from .helpers import order, t
from .test_history import run_path, state_of

NOTES = 997  # with the application, rejection, escalation and ruling: ~1,000 events


class WithoutSnapshots(AfterSales):
    """The same application with snapshotting off: every load replays every event."""

    name = "aftersales"  # the same tables (PostgreSQL prefixes them with the name)
    snapshotting_intervals = {}  # noqa: RUF012


@pytest.fixture
def long_case(store: str) -> Iterator[str]:
    """Given: a KS-8 dispute in which the parties file ~1,000 pieces of evidence."""
    app = AfterSales(store)
    order(app)
    app.execute("apply", case="C1", order="O1", at=t(days=3), kind="refund_only", amount="80.00")
    app.execute(
        "reject",
        case="C1",
        at=t(days=3, hours=1),
        category="other",
        buyer_contacted=True,
        reason="used",
    )
    app.execute("escalate", case="C1", at=t(days=3, hours=2))
    start = t(days=3, hours=2)
    # Built through the aggregate and saved in batches (as fast as a bulk
    # import); the ruling at the end goes through the application as usual.
    for first in range(0, NOTES, 100):
        case: Case = app.repository.get(case_uuid("C1"))
        o = app.repository.get(order_uuid("O1"))
        ctx = Context(o, app.ruleset_of(case))
        for i in range(first, min(first + 100, NOTES)):
            by = "seller" if i % 2 else "buyer"
            case.submit_evidence(ctx, at=start + timedelta(minutes=i + 1), by=by, note=f"#{i}")
        app.save(case, o)
    app.execute("rule", case="C1", at=t(days=4), in_favour_of="buyer", refund_amount="50.00")
    app.close()
    yield store


@pytest.mark.single_store
def test_long_case_loads_identically_with_and_without_snapshots(long_case: str) -> None:
    snap, full = AfterSales(long_case), WithoutSnapshots(long_case)
    try:
        assert full.snapshots is None and snap.snapshots is not None
        taken = [s.originator_version for s in snap.snapshots.get(case_uuid("C1"))]
        last = snap.get_case("C1").version
        assert last == NOTES + 6  # applied, rejected, escalated, arbitrated, deducted, refunded
        assert taken == list(range(50, last + 1, 50))
        assert state_of(snap.get_case("C1")) == state_of(full.get_case("C1"))
        for version in (1, 49, 50, 51, 500, 999, 1000, last):
            assert state_of(snap.get_case("C1", version=version)) == state_of(
                full.get_case("C1", version=version)
            )
        case = snap.get_case("C1")
        assert (case.state, case.evidence_count, str(case.refunded_total)) == (
            "refunded",
            NOTES,
            "50.00",
        )
    finally:
        snap.close()
        full.close()


#: What a Case snapshot held when snapshots were turned on. A snapshot
#: taken then restores only these attributes, so every attribute added since needs
#: a class-level default on Case (as was done for ``lines`` and ``fee_total``),
#: or a bumped ``Case.class_version`` with ``Case.upcast_v1_v2(state)``.
SNAPSHOT_SHAPE = {
    "_created_on", "_modified_on", "amount", "applied_at", "applied_kind", "buyer_id",
    "case_id", "closed_reason", "currency", "deadlines", "deducted_total", "escalated_by",
    "evidence_count", "evidence_due", "goods", "kind", "last_at", "order_id", "platform",
    "proposal", "reason", "refunded_total", "rejection_reason", "replacement_waybill",
    "ruleset", "ruling", "seller_id", "state", "waybill",
}  # fmt: skip


def test_attributes_added_since_the_first_snapshots_have_defaults() -> None:
    app = AfterSales("memory")
    try:
        run_path(app, "ks_approved_refund")
        state = Snapshot.take(app.get_case("C1")).state
    finally:
        app.close()
    added = sorted(set(state) - SNAPSHOT_SHAPE)
    if getattr(Case, "class_version", 1) == 1:
        assert [a for a in added if not hasattr(Case, a)] == [], "old snapshots lack these"
