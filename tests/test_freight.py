"""Freight: who bears the return shipping (KS-A7, KS-A8, KM-A10), KM-4's
send-back to the seller, and the seller's settlement against the ledger."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest

from aftersales_es.domain.errors import TransitionNotAllowedError, WindowClosedError
from aftersales_es.engine import AfterSales
from aftersales_es.readmodels import ledger
from aftersales_es.readmodels.settlement import settlement

from .desk import Desk
from .helpers import order, refused, t
from .test_kilimall import WAYBILL, last, warehouse_return

FREIGHT = Decimal("12.00")


def shipped_back(app: Any, reason: str, insured: bool = False, case: str = "C1") -> Any:
    """Given: a Kuaishou return approved; when the buyer ships it back paying freight."""
    order(app, f"O-{case}")
    app.execute("apply", case=case, order=f"O-{case}", kind="return_refund", amount="120.00",
                reason=reason, at=t(days=3))  # fmt: skip
    app.execute("approve", case=case, at=t(days=3, hours=1))
    return app.execute("ship_back", case=case, at=t(days=4), carrier="YTO",
                       tracking_number="YT1", freight="12.00", freight_insured=insured)  # fmt: skip


def test_seller_fault_return_freight_is_charged_to_the_seller_ks_a7(desk: Desk) -> None:
    shipped_back(desk, "quality_issue")
    e = last(desk, "ShippedBack")
    assert (e.freight, e.freight_payer) == (FREIGHT, "seller")
    charge = last(desk, "DeductionRecorded")
    assert (charge.reason, charge.amount, charge.rule) == ("return_freight", FREIGHT, "KS-A7")
    assert desk.get_case("C1").state == "returning"


def test_buyers_own_reason_freight_is_the_buyers_ks_a7(desk: Desk) -> None:
    shipped_back(desk, "changed_mind")
    assert last(desk, "ShippedBack").freight_payer == "buyer"
    assert desk.deductions() == []


def test_freight_insurance_claim_pays_own_reason_freight_ks_a8(desk: Desk) -> None:
    shipped_back(desk, "changed_mind", insured=True)
    assert last(desk, "ShippedBack").freight_payer == "insurance"
    assert desk.deductions() == []


def test_ship_back_without_freight_records_none(desk: Desk) -> None:
    order(desk)
    desk.execute("apply", case="C1", order="O1", kind="return_refund", amount="120.00",
                 reason="quality_issue", at=t(days=3))  # fmt: skip
    desk.execute("approve", case="C1", at=t(days=3, hours=1))
    desk.execute("ship_back", case="C1", at=t(days=4), carrier="YTO", tracking_number="YT1")
    assert (last(desk, "ShippedBack").freight, desk.deductions()) == (None, [])


def test_warehouse_sends_goods_back_and_charges_the_freight_km4(desk: Desk) -> None:
    received = warehouse_return(desk)
    desk.execute("request_goods_back", case="C1", at=received + timedelta(days=10))
    at = received + timedelta(days=12)
    case = desk.execute("send_goods_back", case="C1", at=at, freight="900.00", **WAYBILL)
    assert case.goods == "sent_back" and case.pending_deadline is None
    sent = last(desk, "GoodsSentBack")
    assert (sent.actor, sent.freight, sent.rule) == ("platform", Decimal("900.00"), "KM-4")
    charge = last(desk, "DeductionRecorded")
    assert (charge.reason, charge.amount) == ("send_back_freight", sent.freight)
    assert charge.rule == "KM-4"
    assert ("C1", "send_back_freight", Decimal("900.00")) in [
        (d["case_id"], d["reason"], d["amount"]) for d in desk.deductions()
    ]


def test_send_back_nobody_records_is_dispatched_at_the_tariff_km4(desk: Desk) -> None:
    received = warehouse_return(desk)
    asked = received + timedelta(days=10)
    desk.execute("request_goods_back", case="C1", at=asked)
    fired = desk.fire_due(asked + timedelta(days=30))
    assert [(f.name, f.rule) for f in fired] == [("goods_send_back", "KM-A11")]
    sent = last(desk, "GoodsSentBack")
    assert (sent.at, sent.auto) == (asked + timedelta(days=7), True)
    assert sent.freight == Decimal("1500.00")  # the tariff (KM-4)
    with refused(desk, TransitionNotAllowedError, "KM-4", "has not asked"):
        desk.execute("send_goods_back", case="C1", at=asked + timedelta(days=31))


def test_send_back_before_asked_is_refused_km4(desk: Desk) -> None:
    received = warehouse_return(desk)
    with refused(desk, TransitionNotAllowedError, "KM-4", "goods: held"):
        desk.execute("send_goods_back", case="C1", at=received + timedelta(days=1))


def test_send_back_after_its_deadline_is_refused_km4(desk: Desk) -> None:
    received = warehouse_return(desk)
    asked = received + timedelta(days=10)
    desk.execute("request_goods_back", case="C1", at=asked)
    with refused(desk, WindowClosedError, "KM-A11"):
        desk.execute("send_goods_back", case="C1", at=asked + timedelta(days=7))


def _from_events(app: AfterSales, seller: str) -> dict[str, Decimal]:
    """The seller's money per kind, folded from the case events alone."""
    sums = {"deductions": Decimal(0), "freight": Decimal(0), "refunds": Decimal(0)}
    for row in app.cases():
        rows = ledger.from_events(app.case_events(row["case_id"]), row["case_id"])
        for r in rows:
            if r["seller_id"] == seller and r["currency"] != "points":
                kind = "freight" if r["reason"].endswith("freight") else "deductions"
                sums[kind] += r["amount"]
        for e in app.case_events(row["case_id"]):
            if type(e).__name__ == "Refunded":
                sums["refunds"] += e.amount
    return sums


