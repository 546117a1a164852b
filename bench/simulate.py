"""Workload 5: a generated scenario file through ``aftersales simulate``.

Ours: ``aftersales simulate FILE`` (the CLI entry point: load and validate
the JSON file, run it on a fresh in-memory store with the virtual clock
firing deadlines before every step, print the SPEC §4 output to a null
sink). Baseline: the same orders and commands through the API on a fresh
in-memory store, without the scenario layer. Flows finish inside their
deadlines, so the clock fires nothing and both sides do the same commands.
"""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path
from typing import Any

from aftersales_es.cli import main as cli
from aftersales_es.engine import AfterSales

from . import Config, Row, gen, median, paired, scratch, timed


def through_cli(path: Path) -> str:
    """The CLI's whole path; returns what it printed."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = cli.main(["simulate", str(path)])
    assert code == 0, code
    return out.getvalue()


def through_api(data: dict[str, Any]) -> int:
    app = AfterSales("memory")
    try:
        for o in data["orders"]:
            app.register_order({"platform": data["platform"], **o})
        for s in data["steps"]:
            fields = {**s.get("args", {}), "case": s["case"], "at": s["at"]}
            if "order" in s:
                fields["order"] = s["order"]
            app.execute(s["command"], **fields)
        return len(data["steps"])
    finally:
        app.close()


def run(cfg: Config) -> list[Row]:
    n = cfg.size(10_000, 200)
    data = gen.scenario(gen.plan(n))
    steps = len(data["steps"])
    samples: dict[str, list[float]] = {"cli": [], "api": []}
    with scratch(cfg, "simulate") as tmp:
        path = tmp / "scenario.json"
        path.write_text(json.dumps(data), encoding="utf-8")
        printed = ""
        for rep in range(cfg.repeats):
            order = ["cli", "api"] if rep % 2 == 0 else ["api", "cli"]
            for name in order:
                secs, result = timed(
                    (lambda: through_cli(path)) if name == "cli" else (lambda: through_api(data))
                )
                samples[name].append(steps / secs)
                if name == "cli":
                    printed = result
    output = json.loads(printed)
    assert not output["errors"], output["errors"][:3]  # same commands, none refused
    assert len(output["cases"]) == n
    return [
        Row(
            "5 simulate",
            f"{n}-case scenario file via CLI",
            "steps/s",
            median(samples["cli"]),
            median(samples["api"]),
            "same commands via API, in-memory",
            ">=",
            0.8,
            note=f"{n} orders, {steps} steps (JSON file); both sides register the orders",
            samples=samples,
            ratios=paired(samples["cli"], samples["api"]),
            extra={"cases": n, "steps": steps},
        )
    ]
