"""Reason catalogues and evidence rules, on the aggregates (no store).

The rule set lists the reasons a buyer may give and the categories a seller
may reject under, with labels; an application for a reason that needs
evidence brings it; a message never changes the state but keeps time order.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from aftersales_es.domain.errors import NotAllowedError, RuleSetError, WindowClosedError
from aftersales_es.domain.ruleload import load_ruleset
from aftersales_es.domain.rules import parse_ruleset

from .desk import APPLIED, Desk
from .evidence_files import PDF, files, png
from .helpers import order, refused

H = timedelta(hours=1)


def _attached(*pairs: tuple[str, bytes]) -> dict[str, Any]:
    return {"attachments": files(*pairs)["attachments"]}


def test_unknown_reason_is_refused_listing_the_catalogue_ks_a5(desk: Desk) -> None:
    order(desk)
    with refused(desk, NotAllowedError, "KS-A5", "unknown reason 'lost_interest'", "changed_mind"):
        desk.execute("apply", case="C1", order="O1", at=APPLIED, kind="refund_only",
                     reason="lost_interest")  # fmt: skip


def test_quality_issue_needs_a_photo_on_application_gen23() -> None:
    desk = Desk()
    order(desk, platform="generic", currency="USD")
    apply: dict[str, Any] = {"case": "C1", "order": "O1", "at": APPLIED,
                             "kind": "return_refund", "reason": "quality_issue"}  # fmt: skip
    with refused(desk, NotAllowedError, "GEN-23", "at least 1 photo(s)", "got 0 photo(s)"):
        desk.execute("apply", **apply)
    with refused(desk, NotAllowedError, "GEN-23", "got 0 photo(s), 1 file(s)"):
        desk.execute("apply", **apply, **_attached(("report.pdf", PDF)))
    case = desk.execute("apply", **apply, note="cracked", **_attached(("lid.png", png())))
    assert [type(e).__name__ for e in desk.case_events("C1")] == ["Applied", "MessagePosted"]
    assert case.evidence[0]["id"] == "E1" and case.state == "requested"


def test_unknown_rejection_category_is_refused_listing_the_catalogue_ks3(desk: Desk) -> None:
    order(desk)
    desk.execute("apply", case="C1", order="O1", at=APPLIED, kind="refund_only")
    with refused(desk, NotAllowedError, "KS-3", "unknown category 'rude'", "malicious_return"):
        desk.execute("reject", case="C1", at=APPLIED + H, reason="r", category="rude",
                     buyer_contacted=True)  # fmt: skip


def test_shipped_catalogues_label_every_item_in_english_and_chinese() -> None:
    for name in ("kuaishou", "kilimall", "generic"):
        c = load_ruleset(name).catalogue
        for item in [*c.reasons.items, *c.rejection_categories.items]:
            assert item.en and item.zh, (name, item.id)
    assert load_ruleset("kilimall").catalogue.rejection_categories.ids == ["malicious_return"]


def test_a_rule_set_stored_before_catalogues_still_loads_with_its_categories() -> None:
    # given: the values of a rule set as stored before catalogues existed
    data = load_ruleset("kuaishou").model_dump(mode="json")
    del data["catalogue"]
    for key in ("attachment_max_bytes", "attachment_types", "attachments_per_case",
                "message_max_chars"):  # fmt: skip
        del data["settings"][key]
    data["settings"]["rejection_categories"] = {"value": ["other"], "rule": "KS-3"}
    # when: it is read back
    rules = parse_ruleset(data)
    # then: the engine's reasons, its categories, and the default limits
    assert rules.catalogue.rejection_categories.ids == ["other"]
    assert rules.catalogue.rejection_categories.rule == "KS-3"
    assert "quality_issue" in rules.catalogue.reasons.ids
    assert rules.settings.message_max_chars.value == 2000


def test_rejection_categories_in_settings_beside_a_catalogue_is_one_clear_problem() -> None:
    data = load_ruleset("kuaishou").model_dump(mode="json")
    data["settings"]["rejection_categories"] = {"value": ["other"], "rule": "KS-3"}
    with pytest.raises(RuleSetError, match=r"listed under catalogue\.rejection_categories"):
        parse_ruleset(data)


def test_catalogue_with_a_duplicate_id_is_refused() -> None:
    data = load_ruleset("generic").model_dump(mode="json")
    data["catalogue"]["reasons"]["items"].append({"id": "other", "en": "Again", "zh": ""})
    with pytest.raises(RuleSetError, match="id 'other' is listed twice"):
        parse_ruleset(data)


def test_message_on_a_finished_case_is_kept_and_changes_nothing(desk: Desk) -> None:
    order(desk)
    desk.execute("apply", case="C1", order="O1", at=APPLIED, kind="refund_only")
    desk.execute("approve", case="C1", at=APPLIED + H)  # refunded (KS-2)
    case = desk.execute("message", case="C1", at=APPLIED + 2 * H, by="buyer", text="thanks")
    assert (case.state, case.messages, case.deadlines) == ("refunded", 1, [])


def test_message_dated_before_the_last_event_is_refused(desk: Desk) -> None:
    order(desk)
    desk.execute("apply", case="C1", order="O1", at=APPLIED, kind="refund_only")
    with refused(desk, WindowClosedError, "time", "before the case's last event"):
        desk.execute("message", case="C1", at=APPLIED - H, by="buyer", text="hello")


def test_evidence_with_files_after_the_window_is_refused_ks8(desk: Desk) -> None:
    order(desk)
    desk.execute("apply", case="C1", order="O1", at=APPLIED, kind="refund_only")
    desk.execute("escalate", case="C1", at=APPLIED + H, by="buyer")
    late = APPLIED + H + timedelta(hours=72, seconds=1)
    with refused(desk, WindowClosedError, "KS-8", "evidence was due"):
        desk.execute("submit_evidence", case="C1", at=late, by="buyer", note="",
                     **_attached(("lid.png", png())))  # fmt: skip
    case = desk.execute("submit_evidence", case="C1", at=APPLIED + 2 * H, by="buyer", note="",
                        **_attached(("lid.png", png())))  # fmt: skip
    assert case.evidence[0]["kind"] == "evidence" and case.evidence_count == 1
