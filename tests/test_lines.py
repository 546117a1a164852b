"""Order lines and quantities: several cases on one order.

Invariants under test, each refusal naming its rule and writing nothing:
INV-line-cap (a line refunds at most its paid amount; a case at most its
named quantities' price), INV-line-qty (quantities refunded or returned per
line at most the quantity bought), INV-cap (the order total), INV-line-open
(one open case per line; a whole-order case blocks every line and any line
case blocks a whole-order case). The order aggregate is saved with the case,
so concurrent writers get a version conflict, retry and decide again.

The rules run on the aggregates (``desk.Desk``); the races run on the stores.
"""

from __future__ import annotations

import json
import threading
from decimal import Decimal
from typing import Any

import pytest

from aftersales_es.app.commands import parse_command
from aftersales_es.cli.main import main
from aftersales_es.cli.render import render_table, text_width
from aftersales_es.domain import events as ev
from aftersales_es.domain.errors import (
    AfterSalesError,
    InvalidInputError,
    OpenCaseExistsError,
    RefundCapError,
)
from aftersales_es.domain.order import RefundRecorded
from aftersales_es.engine import AfterSales

from .desk import Desk
from .helpers import event_types, order, refused, t

#: L1: 3 x 30.00, L2: 1 x 25.00, L3: 2 x 2.50; 130.00 with 10.00 shipping.
LINES = [
    {"line": "L1", "sku": "TEE", "title": "T-shirt", "quantity": 3, "unit_price": "30.00"},
    {"line": "L2", "sku": "CAP", "title": "Cap", "quantity": 1, "unit_price": "25.00"},
    {"line": "L3", "sku": "SOX", "title": "Socks", "quantity": 2, "unit_price": "2.50"},
]


def lined(app: Desk | AfterSales, order_id: str = "O1") -> None:
    """Given: a delivered Kuaishou order of 130.00 CNY with three lines."""
    order(app, order_id, amount="130.00", lines=LINES)


def apply(app: Desk | AfterSales, case: str, at: Any, **args: Any) -> Any:
    return app.execute("apply", case=case, at=at, **{"order": "O1", **args})


def refund_only(app: Desk | AfterSales, case: str, day: int, **args: Any) -> Any:
    """When: a refund-only application on lines, approved an hour later."""
    apply(app, case, t(days=day), kind="refund_only", **args)
    return app.execute("approve", case=case, at=t(days=day, hours=1))


def refunded(app: Desk | AfterSales, case: str) -> ev.Refunded:
    last = [e for e in app.case_events(case) if isinstance(e, ev.Refunded)]
    assert len(last) == 1
    return last[0]


def test_order_with_duplicate_line_ids_refused() -> None:
    desk = Desk()
    with pytest.raises(InvalidInputError, match="duplicate line id"):
        order(desk, amount="130.00", lines=[LINES[0], LINES[0]])


def test_order_whose_lines_exceed_its_amount_refused() -> None:
    """The lines' total may not exceed the order amount (the rest is shipping)."""
    desk = Desk()
    with pytest.raises(InvalidInputError, match="exceeds the order amount"):
        order(desk, amount="99.00", lines=LINES)


def test_line_application_asks_the_named_quantities_price(desk: Desk) -> None:
    lined(desk)
    case = apply(desk, "C1", t(days=3), kind="refund_only", lines="L1:2,L3:1")
    assert case.amount == Decimal("62.50")
    applied = next(e for e in desk.case_events("C1") if isinstance(e, ev.Applied))
    assert list(applied.lines) == [{"line": "L1", "quantity": 2}, {"line": "L3", "quantity": 1}]
    assert desk.get_order("O1").line_cases == {"L1": "C1", "L3": "C1"}


def test_refund_of_a_line_case_records_its_allocation(desk: Desk) -> None:
    """Given two lines, when a negotiated 50.00 is refunded, then it is split pro rata."""
    lined(desk)
    refund_only(desk, "C1", 3, lines=[{"line": "L1", "quantity": 2}, {"line": "L2", "quantity": 1}],
                amount="50.00")  # fmt: skip
    e = refunded(desk, "C1")
    # caps 60.00 and 25.00: 50 * 60/85 = 35.294 -> 35.29; the rest, 14.71, on L2
    assert [(p["line"], p["amount"], p["quantity"]) for p in e.lines] == [
        ("L1", Decimal("35.29"), 2),
        ("L2", Decimal("14.71"), 1),
    ]
    o = desk.get_order("O1")
    assert o.line_settled == {"L1": Decimal("35.29"), "L2": Decimal("14.71")}
    assert o.line_quantity == {"L1": 2, "L2": 1}
    assert o.line_cases == {} and o.remaining == Decimal("80.00")


