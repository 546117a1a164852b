"""A PostgreSQL store of N partitions: routing, the fixed count, lists and
the merged event feed. (The whole suite also runs on a store of 3
partitions: the ``postgres-3`` store.)"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

import pytest

from aftersales_es.adapters.location import StoreLocationError, store_env
from aftersales_es.adapters.partitions import locations, partition_of
from aftersales_es.audit.feed import iter_events
from aftersales_es.cli.main import main
from aftersales_es.domain.base import case_uuid
from aftersales_es.domain.errors import AlreadyExistsError, InvalidInputError
from aftersales_es.engine import AfterSales

from .helpers import order, t
from .stores import pg_schema


@pytest.fixture
def parted() -> Iterator[str]:
    """A fresh store of 3 partitions."""
    with pg_schema(3) as url:
        yield url


def apply(app: AfterSales, n: int) -> None:
    """Given: order O{n} and a refund-only case C{n} on it."""
    order(app, f"O{n}")
    app.execute(
        "apply", case=f"C{n}", order=f"O{n}", at=t(days=3, minutes=n),
        kind="refund_only", amount="50.00", reason="changed_mind",
    )  # fmt: skip


def test_partition_of_an_order_is_its_sha256_modulo_n() -> None:
    """The routing is documented and stable: the first 8 bytes of the order
    id's SHA-256, big-endian, modulo N (never Python's per-process hash)."""
    for order_id in ("O1", "order-42", "订单7"):
        digest = hashlib.sha256(order_id.encode()).digest()
        assert partition_of(order_id, 7) == int.from_bytes(digest[:8], "big") % 7
    assert partition_of("O1", 1) == 0
    assert [partition_of(f"O{i}", 4) for i in range(8)] == [2, 0, 3, 0, 2, 1, 3, 3]


def test_partitions_live_in_schemas_of_their_own_or_on_their_hosts() -> None:
    url = "postgresql://u:pw@db:5432/shop?schema=as&partitions=3&hosts=a:5432,b:6432"
    assert locations(url) == [
        "postgresql://u:pw@a:5432/shop?schema=as_p0",
        "postgresql://u:pw@b:6432/shop?schema=as_p1",
        "postgresql://u:pw@a:5432/shop?schema=as_p2",
    ]


@pytest.mark.parametrize(
    ("query", "words"),
    [
        ("partitions=0", "partitions='0'; give a whole number from 1 to 256"),
        ("partitions=x", "partitions='x'"),
        ("partitions=300", "from 1 to 256"),
        ("shards=2", "unknown parameter 'shards'"),
    ],
)
def test_malformed_partition_count_is_refused_in_one_line(query: str, words: str) -> None:
    with pytest.raises(StoreLocationError, match=words):
        store_env(f"postgresql://postgres@127.0.0.1/test?schema=s&{query}")


def test_opening_with_another_partition_count_is_refused(
    parted: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """N is fixed when the store is created: another N, or none, is refused
    with one line naming the count to use, and nothing is written."""
    app = AfterSales(parted)
    apply(app, 1)
    app.close()
    with pytest.raises(StoreLocationError, match="it has 3 partitions, not 2; open it with"):
        AfterSales(parted.replace("partitions=3", "partitions=2"))
    plain = parted.replace("&partitions=3", "")
    with pytest.raises(StoreLocationError, match="a store of 3 partitions; open it with"):
        AfterSales(plain)
    assert main(["--store", plain, "list"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "partitions=3" in err


def test_a_case_lives_in_its_orders_partition_and_lists_merge(parted: str) -> None:
    """Given cases on orders spread over 3 partitions, then each case's
    events are in its order's partition only, and the case list, the due
    deadlines and the event count span them all, in one store's order."""
    app = AfterSales(parted)
    try:
        for n in range(9):
            apply(app, n)
        for n in range(9):
            owner = partition_of(f"O{n}", 3)
            held = [bool(p.recorder.select_events(case_uuid(f"C{n}"))) for p in app.partitions]
            assert held == [i == owner for i in range(3)]
        assert len({partition_of(f"O{n}", 3) for n in range(9)}) == 3
        assert [c["case_id"] for c in app.cases()] == [f"C{n}" for n in range(9)]
        assert [c["case_id"] for c in app.cases(limit=4, after="C2")] == ["C3", "C4", "C5", "C6"]
        assert [r[0] for r in app.due(t(days=6), limit=5)] == [f"C{n}" for n in range(5)]
        assert app.notification_count() == sum(p.notification_count() for p in app.partitions)
        fired = app.fire_due(t(days=6))
        assert [f.case_id for f in fired] == [f"C{n}" for n in range(9)]
        assert app.get_case("C4").state == "refunded"
    finally:
        app.close()


def test_a_case_id_taken_in_another_partition_is_refused(parted: str) -> None:
    """Case ids are unique across partitions: applying C1 again on an order of
    another partition is refused and writes nothing."""
    app = AfterSales(parted)
    try:
        apply(app, 1)
        other = next(
            f"X{i}" for i in range(99) if partition_of(f"X{i}", 3) != partition_of("O1", 3)
        )
        order(app, other)
        before = app.notification_count()
        with pytest.raises(AlreadyExistsError, match="case 'C1' already exists"):
            app.execute("apply", case="C1", order=other, at=t(days=3), kind="refund_only")
        assert app.notification_count() == before
    finally:
        app.close()


def test_merged_feed_resumes_from_its_composite_cursor(parted: str) -> None:
    """The feed of a store of partitions carries one position per partition;
    resuming after any event yields exactly the events not yet seen."""
    app = AfterSales(parted)
    try:
        for n in range(6):
            apply(app, n)
        app.fire_due(t(days=6))
        everything = list(iter_events(app))
        assert len(everything) == 6 * 3  # applied, approved, refunded
        assert all(str(p).count(".") == 2 for p, _ in everything)
        cut = everything[7][0]
        rest = list(iter_events(app, after=cut))
        assert [e for _, e in everything[8:]] == [e for _, e in rest]
        with pytest.raises(InvalidInputError, match=r"3 positions, like 0\.0\.0"):
            list(iter_events(app, after="4.2"))
    finally:
        app.close()
