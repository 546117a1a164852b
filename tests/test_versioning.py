"""Event versioning: ``Rejected`` gained ``category`` in version 2.

A frozen history written before the change (v1 ``Rejected``: no ``category``,
no ``class_version``) still replays: the mapper upcasts it on load with
``Rejected.upcast_v1_v2``. New rejections are stored as version 2.
"""

from __future__ import annotations

import json
from uuid import UUID

import pytest
from eventsourcing.persistence import StoredEvent

from aftersales_es.audit.export import export_lines, mapper, replay
from aftersales_es.audit.history import history
from aftersales_es.domain.base import case_uuid
from aftersales_es.domain.events import Rejected
from aftersales_es.engine import AfterSales

from .helpers import order, t

#: Case C1 as stored by the release before ``category`` (KS-3 rejection, then a
#: KS-8 ruling for the buyer). Do not edit: it stands for data already stored.
FROZEN_V1 = """
[
 {"version": 1, "topic": "aftersales_es.events:Applied", "state": {
  "timestamp": {"_type_": "datetime_iso", "_data_": "2026-05-13T20:00:00+08:00"},
  "originator_topic": "aftersales_es.case:Case",
  "at": {"_type_": "datetime_iso", "_data_": "2026-05-13T20:00:00+08:00"},
  "actor": "buyer",
  "auto": false,
  "rule": null,
  "state": "requested",
  "deadlines": [{
    "name": "seller_review",
    "due": {"_type_": "datetime_iso", "_data_": "2026-05-15T20:00:00+08:00"},
    "action": "auto_approve",
    "rule": "KS-1"
  }],
  "case_id": "C1",
  "order_id": "O1",
  "seller_id": "S1",
  "buyer_id": "B1",
  "platform": "kuaishou",
  "ruleset": {
   "name": "kuaishou",
   "version": 1,
   "digest": "c149337f3fc3633056992da317ea18fe72f8135ab7e493c61288e0f13280a649"
  },
  "kind": "refund_only",
  "amount": {"_type_": "decimal_str", "_data_": "80.00"},
  "currency": "CNY",
  "reason": "not_received"
 }},
 {"version": 2, "topic": "aftersales_es.events:Rejected", "state": {
  "timestamp": {"_type_": "datetime_iso", "_data_": "2026-05-13T21:00:00+08:00"},
  "at": {"_type_": "datetime_iso", "_data_": "2026-05-13T21:00:00+08:00"},
  "actor": "seller",
  "auto": false,
  "rule": null,
  "state": "rejected",
  "deadlines": [],
  "reason": "tracking shows delivered"
 }},
 {"version": 3, "topic": "aftersales_es.events:Escalated", "state": {
  "timestamp": {"_type_": "datetime_iso", "_data_": "2026-05-13T22:00:00+08:00"},
  "at": {"_type_": "datetime_iso", "_data_": "2026-05-13T22:00:00+08:00"},
  "actor": "buyer",
  "auto": false,
  "rule": null,
  "state": "disputed",
  "deadlines": [],
  "by": "buyer",
  "evidence_due": {"_type_": "datetime_iso", "_data_": "2026-05-16T22:00:00+08:00"}
 }},
 {"version": 4, "topic": "aftersales_es.events:Arbitrated", "state": {
  "timestamp": {"_type_": "datetime_iso", "_data_": "2026-05-14T20:00:00+08:00"},
  "at": {"_type_": "datetime_iso", "_data_": "2026-05-14T20:00:00+08:00"},
  "actor": "platform",
  "auto": false,
  "rule": "KS-8",
  "state": "disputed",
  "deadlines": [],
  "in_favour_of": "buyer",
  "refund_amount": {"_type_": "decimal_str", "_data_": "80.00"},
  "seller_liable": true
 }},
 {"version": 5, "topic": "aftersales_es.events:DeductionRecorded", "state": {
  "timestamp": {"_type_": "datetime_iso", "_data_": "2026-05-14T20:00:00+08:00"},
  "at": {"_type_": "datetime_iso", "_data_": "2026-05-14T20:00:00+08:00"},
  "actor": "platform",
  "auto": false,
  "rule": "KS-8",
  "state": "disputed",
  "deadlines": [],
  "seller_id": "S1",
  "reason": "ruled_liable",
  "amount": {"_type_": "decimal_str", "_data_": "80.00"},
  "currency": "CNY"
 }},
 {"version": 6, "topic": "aftersales_es.events:Refunded", "state": {
  "timestamp": {"_type_": "datetime_iso", "_data_": "2026-05-14T20:00:00+08:00"},
  "at": {"_type_": "datetime_iso", "_data_": "2026-05-14T20:00:00+08:00"},
  "actor": "platform",
  "auto": false,
  "rule": "KS-8",
  "state": "refunded",
  "deadlines": [],
  "amount": {"_type_": "decimal_str", "_data_": "80.00"},
  "refunded_total": {"_type_": "decimal_str", "_data_": "80.00"}
 }}
]

"""


def frozen_events(uuid: UUID) -> list[StoredEvent]:
    """The frozen history as stored events (state serialised as the transcoder does)."""
    return [
        StoredEvent(
            originator_id=uuid,
            originator_version=e["version"],
            topic=e["topic"],
            state=json.dumps(e["state"], separators=(",", ":"), ensure_ascii=False).encode(),
        )
        for e in json.loads(FROZEN_V1)
    ]