def test_settlement_matches_the_ledger_and_the_events_to_the_cent(store: str) -> None:
    app = AfterSales(store)
    shipped_back(app, "quality_issue", case="C1")
    app.execute("confirm_receipt", case="C1", at=t(days=6))
    shipped_back(app, "changed_mind", case="C2")
    app.execute("escalate", case="C2", by="buyer", at=t(days=5))
    app.execute("rule", case="C2", in_favour_of="buyer", at=t(days=6))
    data = settlement(app, seller="S1", start=t(days=0), end=t(days=30))
    (total,) = data["totals"]
    assert [r["reason"] for r in data["freight"]] == ["return_freight"]
    assert (total["freight"], total["refunds"]) == (FREIGHT, Decimal("240.00"))
    assert total["total"] == total["deductions"] + total["freight"] + total["refunds"]
    rows = ledger.deductions(app, seller="S1")
    charged = sum(r["amount"] for r in rows if r["currency"] == "CNY")
    assert total["deductions"] + total["freight"] == charged
    assert {k: total[k] for k in ("deductions", "freight", "refunds")} == _from_events(app, "S1")
    assert settlement(app, seller="S1", start=t(days=30))["totals"] == []  # another period
    app.close()


@pytest.mark.parametrize("flag", ["--json", "--csv", ""])
def test_settlement_cli_prints_table_json_and_csv(store: str, flag: str) -> None:
    import json
    import subprocess
    import sys

    app = AfterSales(store)
    shipped_back(app, "quality_issue")
    app.close()
    argv = [sys.executable, "-m", "aftersales_es.cli", "--store", store, "settlement",
            "--seller", "S1", *([flag] if flag else [])]  # fmt: skip
    out = subprocess.run(argv, capture_output=True, text=True, check=True).stdout
    if flag == "--json":
        assert json.loads(out)["totals"][0]["freight"] == "12.00"
    elif flag == "--csv":
        assert "freight," in out and "return_freight,12.00,CNY,KS-A7" in out
    else:
        assert "freight charges" in out and "return_freight" in out
