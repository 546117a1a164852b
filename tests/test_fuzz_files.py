"""Fuzzed scenario and rule-set files: malformed, truncated or wrongly typed
files always give a clear error (an :class:`AfterSalesError` naming the file
and the key; ``error: ...`` and exit code 2 from the CLI), never a traceback,
and a file that cannot be valid is never accepted.

Hypothesis writes: random YAML/JSON structures and random text or bytes;
truncations of every shipped scenario and rule-set file; and the shipped files
with one value anywhere replaced by a value of another type. Each goes
through :func:`simulate.load_scenario` / :func:`ruleload.load_ruleset`, and what
loads is also run (a scenario on a fresh store; a rule set under a small
scenario). A few files go through the real ``aftersales simulate FILE``.

Whether a file can be valid is judged apart from the loaders, from the file's
data alone (:func:`why_bad_scenario`, :func:`why_bad_ruleset`: not YAML, not
a mapping, a required key missing, an unknown key, ...): such a file must be
refused, and the test fails if it is accepted. Other mutants may be valid
(a note replaced by another text): either outcome is fine for them, but no
traceback.

Durations beyond the calendar and deeply nested files are pinned
by the tests at the end.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aftersales_es.domain.errors import AfterSalesError
from aftersales_es.domain.ruleload import load_ruleset
from aftersales_es.sim.simulate import load_scenario, run

LONG = os.environ.get("AFTERSALES_FUZZ") == "long"
PACKAGE = resources.files("aftersales_es")
SCENARIOS = sorted(p.name for p in (PACKAGE / "scenarios").iterdir() if p.name.endswith(".yaml"))
RULESETS = sorted(p.name for p in (PACKAGE / "rulesets").iterdir() if p.name.endswith(".yaml"))
FUZZ = settings(
    max_examples=1000 if LONG else 60,
    deadline=None,
    derandomize=not LONG,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
TALLY: dict[str, int] = {}

#: Values of the wrong type (or of the right type, but wrong) to put anywhere.
ODD_TEXT = [
    "48h", "-5h", "0d", "99999d", "48", "2026-13-01T00:00:00+08:00", "2026-03-01T09:00:00",
    "1969-12-31T23:59:59+00:00", "2300-01-01T00:00:00+00:00", "NaN", "-1.00", "1e9",
    "120.001", "refund", "kuaishou", "kilimall", "", "\x00", "C 1", "KS-1", "auto_close",
]  # fmt: skip
ODD = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**12), 10**12),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=6), st.integers(), max_size=2),
    st.sampled_from(ODD_TEXT),
)
#: Any YAML/JSON-shaped data, a little nested.
ANY = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=10)),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)


def shipped(folder: str, name: str) -> str:
    return (PACKAGE / folder / name).read_text(encoding="utf-8")


def leaves_and_nodes(data: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every path into ``data`` (mappings by key, lists by index)."""
    if path:
        yield path
    if isinstance(data, dict):
        for k, v in data.items():
            yield from leaves_and_nodes(v, (*path, k))
    elif isinstance(data, list):
        for i, v in enumerate(data):
            yield from leaves_and_nodes(v, (*path, i))


