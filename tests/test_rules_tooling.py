"""Rule-set tooling: ``aftersales rules list|show|check``, the template,
and the generic example rule set run end to end with no code of its own."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta
from importlib import resources
from pathlib import Path

import pytest
import yaml

from aftersales_es.cli.main import main
from aftersales_es.domain.errors import RuleSetError
from aftersales_es.domain.ruleload import builtin_names, load_ruleset, parse_ruleset
from aftersales_es.domain.rules import Settings
from aftersales_es.engine import AfterSales

from .helpers import event_types, order, t

TEMPLATE = Path(__file__).resolve().parent.parent / "docs" / "rules-template.yaml"
GENERIC = (resources.files("aftersales_es") / "rulesets" / "generic.yaml").read_text("utf-8")


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, list[str]]:
    code = main(list(argv))
    out = capsys.readouterr()
    return code, (out.out + out.err).strip().splitlines()


def edit(old: str, new: str) -> Callable[[str], str]:
    def change(text: str) -> str:
        assert old in text, old
        return text.replace(old, new, 1)

    return change


# (what is broken, how to break generic.yaml, words the single problem line must hold)
BROKEN: list[tuple[str, Callable[[str], str], tuple[str, ...]]] = [
    (
        "unknown_key",
        edit("currency: USD", "currency: USD\nregion: EU"),
        ("region: unknown key", "known: name, version"),
    ),
    (
        "misspelt_key",
        edit("  evidence_window:", "  evidence_windw:"),
        ("settings.evidence_windw: unknown key", "did you mean 'evidence_window'"),
    ),
    (
        "wrong_type",
        edit("express_refund: {value: false", "express_refund: {value: maybe"),
        ("settings.express_refund.value:", "valid boolean", "'maybe'"),
    ),
    (
        "wrong_type_version",
        edit("version: 1", "version: one"),
        ("version: should be a valid integer", "'one'"),
    ),
    (
        "negative_duration",
        edit("after: 48h", "after: -5h"),
        ("deadlines.0.after: duration '-5h' must be positive",),
    ),
    ("zero_duration", edit("after: 14d", "after: 0d"), ("deadlines.2.after:", "must be positive")),
    (
        "duration_without_unit",
        edit("after: 48h", "after: 48"),
        ("deadlines.0.after: 48 has no unit", "'48h'"),
    ),
    (
        "action_not_for_state",
        edit("action: auto_close", "action: auto_receive"),
        ("deadlines.2.action:", "'auto_receive' does not exist for state 'awaiting_return'"),
    ),
    (
        "action_not_for_kind",
        edit("kinds: [exchange, repair], after: 14d", "kinds: [refund_only], after: 14d"),
        ("deadlines.4.kinds:", "does not apply to refund_only"),
    ),
    (
        "unknown_action",
        edit("action: auto_close", "action: auto_explode"),
        ("deadlines.2.action: unknown action 'auto_explode'",),
    ),
    (
        "state_without_deadlines",
        edit("state: reshipping", "state: refunded"),
        ("deadlines.4.state: no deadline can start in state 'refunded'",),
    ),
    (
        "unknown_kind",
        edit("repair, cancel_undelivered]", "repair, teleport]"),
        ("kinds.4:", "'teleport'", "'cancel_undelivered'"),
    ),
    ("bad_currency", edit("currency: USD", "currency: XYZ"), ("currency: unknown currency 'XYZ'",)),
    ("not_a_mapping", lambda _: "- name: generic\n- version: 1\n", ("(top): a rule set", "list")),
    ("empty_file", lambda _: "", ("(top):", "empty file")),
    (
        "invalid_yaml",
        edit("name: generic", "name: [generic"),
        ("(file): invalid YAML at line", "column"),
    ),
    (
        "truncated_file",
        lambda text: text[: text.index("settings:")],
        ("settings: required key is missing",),
    ),
    (
        "truncated_mid_value",
        lambda text: text[: text.index("rule: GEN-12,") + 5],
        ("(file): invalid YAML", "truncated"),
    ),
    (
        "setting_not_a_mapping",
        edit("evidence_window: {value: 5d, rule: GEN-7, basis: example}", "evidence_window: 5d"),
        ("settings.evidence_window: expected a mapping with keys value, rule, basis, note",),
    ),
    (
        "float_amount",
        edit('"50.00"', "50.5"),
        ("settings.express_refund_amount_below.value:", "quoted decimal"),
    ),
    (
        "unknown_basis",
        edit("rule: GEN-7, basis: example", "rule: GEN-7, basis: exampel"),
        ("settings.evidence_window.basis:", "'exampel'"),
    ),
    (
        "missing_rule_id",
        edit("rule: GEN-7, ", ""),
        ("settings.evidence_window.rule: required key is missing",),
    ),
    (
        "negative_cap",
        edit("value: 5, rule: GEN-10", "value: -1, rule: GEN-10"),
        ("settings.max_applications_after_rejection.value:", "greater than or equal to 0"),
    ),
    (
        "two_deadlines_for_one_state_and_kind",
        edit("kinds: [exchange, repair], after: 72h", "kinds: [exchange, refund_only], after: 72h"),
        ("deadlines.1: a second deadline for refund_only cases in state 'requested'",),
    ),
]


@pytest.mark.parametrize(("name", "breaks", "words"), BROKEN, ids=[b[0] for b in BROKEN])
def test_check_broken_file_prints_one_problem_naming_the_key_and_exits_2(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    name: str,
    breaks: Callable[[str], str],
    words: tuple[str, ...],
) -> None:
    path = tmp_path / f"{name}.yaml"
    path.write_text(breaks(GENERIC), encoding="utf-8")
    code, lines = run(capsys, "rules", "check", str(path))
    assert code == 2
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"{path}: ")
    for word in words:
        assert word in lines[0], f"{word!r} not in {lines[0]!r}"


def test_check_reports_every_problem_one_line_each(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = tmp_path / "many.yaml"
    text = GENERIC.replace("after: 48h", "after: -5h").replace("currency: USD", "currency: XYZ")
    path.write_text(text, encoding="utf-8")
    code, lines = run(capsys, "rules", "check", str(path))
    assert code == 2
    assert sorted(line.split(": ", 2)[1] for line in lines) == ["currency", "deadlines.0.after"]


def test_check_valid_file_prints_ok_with_name_version_digest(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, lines = run(capsys, "rules", "check", str(TEMPLATE))
    assert code == 0
    assert lines == [f"ok: myplatform v1 digest {load_ruleset(TEMPLATE).digest}"]


def test_check_notes_an_optional_setting_left_out(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = tmp_path / "old.yaml"
    lines_in = GENERIC.splitlines(keepends=True)
    path.write_text("".join(x for x in lines_in if "max_applications" not in x), "utf-8")
    code, lines = run(capsys, "rules", "check", str(path))
    assert code == 0
    assert lines[0].startswith("ok: generic v1 digest ")
    assert lines[1:] == ["note: settings.max_applications_after_rejection not set; default null"
                         " [default]"]  # fmt: skip


def test_check_json_and_missing_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, lines = run(capsys, "--json", "rules", "check", str(tmp_path / "nope.yaml"))
    assert code == 2
    result = json.loads(lines[0])
    assert result["ok"] is False and result["problems"] == ["(file): no such file"]
    code, lines = run(capsys, "rules", "check", str(TEMPLATE), "--json")
    assert code == 0 and json.loads(lines[0])["name"] == "myplatform"


def test_list_shows_the_shipped_rule_sets(capsys: pytest.CaptureFixture[str]) -> None:
    code, lines = run(capsys, "rules", "list")
    assert code == 0
    assert lines[0].split() == ["name", "version", "title", "currency", "kinds"]
    # a cell too long for the width wraps onto lines that start blank
    names = [line.split()[0] for line in lines[2:] if not line.startswith(" ")]
    assert names == ["generic", "kilimall", "kuaishou"]
    code, lines = run(capsys, "rules", "list", "--json")
    rows = {r["name"]: r for r in json.loads(lines[0])}
    assert rows["kuaishou"]["currency"] == "CNY" and rows["kilimall"]["currency"] == "KES"
    assert rows["generic"]["version"] == 1
    assert rows["generic"]["kinds"] == [
        "refund_only",
        "return_refund",
        "exchange",
        "repair",
        "cancel_undelivered",
    ]


def test_show_gives_every_value_with_rule_and_basis(capsys: pytest.CaptureFixture[str]) -> None:
    code, lines = run(capsys, "rules", "show", "kuaishou", "--json")
    assert code == 0
    view = json.loads(lines[0])
    assert [s["key"] for s in view["settings"]] == list(Settings.model_fields)
    by_key = {s["key"]: s for s in view["settings"]}
    assert by_key["max_applications_after_rejection"] == {
        "key": "max_applications_after_rejection",
        "value": None,
        "rule": "KS-3",
        "basis": "documented",
        "note": "after a rejection the buyer may file a new application; no cap is set",
    }
    assert by_key["evidence_window"]["basis"] == "assumption"
    assert by_key["warehouse_returns"]["basis"] == "disabled"
    review = view["deadlines"][0]
    assert (review["state"], review["after"], review["action"], review["rule"]) == (
        "requested",
        "2d",
        "auto_approve",
        "KS-1",
    )
    assert view["digest"] == load_ruleset("kuaishou").digest
    rows = [view[k] for k in ("settings", "deadlines", "validity", "penalties")]
    assert sum(view["basis_counts"].values()) == sum(map(len, rows))


def test_show_human_table_and_path_and_unknown_name(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, lines = run(capsys, "rules", "show", "kilimall")
    assert code == 0
    row = next(x for x in lines if x.startswith("return_processing_fee"))
    assert row.split()[1:4] == ["300.00", "KM-3", "assumption"]
    code, lines = run(capsys, "--json", "rules", "show", str(TEMPLATE))
    assert json.loads(lines[0])["name"] == "myplatform"
    code, lines = run(capsys, "rules", "show", "nosuchplatform")
    assert code == 2 and "no such rule set (shipped: generic, kilimall, kuaishou)" in lines[0]


def test_template_sets_every_setting_and_generic_follows_it() -> None:
    template = yaml.safe_load(TEMPLATE.read_text("utf-8"))
    generic = yaml.safe_load(GENERIC)
    assert list(template["settings"]) == list(Settings.model_fields)
    assert list(generic["settings"]) == list(template["settings"])
    assert set(generic) == set(template)


def test_generic_values_are_all_examples_in_usd_with_all_kinds() -> None:
    rules = load_ruleset("generic")
    assert "generic" in builtin_names()
    assert rules.currency == "USD" and len(rules.kinds) == 5
    bases = {s.basis for _, s in rules.settings} | {d.basis for d in rules.deadlines}
    assert bases == {"example"}
    assert rules.settings.max_applications_after_rejection.value == 5


def test_rule_set_recorded_before_the_cap_existed_still_loads() -> None:
    """Stored rule-set records lack the new key; they load with no cap."""
    data = load_ruleset("kuaishou").model_dump(mode="json")
    del data["settings"]["max_applications_after_rejection"]
    assert parse_ruleset(data).settings.max_applications_after_rejection.value is None


def test_override_with_an_unknown_setting_names_it() -> None:
    with pytest.raises(RuleSetError, match=r"settings\.max_applications: unknown setting"):
        load_ruleset("generic", {"max_applications": 3})


# ----------------------------------------------------- generic, end to end
@pytest.fixture
def generic(app: AfterSales) -> AfterSales:
    """Given: a USD order on the generic marketplace, paid T0, delivered T0+2d."""
    order(app, platform="generic", currency="USD")
    return app


def test_generic_return_refund_runs_to_refunded(generic: AfterSales) -> None:
    app, at = generic, t(days=3)
    app.execute("apply", case="C1", order="O1", at=at, kind="return_refund", amount="120.00",
                reason="damaged")  # fmt: skip
    app.execute("approve", case="C1", at=at + timedelta(hours=1))
    app.execute("ship_back", case="C1", at=at + timedelta(days=1), carrier="UPS",
                tracking_number="1Z999")  # fmt: skip
    case = app.execute("confirm_receipt", case="C1", at=at + timedelta(days=4))
    assert event_types(app, "C1") == ["Applied", "Approved", "ShippedBack", "Received", "Refunded"]
    assert case.state == "refunded" and str(case.refunded_total) == "120.00"
    assert case.ruleset["name"] == "generic"


def test_generic_silent_seller_is_approved_at_48h_gen1(generic: AfterSales) -> None:
    app, at = generic, t(days=3)
    app.execute("apply", case="C1", order="O1", at=at, kind="refund_only", amount="40.00",
                reason="changed_mind")  # fmt: skip
    assert app.fire_due(at + timedelta(hours=48) - timedelta(seconds=1)) == []
    fired = app.fire_due(at + timedelta(hours=48))
    assert [(f.case_id, f.name, f.rule) for f in fired] == [("C1", "seller_review", "GEN-1")]
    approved, refunded = app.case_events("C1")[1:]
    assert (approved.auto, approved.rule, approved.at) == (True, "GEN-1", at + timedelta(hours=48))
    assert type(refunded).__name__ == "Refunded" and app.get_case("C1").state == "refunded"


def test_generic_buyer_who_never_ships_back_is_closed_at_14d_gen3(generic: AfterSales) -> None:
    app, at = generic, t(days=3)
    app.execute("apply", case="C1", order="O1", at=at, kind="exchange", reason="wrong_item")
    app.fire_due(at + timedelta(hours=72))  # GEN-2: the seller was silent
    app.fire_due(at + timedelta(hours=72, days=14))  # GEN-3: no waybill
    events = app.case_events("C1")
    assert [(type(e).__name__, e.rule) for e in events] == [
        ("Applied", None),
        ("Approved", "GEN-2"),
        ("Closed", "GEN-3"),
    ]


def test_generic_cancel_undelivered_is_refunded_and_charged_to_seller_gen8(
    app: AfterSales,
) -> None:
    order(app, platform="generic", currency="USD", delivered_at=None)
    at = t(days=21)
    case = app.execute("apply", case="C1", order="O1", at=at, kind="cancel_undelivered",
                       reason="not_received")  # fmt: skip
    assert case.state == "refunded"
    assert [r["reason"] for r in app.deductions(seller="S1")] == ["undelivered_loss"]
