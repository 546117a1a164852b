"""The CLI as a guide: help that names every option's values with examples,
``--json`` on either side of the command, orders and pages of cases, and the
default instant taken when a command is decided."""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from aftersales_es.app.commands import COMMANDS
from aftersales_es.cli import spec
from aftersales_es.cli.main import build_parser, main
from aftersales_es.engine import AfterSales

from .helpers import order, t

Leaves = dict[tuple[str, ...], argparse.ArgumentParser]


def leaves(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()) -> Leaves:
    """Every runnable subcommand parser, by its words."""
    found = {}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                found.update(leaves(sub, (*path, name)))
    return found or {path: parser}


def test_the_cli_table_of_options_matches_the_command_models() -> None:
    # the CLI describes the commands without importing pydantic; it must not drift
    assert list(spec.COMMANDS) == list(COMMANDS)
    for name, model in COMMANDS.items():
        fields = set(model.model_fields) - {"name", "case", "at", "idempotency_key"}
        options = {o.field: o for o in spec.COMMANDS[name].options}
        assert set(options) == fields, name
        for field, o in options.items():
            assert o.required == model.model_fields[field].is_required(), (name, field)


def test_every_command_has_help_with_an_example_and_allowed_values() -> None:
    for words, parser in leaves(build_parser()).items():
        text = parser.format_help()
        assert "examples:\n  aftersales " in text, words
        for action in parser._actions:
            if action.help not in (None, argparse.SUPPRESS):
                assert action.help.strip(), (words, action.dest)
    kinds = leaves(build_parser())[("apply",)].format_help()
    assert "refund_only" in kinds and "quality_issue" in kinds


@pytest.mark.parametrize("where", ["before", "after"])
def test_json_is_accepted_before_or_after_every_command(where: str) -> None:
    parser = build_parser()
    for words in leaves(parser):
        needs = {"register": ["--seller", "S", "--buyer", "B", "--platform", "p", "--amount",
                              "1", "--currency", "CNY", "--paid-at", t().isoformat()]}  # fmt: skip
        args = [*words, *(["X"] if _positional(parser, words) else []), *needs.get(words[-1], [])]
        extra = {"apply": ["--order", "O", "--kind", "refund_only"],
                 "propose": ["--kind", "refund_only"], "rule": ["--in-favour-of", "buyer"],
                 "create": ["--role", "admin"],
                 "waive_deduction": ["--deduction", "undelivered_loss"],
                 "message": ["--by", "buyer"], "attach": ["lid.png", "--by", "buyer"],
                 "get": ["-o", "photo.png"],
                 "propose_partial_refund": ["--amount", "1"],
                 "confirm": ["--reference", "R"], "fail": ["--reason", "why"],
                 "callback": ["--status", "succeeded"],
                 "settlement": ["--seller", "S"]}  # fmt: skip
        args += extra.get(words[-1], [])
        argv = ["--json", *args] if where == "before" else [*args, "--json"]
        assert getattr(parser.parse_args(argv), "json", False) is True, words


def _positional(parser: argparse.ArgumentParser, words: tuple[str, ...]) -> bool:
    leaf = leaves(parser)[words]
    subs = argparse._SubParsersAction
    return any(
        not a.option_strings and a.nargs in (None, "+") and not isinstance(a, subs)
        for a in leaf._actions
    )


@pytest.fixture
def store(tmp_path: Path) -> str:
    """Given: orders O1 and O2 with five cases over them."""
    path = str(tmp_path / "s.db")
    app = AfterSales(path)
    order(app, "O1", seller="S1")
    order(app, "O2", seller="S2")
    for i in (1, 2, 3, 4, 5):
        order_id = "O1" if i <= 3 else "O2"
        app.execute("apply", case=f"C{i}", order=order_id, kind="refund_only", amount="10.00",
                    at=t(days=3, hours=i))  # fmt: skip
        app.execute("approve", case=f"C{i}", at=t(days=3, hours=i, minutes=30))
    app.close()
    return path