def test_second_case_on_an_open_line_refused_inv_line_open(desk: Desk) -> None:
    lined(desk)
    apply(desk, "C1", t(days=3), kind="return_refund", lines="L1:1")
    with refused(desk, OpenCaseExistsError, "INV-line-open", "C1"):
        apply(desk, "C2", t(days=3, hours=1), kind="refund_only", lines="L2:1,L1:1")


def test_cases_on_different_lines_are_open_side_by_side(desk: Desk) -> None:
    lined(desk)
    apply(desk, "C1", t(days=3), kind="return_refund", lines="L1:1")
    apply(desk, "C2", t(days=3, hours=1), kind="exchange", lines="L2:1")
    refund_only(desk, "C3", 4, lines="L3:2")
    assert desk.get_order("O1").line_cases == {"L1": "C1", "L2": "C2"}
    assert event_types(desk, "C3")[-1] == "Refunded"


def test_whole_order_case_blocks_every_line_inv_line_open(desk: Desk) -> None:
    lined(desk)
    apply(desk, "C1", t(days=3), kind="refund_only", amount="10.00")
    with refused(desk, OpenCaseExistsError, "INV-line-open", "C1"):
        apply(desk, "C2", t(days=3, hours=1), kind="refund_only", lines="L3:1")


def test_line_case_blocks_a_whole_order_case_inv_line_open(desk: Desk) -> None:
    lined(desk)
    apply(desk, "C1", t(days=3), kind="refund_only", lines="L3:1")
    with refused(desk, OpenCaseExistsError, "INV-line-open", "C1"):
        apply(desk, "C2", t(days=3, hours=1), kind="refund_only", amount="10.00")


def test_rejected_line_case_cannot_escalate_over_a_whole_order_case(desk: Desk) -> None:
    """Escalating re-takes the case's lines; a whole-order case now holds them."""
    lined(desk)
    apply(desk, "C1", t(days=3), kind="refund_only", lines="L1:1")
    desk.execute(
        "reject",
        case="C1",
        at=t(days=3, hours=1),
        category="other",
        buyer_contacted=True,
        reason="worn",
    )
    apply(desk, "C2", t(days=3, hours=2), kind="refund_only", amount="10.00")
    with refused(desk, OpenCaseExistsError, "INV-line-open", "C2"):
        desk.execute("escalate", case="C1", at=t(days=3, hours=3))


def test_quantity_beyond_what_is_left_refused_inv_line_qty(desk: Desk) -> None:
    """1 of 3 then 2 of 3 are refunded; a fourth is refused, on any amount."""
    lined(desk)
    refund_only(desk, "C1", 3, lines="L1:1")
    refund_only(desk, "C2", 4, lines="L1:2", amount="5.00")
    with refused(desk, RefundCapError, "INV-line-qty", "only 0"):
        apply(desk, "C3", t(days=5), kind="refund_only", lines="L1:1", amount="1.00")
    assert desk.get_order("O1").line_quantity == {"L1": 3}


def test_amount_above_the_named_quantities_refused_inv_line_cap(desk: Desk) -> None:
    lined(desk)
    with refused(desk, RefundCapError, "INV-line-cap", "30.00"):
        apply(desk, "C1", t(days=3), kind="refund_only", lines="L1:1", amount="30.01")


def test_proposal_above_the_line_cap_refused_inv_line_cap(desk: Desk) -> None:
    lined(desk)
    apply(desk, "C1", t(days=3), kind="return_refund", lines="L2:1", amount="20.00")
    with refused(desk, RefundCapError, "INV-line-cap", "25.00"):
        desk.execute("propose", case="C1", at=t(days=3, hours=1), kind="refund_only",
                    amount="25.01")  # fmt: skip
    desk.execute("propose", case="C1", at=t(days=3, hours=2), kind="refund_only", amount="12.00")
    desk.execute("accept_proposal", case="C1", at=t(days=3, hours=3))
    assert refunded(desk, "C1").lines[0]["amount"] == Decimal("12.00")


def test_order_total_cap_still_holds_with_lines_inv_cap(desk: Desk) -> None:
    """A whole-order refund of 120.00 leaves 10.00: a line case asks at most that."""
    lined(desk)
    refund_only(desk, "C1", 3, amount="120.00")
    case = apply(desk, "C2", t(days=4), kind="refund_only", lines="L1:1")
    assert case.amount == Decimal("10.00")
    desk.execute("withdraw", case="C2", at=t(days=4, hours=1))
    with refused(desk, RefundCapError, "INV-cap", "10.00"):
        apply(desk, "C3", t(days=5), kind="refund_only", lines="L1:1", amount="10.01")


def test_unknown_line_refused_naming_the_lines(desk: Desk) -> None:
    lined(desk)
    with refused(desk, AfterSalesError, "no line L9", "L1, L2, L3"):
        apply(desk, "C1", t(days=3), kind="refund_only", lines="L9:1")


