"""A command sent on a condition: ``expected_version``. The version is checked on
the state the command is decided on, inside the version-checked write, so the
condition holds across applications (each its own cache and connections) and
across processes, on SQLite and PostgreSQL."""

from __future__ import annotations

import multiprocessing as mp
from datetime import timedelta
from typing import Any

import pytest

from aftersales_es.domain.errors import VersionMismatchError
from aftersales_es.engine import AfterSales

from .helpers import order, t

SENDERS = 3
RACERS: tuple[tuple[str, dict[str, Any]], ...] = (
    ("approve", {}),
    (
        "reject",
        {"reason": "the buyer agreed by phone", "category": "other", "buyer_contacted": True},
    ),
    ("propose", {"kind": "refund_only", "amount": "20.00"}),
)


def opened(app: AfterSales, case: str = "C1") -> int:
    """Given: an order and its refund-only case awaiting the seller; its version."""
    order(app, f"O-{case}", amount="100.00")
    app.execute(
        "apply", case=case, order=f"O-{case}", at=t(days=3), kind="refund_only",
        amount="60.00", reason="quality_issue",
    )  # fmt: skip
    return app.get_case(case).version


def test_expected_version_current_runs(app: AfterSales) -> None:
    v = opened(app)
    case = app.execute("approve", case="C1", at=t(days=3, hours=1), expected_version=v)
    assert case.state != "requested" and case.version > v


def test_expected_version_stale_mismatch_names_case_and_writes_nothing(app: AfterSales) -> None:
    # given C1 read at v, then proposed on by the seller
    v = opened(app)
    app.execute("propose", case="C1", at=t(days=3, hours=1), kind="refund_only", amount="30")
    before = app.notification_count()
    # when the seller rejects on the condition that C1 is still at v
    with pytest.raises(VersionMismatchError) as err:
        app.execute("reject", case="C1", at=t(days=3, hours=2), expected_version=v)
    # then refused, naming the case, its version now and the expected one; nothing written
    assert (err.value.case_id, err.value.version, err.value.expected) == ("C1", v + 1, v)
    assert "C1" in str(err.value) and f"version {v + 1}" in str(err.value)
    assert app.notification_count() == before


def test_expected_version_on_apply_zero_opens_other_mismatch(app: AfterSales) -> None:
    order(app, "O1")
    with pytest.raises(VersionMismatchError):
        app.execute("apply", case="C1", order="O1", at=t(days=3), kind="refund_only",
                    expected_version=1)  # fmt: skip
    case = app.execute(
        "apply", case="C1", order="O1", at=t(days=3), kind="refund_only", expected_version=0
    )
    assert case.version == 1


def test_expected_version_stale_cache_of_other_application_mismatch(store: str) -> None:
    # given two applications on one store (two server processes): A has C1 cached at v
    a, b = AfterSales(store), AfterSales(store)
    try:
        v = opened(a)
        # when B changes C1, then A runs a command expecting v
        b.execute("propose", case="C1", at=t(days=3, hours=1), kind="refund_only", amount="30")
        before = a.notification_count()
        with pytest.raises(VersionMismatchError) as err:
            a.execute("approve", case="C1", at=t(days=3, hours=2), expected_version=v)
        # then A refuses on the stored version, not its cached one, and writes nothing
        assert err.value.version == v + 1
        assert a.notification_count() == before
        # and expecting the stored version (newer than A's cache) runs
        case = a.execute("decline_proposal", case="C1", at=t(days=3, hours=2),
                         expected_version=v + 1)  # fmt: skip
        assert case.version == v + 2
    finally:
        a.close()
        b.close()


def test_expected_version_keyed_retry_first_outcome_again(app: AfterSales) -> None:
    v = opened(app)
    first = app.execute("approve", case="C1", at=t(days=3, hours=1), expected_version=v,
                        idempotency_key="k1")  # fmt: skip
    again = app.execute("approve", case="C1", at=t(days=3, hours=1), expected_version=v,
                        idempotency_key="k1")  # fmt: skip
    assert again.version == first.version


def sender(store: str, i: int, expected: int, barrier: Any, results: Any) -> None:
    """One process: its own application, one conditional command at the barrier."""
    app = AfterSales(store)
    app.get_case("C1")  # loaded, as a server that showed the case would have it
    at = t(days=3, hours=1) + timedelta(minutes=i)
    name, fields = RACERS[i % len(RACERS)]
    barrier.wait(timeout=120)
    try:
        case = app.execute(name, case="C1", at=at, expected_version=expected, **fields)
        results.put(f"won at {case.version}")
    except VersionMismatchError:
        results.put("mismatch")
    except Exception as exc:  # shown in the assertion
        results.put(f"{type(exc).__name__}: {exc}")
    finally:
        app.close()


@pytest.mark.slow
def test_expected_version_racing_processes_one_winner(store: str) -> None:
    # given C1 at v, and processes each sending a different command expecting v
    app = AfterSales(store)
    v = opened(app)
    ctx = mp.get_context("spawn")
    barrier, results = ctx.Barrier(SENDERS), ctx.Queue()
    procs = [
        ctx.Process(target=sender, args=(store, i, v, barrier, results)) for i in range(SENDERS)
    ]
    for p in procs:
        p.start()
    outcomes = sorted(results.get(timeout=120) for _ in procs)
    for p in procs:
        p.join(timeout=60)
    # then exactly one runs, every other is a mismatch, and only its decision is stored
    assert outcomes[:-1] == ["mismatch"] * (SENDERS - 1), outcomes
    assert outcomes[-1] == f"won at {app.get_case('C1').version}", outcomes
    app.close()