def out_json(capsys: pytest.CaptureFixture[str], argv: list[str]) -> object:
    assert main(argv) == 0
    return json.loads(capsys.readouterr().out)


def test_list_by_order_and_a_page_at_a_time(store: str, capsys: pytest.CaptureFixture[str]) -> None:
    rows = out_json(capsys, ["--store", store, "list", "--order", "O2", "--json"])
    assert [r["case_id"] for r in rows] == ["C4", "C5"]  # type: ignore[index]
    page = out_json(capsys, ["--store", store, "--json", "list", "--limit", "2"])
    assert [r["case_id"] for r in page] == ["C1", "C2"]  # type: ignore[index]
    page = out_json(capsys, ["--store", store, "--json", "list", "--limit", "2", "--after", "C2"])
    assert [r["case_id"] for r in page] == ["C3", "C4"]  # type: ignore[index]
    assert main(["--store", store, "list", "--limit", "2"]) == 0
    assert "next page: --after C2" in capsys.readouterr().out


def test_order_show_and_order_list(store: str, capsys: pytest.CaptureFixture[str]) -> None:
    shown = out_json(capsys, ["--store", store, "order", "show", "O1", "--json"])
    assert shown["order_id"] == "O1" and shown["refunded_total"] == "30.00"  # type: ignore[index]
    rows = out_json(capsys, ["--store", store, "--json", "order", "list"])
    assert [r["order_id"] for r in rows] == ["O1", "O2"]  # type: ignore[index]
    rows = out_json(capsys, ["--store", store, "--json", "order", "list", "--seller", "S2"])
    assert [r["order_id"] for r in rows] == ["O2"]  # type: ignore[index]
    assert main(["--store", store, "order", "show", "O9"]) == 2
    assert "not found" in capsys.readouterr().err


def test_command_without_at_is_stamped_when_decided_never_before_the_last_event(
    tmp_path: Path,
) -> None:
    # given: a disputed case, and a second process that writes on it just as
    # this one reads the clock (after it loaded the case)
    path = str(tmp_path / "s.db")
    other = AfterSales(path)
    order(other)
    now = datetime.now(UTC)
    other.execute("apply", case="C1", order="O1", kind="refund_only", at=now)
    other.execute(
        "reject", case="C1", reason="used", category="other", buyer_contacted=True, at=now
    )
    other.execute("escalate", case="C1", by="buyer", at=now)
    readings: list[datetime] = []

    class Racing(AfterSales):
        def clock(self) -> datetime:  # type: ignore[override]
            reading = datetime.now(UTC)
            if not readings:
                other.execute("submit_evidence", case="C1", by="seller", note="n", at=reading)
            readings.append(reading)
            return reading

    app = Racing(path)
    # when: the buyer's evidence goes in without --at
    case = app.execute("submit_evidence", case="C1", by="buyer", note="photos")
    # then: the conflict made it decide again, on a fresh instant, and it was accepted
    assert len(readings) == 2
    assert case.last_at == readings[1] >= readings[0]
    app.close()
    other.close()


def test_rules_show_prints_the_glossary(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["rules", "show", "kuaishou"]) == 0
    out = capsys.readouterr().out
    assert "glossary" in out
    for term in ("INV-cap", "ruled_liable", "gs", "statechart"):
        assert term in out


def test_help_vocabulary_matches_the_domain_word_for_word() -> None:
    """The CLI spells the vocabulary out so that ``--help`` starts without the
    domain; these copies must be the domain's own lists, in its order."""
    from typing import get_args

    from aftersales_es.domain import rule_parts, statechart

    assert spec.KINDS == statechart.KINDS
    assert spec.STATES == statechart.STATES
    assert get_args(rule_parts.Reason) == spec.REASONS
    assert get_args(rule_parts.PenaltyReason) == spec.DEDUCTIONS
