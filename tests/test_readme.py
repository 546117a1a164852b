"""The README's embedding example runs as written."""

from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).resolve().parent.parent / "README.md"


def test_readme_embedding_example_runs_and_ends_refunded() -> None:
    text = README.read_text(encoding="utf-8")
    block = text.split("## Embedding", 1)[1]
    code = re.search(r"```python\n(.*?)```", block, re.S)
    assert code is not None
    namespace: dict[str, object] = {}
    exec(compile(code.group(1), str(README), "exec"), namespace)
    app = namespace["app"]
    assert app.get_case("R2").refunded_total == app.get_order("O1").amount  # type: ignore[attr-defined]