def test_lines_text_is_parsed_and_bad_text_refused() -> None:
    """The CLI gives ``--lines L1:2,L2:1`` or a JSON list; both validate alike."""
    base = {"case": "C1", "at": t(days=3), "order": "O1", "kind": "refund_only"}
    a = parse_command("apply", {**base, "lines": "L1:2, L2:1"})
    b = parse_command("apply", {**base, "lines": '[{"line": "L1", "quantity": 2},'
                                             ' {"line": "L2", "quantity": 1}]'})  # fmt: skip
    assert a == b
    for bad in ("L1", "L1:0", "L1:x", "[{]", '[{"line": "L1", "quantity": true}]'):
        with pytest.raises(InvalidInputError, match="lines"):
            parse_command("apply", {**base, "lines": bad})


def test_v1_refund_events_upcast_to_no_fee_and_no_lines() -> None:
    """Stored before lines and fees existed: no fee and no lines keys; they load as zero and ()."""
    state: dict[str, Any] = {"amount": Decimal("9.90")}
    ev.Refunded.upcast_v1_v2(state)
    assert state == {"amount": Decimal("9.90"), "fee": Decimal("0.00"), "lines": ()}
    order_state: dict[str, Any] = {}
    RefundRecorded.upcast_v1_v2(order_state)
    assert order_state == {"fee": Decimal(0), "lines": ()}


def _race(store: str, work: list[tuple[str, dict[str, Any]]]) -> list[str]:
    """Each (case, args) applied and approved by its own thread and application."""
    barrier = threading.Barrier(len(work))
    outcome: dict[str, str] = {}

    def run(case: str, args: dict[str, Any]) -> None:
        app = AfterSales(store)
        try:
            barrier.wait(timeout=60)
            # One instant for all: the order keeps its case history in time order.
            apply(app, case, t(days=3), kind="refund_only", **args)
            app.execute("approve", case=case, at=t(days=3))
            outcome[case] = "refunded"
        except AfterSalesError as exc:
            outcome[case] = getattr(exc, "rule", type(exc).__name__)
        finally:
            app.close()

    threads = [threading.Thread(target=run, args=w) for w in work]
    for th in threads:
        th.start()
    for th in threads:
        th.join(timeout=120)
    return [outcome[c] for c, _ in work]


def test_concurrent_cases_on_one_line_have_one_winner(app: AfterSales, store: str) -> None:
    """Four threads race for 2 of line L1's 3: one refund; the others are refused
    while it is open (INV-line-open) or after it, as 1 is left (INV-line-qty)."""
    lined(app)
    got = _race(store, [(f"C{i}", {"lines": "L1:2"}) for i in range(4)])
    assert got.count("refunded") == 1
    assert set(got) - {"refunded"} <= {"INV-line-open", "INV-line-qty"}
    fresh = AfterSales(store)
    o = fresh.get_order("O1")
    assert o.line_quantity == {"L1": 2} and o.line_settled == {"L1": Decimal("60.00")}
    fresh.close()


def test_concurrent_cases_on_separate_lines_all_win(app: AfterSales, store: str) -> None:
    """Three threads, three lines: each refund lands; the order adds them all up."""
    lined(app)
    work = [("C1", {"lines": "L1:3"}), ("C2", {"lines": "L2:1"}), ("C3", {"lines": "L3:2"})]
    assert _race(store, work) == ["refunded"] * 3
    fresh = AfterSales(store)
    o = fresh.get_order("O1")
    assert o.refunded_total == Decimal("120.00") and o.remaining == Decimal("10.00")
    assert o.line_quantity == {"L1": 3, "L2": 1, "L3": 2}
    assert sorted(o.case_ids) == ["C1", "C2", "C3"]
    fresh.close()


def test_cli_apply_names_lines_and_prints_them(
    app: AfterSales, store: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """``aftersales apply C1 --lines L1:2,L3:1``: the case view shows the lines."""
    lined(app)
    argv = ["--store", store, "--json", "apply", "C1", "--order", "O1", "--kind", "refund_only",
            "--lines", "L1:2,L3:1", "--at", t(days=3).isoformat()]  # fmt: skip
    assert main(argv) == 0
    view = json.loads(capsys.readouterr().out)
    assert view["amount"] == "62.50"
    assert view["lines"] == [{"line": "L1", "quantity": 2}, {"line": "L3", "quantity": 1}]


def test_table_with_chinese_titles_aligns_by_display_width() -> None:
    # given: line titles in Chinese (two columns a character) and in Latin
    rows = [{"line": "L1", "title": "纯棉T恤", "qty": 3}, {"line": "L2", "title": "Cap", "qty": 1}]
    # when
    table = render_table(rows, ["line", "title", "qty"])
    # then: every row's last column starts at the same display column
    lines = table.splitlines()
    starts = {text_width(ln[: ln.rindex(" ") + 1]) for ln in (lines[0], lines[2], lines[3])}
    assert len(starts) == 1, table
    assert lines[2].startswith("L1     纯棉T恤   ")
