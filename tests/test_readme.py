"""The README's examples run as written, on any date, and print what they say."""

from __future__ import annotations

import contextlib
import io
import re
import shlex
from pathlib import Path

import pytest

from aftersales_es.cli.main import main
from aftersales_es.cli.spec import GLOSSARY

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
#: Shell blocks run in order on one store: the CLI tour, then the sections using its case.
SHELL_SECTIONS = (
    "## CLI",
    "### Audit and history",
    "### Rule-set tooling",
    "### Conversation, attachments and evidence",
    "### Order lines",
    "### Rulings, partial refunds, return addresses",
    "### Refund payouts",
)


def section(title: str) -> str:
    text = README.read_text(encoding="utf-8")
    body = text.split(title, 1)[1]
    return re.split(r"\n#{2,3} ", body, maxsplit=1)[0]


def commands(block: str) -> list[list[str]]:
    """The ``aftersales`` command lines of a shell block (continuations joined,
    comments dropped, ``&&`` split), as argument lists."""
    joined = block.replace("\\\n", " ")
    found = []
    for line in joined.splitlines():
        for part in line.split("&&"):
            words = shlex.split(part, comments=True)
            if words and words[0] in ("aftersales", "cp"):
                found.append(words if words[0] == "cp" else words[1:])
    return found


def run(argv: list[str]) -> int:
    """One command as the shell would run it (``> file`` redirects stdout)."""
    if argv[0] == "cp":
        Path(argv[2]).write_bytes((ROOT / argv[1]).read_bytes())
        return 0
    target = None
    if ">" in argv:
        at = argv.index(">")
        argv, target = argv[:at], argv[at + 1]
    argv = [str(ROOT / a) if a.startswith(("src/", "docs/")) else a for a in argv]
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(argv)
    if target:
        Path(target).write_text(out.getvalue(), encoding="utf-8")
    return code


def test_readme_shell_examples_run_as_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given: an empty folder, as a new user's, and no store in the environment
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("AFTERSALES_STORE", raising=False)
    for title in SHELL_SECTIONS:
        for block in re.findall(r"```sh\n(.*?)```", section(title), re.S):
            for argv in commands(block):
                # then: each succeeds (a refusal or a bad date would exit 2)
                assert run(argv) == 0, argv
    # and: the tour ended where the README says
    assert run(["--json", "show", "C1"]) == 0
    assert run(["history", "C1", "--version", "2"]) == 0


def test_readme_show_example_lists_what_can_happen_next(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("AFTERSALES_STORE", raising=False)
    tour = commands(re.findall(r"```sh\n(.*?)```", section("## CLI"), re.S)[0])
    for argv in tour[: [a[0] for a in tour].index("show")]:
        assert main(argv) == 0
    capsys.readouterr()
    assert main(["show", "C1"]) == 0
    out = capsys.readouterr().out
    said = section("## CLI").split("right after `apply`,", 1)[1].split("if nobody acts")[0]
    for command in re.findall(r"`(\w+)`", said):
        assert f"  {command} " in out
    assert "auto_approve at 2026-05-16T10:00:00+08:00 [KS-4]" in out


def test_readme_embedding_example_prints_what_its_comments_show(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code = re.search(r"```python\n(.*?)```", section("## Embedding"), re.S)
    assert code is not None
    namespace: dict[str, object] = {}
    exec(compile(code.group(1), str(README), "exec"), namespace)
    app = namespace["app"]
    assert app.get_case("R2").refunded_total == app.get_order("O1").amount  # type: ignore[attr-defined]
    printed = capsys.readouterr().out.splitlines()
    promised = [
        line.split("#", 1)[1].strip()
        for line in code.group(1).splitlines()
        if line.lstrip().startswith(("print(", "    print(")) and "#" in line
    ]
    assert printed == promised


def test_readme_glossary_is_the_one_rules_show_prints() -> None:
    glossary = section("### Glossary")
    for term, meaning in GLOSSARY:
        assert f"| `{term}` | {meaning} |" in glossary