@pytest.mark.single_store
def test_v1_rejection_in_a_stored_history_is_upcast_on_load_ks3(app: AfterSales) -> None:
    app.recorder.insert_events(frozen_events(case_uuid("C1")))
    events = app.case_events("C1")
    rejected = events[1]
    assert isinstance(rejected, Rejected)
    assert (rejected.reason, rejected.category) == ("tracking shows delivered", "unspecified")
    case = app.get_case("C1")
    assert (case.state, case.rejection_reason, case.version) == ("refunded", rejected.reason, 6)
    assert str(case.refunded_total) == "80.00" and str(case.deducted_total) == "80.00"
    row = history(app, "C1")["timeline"][1]
    assert row["detail"] == {
        "buyer_contacted": False,  # KS-3: v1 and v2 rejections never said so
        "category": "unspecified",
        "reason": "tracking shows delivered",
    }


def test_v1_rejection_replays_with_no_database() -> None:
    m = mapper()
    events = [m.to_domain_event(s) for s in frozen_events(case_uuid("C1"))]
    case = None
    for e in events:
        case = e.mutate(case)
    assert case is not None and case.state == "refunded"
    assert events[1].category == "unspecified"  # type: ignore[attr-defined]


@pytest.mark.single_store
def test_new_rejection_is_stored_as_version_3_and_survives_export_ks3(app: AfterSales) -> None:
    order(app)
    app.execute("apply", case="C1", order="O1", at=t(days=3), kind="refund_only", amount="9.00")
    app.execute(
        "reject",
        case="C1",
        at=t(days=3, hours=1),
        category="other",
        buyer_contacted=True,
        reason="not as claimed",
    )
    stored = app.recorder.select_events(case_uuid("C1"))[1]
    state = json.loads(stored.state)
    assert (state["class_version"], state["category"], state["buyer_contacted"]) == (
        3, "other", True,
    )  # fmt: skip
    (rebuilt,) = replay(export_lines(app, ["C1"]))
    assert rebuilt.events[1] == app.case_events("C1")[1]


def test_upcaster_sets_the_default_category() -> None:
    state: dict[str, object] = {"reason": "r"}
    Rejected.upcast_v1_v2(state)
    assert state == {"reason": "r", "category": "unspecified"}


#: A return as stored before KS-5's return address existed: ``Approved`` and
#: ``ShippedBack`` carry no ``return_address``. Do not edit.
FROZEN_RETURN = """
[
 {"version": 1, "topic": "aftersales_es.events:Applied", "state": {
  "timestamp": {"_type_": "datetime_iso", "_data_": "2026-05-13T20:00:00+08:00"},
  "originator_topic": "aftersales_es.case:Case", "class_version": 2,
  "at": {"_type_": "datetime_iso", "_data_": "2026-05-13T20:00:00+08:00"},
  "actor": "buyer", "auto": false, "rule": null, "state": "requested", "deadlines": [],
  "case_id": "C2", "order_id": "O1", "seller_id": "S1", "buyer_id": "B1",
  "platform": "kuaishou",
  "ruleset": {"name": "kuaishou", "version": 1, "digest": "c149337f"},
  "kind": "return_refund", "amount": {"_type_": "decimal_str", "_data_": "80.00"},
  "currency": "CNY", "reason": "quality_issue", "lines": []
 }},
 {"version": 2, "topic": "aftersales_es.events:Approved", "state": {
  "timestamp": {"_type_": "datetime_iso", "_data_": "2026-05-13T21:00:00+08:00"},
  "at": {"_type_": "datetime_iso", "_data_": "2026-05-13T21:00:00+08:00"},
  "actor": "seller", "auto": false, "rule": null, "state": "awaiting_return",
  "deadlines": []
 }},
 {"version": 3, "topic": "aftersales_es.events:ShippedBack", "state": {
  "timestamp": {"_type_": "datetime_iso", "_data_": "2026-05-13T22:00:00+08:00"},
  "at": {"_type_": "datetime_iso", "_data_": "2026-05-13T22:00:00+08:00"},
  "actor": "buyer", "auto": false, "rule": null, "state": "returning", "deadlines": [],
  "carrier": "SF", "tracking_number": "SF1"
 }}
]
"""


def test_events_stored_before_the_return_address_replay_without_one_ks5() -> None:
    m = mapper()
    stored = [
        StoredEvent(
            originator_id=case_uuid("C2"),
            originator_version=e["version"],
            topic=e["topic"],
            state=json.dumps(e["state"]).encode(),
        )
        for e in json.loads(FROZEN_RETURN)
    ]
    events = [m.to_domain_event(s) for s in stored]
    case = None
    for e in events:
        case = e.mutate(case)
    assert case is not None and (case.state, case.return_address) == ("returning", "")
    assert events[2].return_address == ""  # type: ignore[attr-defined]


def test_a_ruling_stored_before_outcomes_replays_as_a_refund_ks8() -> None:
    m = mapper()
    events = [m.to_domain_event(s) for s in frozen_events(case_uuid("C1"))]
    ruling = events[3]
    assert (ruling.outcome, ruling.kind) == ("", "")  # type: ignore[attr-defined]
    case = None
    for e in events:
        case = e.mutate(case)
    assert case is not None and (case.state, case.kind) == ("refunded", "refund_only")
    assert case.ruling is not None and "outcome" not in case.ruling
