"""What can happen next on a case: the commands allowed now, by whom, and the
deadline that acts if nobody does, read from the statechart and the rule set."""

from __future__ import annotations

import json

import pytest

from aftersales_es.cli.main import main
from aftersales_es.domain.errors import CommandRefusedError
from aftersales_es.domain.next_actions import next_actions
from aftersales_es.domain.statechart import commands_from
from aftersales_es.engine import AfterSales

from .helpers import order, t


@pytest.fixture
def app() -> AfterSales:
    application = AfterSales("memory")
    order(application)
    return application


def allowed(app: AfterSales, case_id: str) -> dict[str, tuple[str, ...]]:
    case = app.get_case(case_id)
    return {a.command: a.actors for a in next_actions(case, app.ruleset_of(case)).allowed}


def test_requested_return_lists_the_sellers_answers_and_the_ks4_deadline(
    app: AfterSales,
) -> None:
    # given: a return applied for on Kuaishou
    app.execute("apply", case="C1", order="O1", kind="return_refund", at=t(days=3))
    case = app.get_case("C1")
    # when
    nxt = next_actions(case, app.ruleset_of(case))
    # then: the seller answers, either party escalates or the buyer withdraws;
    # KS-4 approves after 48 h
    assert {a.command: a.actors for a in nxt.allowed} == {
        "approve": ("seller",),
        "propose": ("seller",),
        "reject": ("seller",),
        "escalate": ("buyer", "seller"),
        "withdraw": ("buyer",),
    }
    first = nxt.as_dict()["if_nobody_acts"]
    assert (first["action"], first["rule"]) == ("auto_approve", "KS-4")
    assert first["due"] == t(days=5).isoformat()


def test_every_listed_command_is_accepted_and_others_refused(app: AfterSales) -> None:
    # given: a return awaiting the buyer's parcel
    app.execute("apply", case="C1", order="O1", kind="return_refund", at=t(days=3))
    app.execute("approve", case="C1", at=t(days=3, hours=1))
    listed = allowed(app, "C1")
    assert listed == {
        "ship_back": ("buyer",),
        "withdraw": ("buyer",),
        "escalate": ("buyer", "seller"),
    }
    # then: a command not listed is refused by the statechart
    with pytest.raises(CommandRefusedError, match="statechart"):
        app.execute("confirm_receipt", case="C1", at=t(days=4))
    # and a listed one is accepted
    app.execute("ship_back", case="C1", carrier="YTO", tracking_number="Y1", at=t(days=4))


def test_exchange_cannot_be_rejected_where_the_rule_set_forbids_it(app: AfterSales) -> None:
    # given: Kuaishou, whose merchants must support exchanges (KS-7)
    app.execute("apply", case="C1", order="O1", kind="exchange", at=t(days=3))
    # then: reject is not offered
    assert "reject" not in allowed(app, "C1")


def test_settled_case_allows_nothing_and_has_no_deadline(app: AfterSales) -> None:
    app.execute("apply", case="C1", order="O1", kind="refund_only", at=t(days=3))
    app.execute("approve", case="C1", at=t(days=3, hours=1))
    case = app.get_case("C1")
    nxt = next_actions(case, app.ruleset_of(case))
    assert nxt.allowed == [] and nxt.as_dict()["if_nobody_acts"] is None


def test_a_dispute_lists_the_platforms_ruling_either_way(app: AfterSales) -> None:
    app.execute("apply", case="C1", order="O1", kind="refund_only", at=t(days=3))
    app.execute(
        "reject",
        case="C1",
        reason="used",
        category="other",
        buyer_contacted=True,
        at=t(days=3, hours=1),
    )
    app.execute("escalate", case="C1", by="buyer", at=t(days=3, hours=2))
    case = app.get_case("C1")
    rule = next(a for a in next_actions(case, app.ruleset_of(case)).allowed if a.command == "rule")
    # KM-8: a refund, the case closed, or the goods back before the refund
    leads = {"refunded", "closed", "awaiting_return"}
    assert rule.actors == ("platform",) and set(rule.leads_to) == leads


def test_refusals_name_only_commands_a_user_can_send() -> None:
    # the system's own triggers (deadlines, automatic rules) are never offered
    offered = " ".join(commands_from("requested", "refund_only"))
    assert "auto_approve" not in offered and "grant_cancel" not in offered
    assert "approve (seller)" in offered


def test_show_prints_what_can_happen_next(
    tmp_path: object, capsys: pytest.CaptureFixture[str]
) -> None:
    store = f"{tmp_path}/s.db"
    app = AfterSales(store)
    order(app)
    app.execute("apply", case="C1", order="O1", kind="return_refund", at=t(days=3))
    app.close()
    assert main(["--store", store, "show", "C1"]) == 0
    out = capsys.readouterr().out
    assert "approve" in out and "by seller" in out and "if nobody acts: auto_approve" in out
    assert main(["--store", store, "show", "C1", "--json"]) == 0
    nxt = json.loads(capsys.readouterr().out)["next"]
    assert {a["command"] for a in nxt["allowed"]} >= {"approve", "withdraw"}
    assert nxt["if_nobody_acts"]["rule"] == "KS-4"