def replaced(data: Any, path: tuple[Any, ...], value: Any) -> Any:
    """A copy of ``data`` with the value at ``path`` replaced."""
    if not path:
        return value
    copy = dict(data) if isinstance(data, dict) else list(data)
    copy[path[0]] = replaced(data[path[0]], path[1:], value)
    return copy


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Where the fuzzed files are written; prints the tally when the module ends."""
    yield tmp_path_factory.mktemp("fuzz")
    print("\nfuzzed files: " + ", ".join(f"{k} {v}" for k, v in sorted(TALLY.items())))


def write(workdir: Path, name: str, content: str | bytes) -> Path:
    path = workdir / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


def dumped(data: Any, as_json: bool) -> str:
    return json.dumps(data, default=str) if as_json else yaml.safe_dump(data, allow_unicode=True)


SCENARIO_KEYS = {"platform", "settings", "orders", "steps", "until"}
RULESET_REQUIRED = {"name", "version", "currency", "kinds", "deadlines", "settings"}
RULESET_KEYS = RULESET_REQUIRED | {"title", "source", "validity", "penalties", "catalogue"}
#: Written out here, not imported: the check must not trust the models it checks.
SETTINGS_REQUIRED = {
    "express_refund", "express_refund_paid_within", "express_refund_amount_below",
    "after_sales_validity", "evidence_window", "exchange_repair_must_be_supported",
    "cancel_shipped_after", "undelivered_loss_borne_by_seller", "warehouse_returns",
    "warehouse_return_reasons", "return_processing_fee", "goods_scrap_after",
    "no_reply_deduction",
}  # fmt: skip
KINDS = {"refund_only", "return_refund", "exchange", "repair", "cancel_undelivered"}


def file_data(path: Path) -> tuple[bool, Any]:
    """(parsed, data) of a YAML or JSON file, read without the project's loaders."""
    try:
        text = path.read_text(encoding="utf-8")
        return True, json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (UnicodeDecodeError, ValueError, yaml.YAMLError, RecursionError):
        return False, None


def why_bad_scenario(path: Path) -> str | None:
    """Why no scenario loader may accept ``path``; None when it may be valid."""
    parsed, data = file_data(path)
    if not parsed:
        return "not YAML/JSON"
    if not isinstance(data, dict):
        return "not a mapping"
    if unknown := set(data) - SCENARIO_KEYS:
        return f"unknown keys {sorted(map(str, unknown))}"
    platform = data.get("platform")
    if not isinstance(platform, str) or not platform.strip():
        return "no platform"
    for key, kind in (("settings", dict), ("orders", list), ("steps", list)):
        if key in data and not isinstance(data[key], kind):
            return f"{key} is not a {kind.__name__}"
    return None


def why_bad_ruleset(path: Path) -> str | None:
    """Why no rule-set loader may accept ``path``; None when it may be valid."""
    parsed, data = file_data(path)
    if not parsed:
        return "not YAML/JSON"
    if not isinstance(data, dict):
        return "not a mapping"
    if missing := RULESET_REQUIRED - set(data):
        return f"missing {sorted(missing)}"
    if unknown := set(data) - RULESET_KEYS:
        return f"unknown keys {sorted(map(str, unknown))}"
    settings = data["settings"]
    if not isinstance(settings, dict) or SETTINGS_REQUIRED - set(settings):
        return "settings missing"
    if any(not isinstance(v, dict) or not {"value", "rule"} <= set(v) for v in settings.values()):
        return "a setting without value and rule"
    kinds = data["kinds"]
    if not isinstance(kinds, list) or not kinds or not set(map(str, kinds)) <= KINDS:
        return "kinds not a list of case kinds"
    if not isinstance(data["deadlines"], list):
        return "deadlines not a list"
    return None


def outcome(what: str, attempt: Any, bad: str | None = None) -> None:
    """Run ``attempt``: an AfterSalesError is a clean refusal, anything else fails,
    and so does accepting a file that is ``bad`` (why it cannot be valid)."""
    try:
        attempt()
    except AfterSalesError as exc:
        assert str(exc).strip(), "an error without a message"
        TALLY[f"{what}: clean error"] = TALLY.get(f"{what}: clean error", 0) + 1
    else:
        assert bad is None, f"{what}: accepted a file that cannot be valid ({bad})"
        TALLY[f"{what}: accepted"] = TALLY.get(f"{what}: accepted", 0) + 1


def scenario_attempt(path: Path) -> None:
    run(load_scenario(path))


# ------------------------------------------------------------------ scenarios
@FUZZ
@given(data=ANY, as_json=st.booleans())
def test_random_structures_as_scenarios_give_clean_errors(
    workdir: Path, data: Any, as_json: bool
) -> None:
    path = write(workdir, "random.json" if as_json else "random.yaml", dumped(data, as_json))
    outcome("scenario random", lambda: scenario_attempt(path), why_bad_scenario(path))


