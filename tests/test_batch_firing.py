"""Due deadlines fire several per transaction; each firing stays atomic, and
one that fails or conflicts neither loses nor duplicates the others."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import pytest

from aftersales_es.app.worker import Worker
from aftersales_es.domain.base import TimedAggregate
from aftersales_es.domain.case import Case
from aftersales_es.domain.errors import AfterSalesError
from aftersales_es.domain.rules import RuleSet
from aftersales_es.engine import AfterSales

from .helpers import order, t


def given_three_due_refunds(app: AfterSales) -> None:
    """Given: C0, C1, C2, refund-only cases applied a minute apart, so their
    48 h KS-1 deadlines are due at t(days=5) and a minute or two later."""
    for n in range(3):
        order(app, f"O{n}")
        app.execute(
            "apply", case=f"C{n}", order=f"O{n}", at=t(days=3, minutes=n),
            kind="refund_only", amount="50.00", reason="changed_mind",
        )  # fmt: skip


def fired_types(app: AfterSales, case_id: str) -> list[str]:
    return [type(e).__name__ for e in app.case_events(case_id)]


class RuleSetLost(AfterSales):
    """The rule set of C1 cannot be read while this application fires it."""

    def ruleset_of(self, case: Case) -> RuleSet:
        if case.case_id == "C1":
            raise AfterSalesError("case C1: rule set unreadable")
        return super().ruleset_of(case)


@pytest.fixture
def lost(store: str) -> Iterator[RuleSetLost]:
    application = RuleSetLost(store)
    yield application
    application.close()


def test_one_firing_failing_in_a_batch_leaves_the_others_fired_once_ks1(
    lost: RuleSetLost, store: str
) -> None:
    """Given three due KS-1 deadlines fired in one batch, when the firing of
    C1 fails, then C0 and C2 are refunded once, C1 is untouched and logged as
    failed, and a later sweep fires C1 once."""
    given_three_due_refunds(lost)
    records: list[dict[str, Any]] = []
    worker = Worker(lost, clock=lambda: t(days=6), log=records.append)
    assert worker.sweep() == 2
    # (On a store of partitions each partition is swept in turn.)
    assert sorted((r["case"], r["event"]) for r in records) == [
        ("C0", "deadline_fired"),
        ("C1", "fire_failed"),
        ("C2", "deadline_fired"),
    ]
    assert fired_types(lost, "C1") == ["Applied"]
    again = AfterSales(store)
    try:
        assert [f.case_id for f in again.fire_due(t(days=6))] == ["C1"]
        for n in range(3):
            assert fired_types(again, f"C{n}") == ["Applied", "Approved", "Refunded"]
        assert again.fire_due(t(days=6)) == []
    finally:
        again.close()


class Raced(AfterSales):
    """Once armed, before its next write of a batch, another writer approves C1."""

    store = ""
    armed = raced = False

    def _save(self, *aggregates: TimedAggregate, reads: Iterable[TimedAggregate] = ()) -> None:
        if self.armed and len(aggregates) > 2 and not self.raced:
            self.raced = True
            seller = AfterSales(self.store)
            try:
                seller.execute("approve", case="C1", at=t(days=4))
            finally:
                seller.close()
        super()._save(*aggregates, reads=reads)


@pytest.mark.single_store
def test_conflict_in_a_batch_writes_nothing_then_each_fires_alone_ks1(store: str) -> None:
    """Given three due KS-1 deadlines fired in one batch, when a seller
    approves C1 between the batch's reads and its write, then the batch
    writes nothing, C0 and C2 fire alone once each, and C1 keeps the seller's
    approval only (its deadline is no longer pending)."""
    app = Raced(store)
    app.store = store
    try:
        given_three_due_refunds(app)
        app.armed = True
        fired = app.fire_due(t(days=6))
        assert app.raced
        assert [f.case_id for f in fired] == ["C0", "C2"]
        for n in (0, 2):
            assert fired_types(app, f"C{n}") == ["Applied", "Approved", "Refunded"]
        c1 = app.case_events("C1")
        assert [type(e).__name__ for e in c1][:2] == ["Applied", "Approved"]
        assert [e.auto for e in c1] == [False] * len(c1)
        assert app.fire_due(t(days=6)) == []
    finally:
        app.close()
