"""The audit's cross-checks: money events against the totals they carry, each
case against its order, each case's rule set against its stored record.

Each test edits raw rows the way ``test_tamper.py`` does; the chain would
report the edit too, but here the audit alone must name the case, the
version and what disagrees.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from aftersales_es.audit.check import audit
from aftersales_es.cli.main import main
from aftersales_es.domain.base import case_uuid, order_uuid
from aftersales_es.domain.ruleset_record import ruleset_uuid
from aftersales_es.engine import AfterSales

from .test_history import run_path
from .test_tamper import Rows

#: Tampers with, or decodes, one store's own rows.
pytestmark = pytest.mark.single_store


@pytest.fixture
def shop(store: str) -> Iterator[AfterSales]:
    """Given: a returned-and-refunded case (120.00) and a disputed one on two orders."""
    app = AfterSales(store)
    run_path(app, "ks_return", case="C1", order_id="O1")
    run_path(app, "ks_dispute_for_buyer", case="C2", order_id="O2")
    assert audit(app).mismatches == []
    yield app
    app.close()


def replace(app: AfterSales, uuid: Any, version: int, old: bytes, new: bytes) -> None:
    rows = Rows(app)
    _, state = rows.get(uuid, version)
    assert old in state, state[:400]
    rows.put(uuid, version, state.replace(old, new, 1))


def found(app: AfterSales) -> set[tuple[str, str, int, str]]:
    return {(m["table"], m["case_id"], m["version"], m["field"]) for m in audit(app).mismatches}


def test_refund_amount_that_disagrees_with_its_total_is_named(shop: AfterSales) -> None:
    replace(shop, case_uuid("C1"), 5, b'"amount":{"_type_":"decimal_str","_data_":"120.00"',
            b'"amount":{"_type_":"decimal_str","_data_":"12.00"')  # fmt: skip
    assert ("events", "C1", 5, "refunded_total") in found(shop)


def test_halved_order_refund_record_is_named_with_its_case(shop: AfterSales) -> None:
    versions = Rows(shop).versions(order_uuid("O1"))
    topics = {v: Rows(shop).get(order_uuid("O1"), v)[0] for v in versions}
    refund = next(v for v, topic in topics.items() if topic.endswith("RefundRecorded"))
    replace(shop, order_uuid("O1"), refund, b'"_data_":"120.00"', b'"_data_":"60.00"')
    assert ("orders", "C1", 5, "refund") in found(shop)


def test_order_amount_lowered_below_its_refunds_breaks_the_cap(shop: AfterSales) -> None:
    replace(shop, order_uuid("O1"), 1, b'"_data_":"120.00"', b'"_data_":"100.00"')
    assert ("orders", "C1", 3, "refunded_total") in found(shop)


def test_case_missing_from_its_order_is_named(shop: AfterSales) -> None:
    Rows(shop).delete(order_uuid("O2"))  # the order (and its slots) gone
    assert {("orders", "C2", "opened")} <= {(t, c, f) for t, c, _, f in found(shop)}


def test_rule_set_record_whose_values_no_longer_hash_to_the_digest_is_named(
    shop: AfterSales, capsys: pytest.CaptureFixture[str], store: str
) -> None:
    digest = shop.get_case("C1").ruleset["digest"]
    replace(shop, ruleset_uuid(digest), 1, b'"after":"2d"', b'"after":"9d"')
    assert {("rulesets", "ruleset")} <= {(t, f) for t, _, _, f in found(shop)}
    assert main(["--store", store, "audit"]) == 1
    assert "rulesets: case C" in capsys.readouterr().out