@FUZZ
@given(text=st.text(max_size=300) | st.binary(max_size=300).map(bytes))
def test_random_text_or_bytes_as_scenarios_give_clean_errors(
    workdir: Path, text: str | bytes
) -> None:
    path = write(workdir, "text.yaml", text)
    outcome("scenario text", lambda: scenario_attempt(path), why_bad_scenario(path))


@FUZZ
@given(name=st.sampled_from(SCENARIOS), cut=st.floats(0, 1))
def test_truncated_shipped_scenarios_give_clean_errors(
    workdir: Path, name: str, cut: float
) -> None:
    text = shipped("scenarios", name)
    path = write(workdir, f"cut-{name}", text[: int(len(text) * cut)])
    outcome("scenario truncated", lambda: scenario_attempt(path), why_bad_scenario(path))


@FUZZ
@given(name=st.sampled_from(SCENARIOS), data=st.data(), value=ODD, as_json=st.booleans())
def test_shipped_scenarios_with_a_wrong_value_give_clean_errors(
    workdir: Path, name: str, data: st.DataObject, value: Any, as_json: bool
) -> None:
    original = yaml.safe_load(shipped("scenarios", name))
    where = data.draw(st.sampled_from(list(leaves_and_nodes(original))))
    mutant = replaced(original, where, value)
    path = write(workdir, "mutant.json" if as_json else "mutant.yaml", dumped(mutant, as_json))
    outcome("scenario wrong value", lambda: scenario_attempt(path), why_bad_scenario(path))


# ------------------------------------------------------------------ rule sets
SMALL_SCENARIO = """
orders: [{id: O1, seller: S1, buyer: B1, amount: "120.00", currency: CUR,
          paid_at: "2026-03-01T09:00:00+08:00", shipped_at: "2026-03-01T20:00:00+08:00",
          delivered_at: "2026-03-03T09:00:00+08:00", gs: true}]
steps:
  - {at: "2026-03-04T10:00:00+08:00", command: apply, order: O1, case: C1,
     args: {kind: return_refund, amount: "50.00", reason: wrong_item}}
  - {at: "2026-03-04T11:00:00+08:00", command: approve, case: C1}
  - {at: "2026-03-05T11:00:00+08:00", command: ship_back, case: C1,
     args: {carrier: SF, tracking_number: SF1}}
until: "2026-09-01T00:00:00+08:00"
"""


def ruleset_attempt(workdir: Path, path: Path) -> None:
    """Load the rule set; if it loads, run a small return under it."""
    rules = load_ruleset(path)
    scenario = f"platform: {path.name}\n" + SMALL_SCENARIO.replace("CUR", rules.currency)
    run(load_scenario(write(workdir, "under-rules.yaml", scenario)))


@FUZZ
@given(data=ANY, as_json=st.booleans())
def test_random_structures_as_rule_sets_give_clean_errors(
    workdir: Path, data: Any, as_json: bool
) -> None:
    path = write(workdir, "rules.json" if as_json else "rules.yaml", dumped(data, as_json))
    outcome("rule set random", lambda: ruleset_attempt(workdir, path), why_bad_ruleset(path))


@FUZZ
@given(name=st.sampled_from(RULESETS), cut=st.floats(0, 1))
def test_truncated_shipped_rule_sets_give_clean_errors(
    workdir: Path, name: str, cut: float
) -> None:
    text = shipped("rulesets", name)
    path = write(workdir, f"cut-{name}", text[: int(len(text) * cut)])
    outcome("rule set truncated", lambda: ruleset_attempt(workdir, path), why_bad_ruleset(path))


@FUZZ
@given(name=st.sampled_from(RULESETS), data=st.data(), value=ODD, as_json=st.booleans())
def test_shipped_rule_sets_with_a_wrong_value_give_clean_errors(
    workdir: Path, name: str, data: st.DataObject, value: Any, as_json: bool
) -> None:
    original = yaml.safe_load(shipped("rulesets", name))
    where = data.draw(st.sampled_from(list(leaves_and_nodes(original))))
    mutant = replaced(original, where, value)
    path = write(workdir, "mutant-rules.json" if as_json else "mutant-rules.yaml",
                 dumped(mutant, as_json))  # fmt: skip
    bad = why_bad_ruleset(path)
    outcome("rule set wrong value", lambda: ruleset_attempt(workdir, path), bad)


# ------------------------------------------------------------------------ CLI
CLI_FILES: dict[str, str | bytes] = {
    "truncated.yaml": shipped("scenarios", SCENARIOS[0])[:200],
    "not-a-mapping.yaml": "- just\n- a list\n",
    "wrong-type.json": json.dumps({"platform": "kuaishou", "steps": "apply everything"}),
    "deep.yaml": "[" * 1000 + "]" * 1000,
    "back-in-time.yaml": (
        "platform: kuaishou\nsteps:\n"
        "  - {at: '2026-03-02T10:00:00+08:00', command: approve, case: C1}\n"
        "  - {at: '2026-03-01T10:00:00+08:00', command: approve, case: C1}\n"
    ),
    "binary.yaml": b"\xff\xfe\x00garbage",
}


@pytest.mark.parametrize("name", sorted(CLI_FILES))
def test_cli_simulate_on_a_bad_file_prints_one_error_and_exits_2(workdir: Path, name: str) -> None:
    path = write(workdir, name, CLI_FILES[name])
    src = str(Path(__file__).parents[1] / "src")
    done = subprocess.run(
        [sys.executable, "-m", "aftersales_es.cli", "simulate", str(path)],
        capture_output=True, text=True, timeout=60, check=False,
        env={**os.environ, "PYTHONPATH": src},
    )  # fmt: skip
    print(f"\n{name}: exit {done.returncode}: {done.stderr.strip()[:160]}")
    assert done.returncode == 2
    assert done.stderr.startswith("error: ") and "Traceback" not in done.stderr
    assert done.stdout == ""


# ------------------------------------------ durations and nesting beyond reason
def test_ruleset_with_a_duration_beyond_timedelta_gives_a_clean_error(workdir: Path) -> None:
    text = shipped("rulesets", "kuaishou.yaml").replace("after: 48h", "after: 99999999999d", 1)
    with pytest.raises(AfterSalesError, match="after"):
        load_ruleset(write(workdir, "huge.yaml", text))


def test_scenario_overriding_a_window_beyond_the_calendar_gives_a_clean_error(
    workdir: Path,
) -> None:
    text = "platform: kuaishou\nsettings: {after_sales_validity: 900000000d}\n" + (
        SMALL_SCENARIO.replace("CUR", "CNY")
    )
    with pytest.raises(AfterSalesError):
        run(load_scenario(write(workdir, "window.yaml", text)))


def test_ruleset_nested_too_deeply_gives_a_clean_error(workdir: Path) -> None:
    with pytest.raises(AfterSalesError):
        load_ruleset(write(workdir, "deep-rules.yaml", "[" * 1000 + "]" * 1000))


# ------------------------------------------------------------ the check itself
def test_accepting_a_file_that_cannot_be_valid_fails_the_check(workdir: Path) -> None:
    """The check above can fail: a loader that accepted anything would be caught."""
    path = write(workdir, "no-platform.yaml", "steps: []\n")
    assert why_bad_scenario(path) == "no platform"
    with pytest.raises(AssertionError, match="accepted a file that cannot be valid"):
        outcome("demo", lambda: None, why_bad_scenario(path))


@pytest.mark.parametrize("folder", ["scenarios", "rulesets"])
def test_shipped_files_are_not_judged_bad(folder: str) -> None:
    """The judge is not so strict that it calls every file bad."""
    judge = why_bad_scenario if folder == "scenarios" else why_bad_ruleset
    names = SCENARIOS if folder == "scenarios" else RULESETS
    for name in names:
        assert judge(Path(str(PACKAGE / folder / name))) is None, name
