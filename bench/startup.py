"""Workload 8: start-up of the command line.

Ours: ``aftersales --help`` and ``aftersales show C1`` (a one-case SQLite
store made by CLI commands) as fresh processes. Baseline: a bare ``python -c
pass`` from the same interpreter, run side by side (rotating order) so that
load on a shared machine hits all alike. Each command imports only what it
needs, so ``--help`` never loads pydantic or eventsourcing, and ``show`` reads
the view the CLI kept with the case's events (``adapters.caseviews``) with
``sqlite3`` alone. For reference, ``show`` of the same case made through the
Python API (no stored view) loads the domain and replays it.
"""

from __future__ import annotations

import compileall
import subprocess
import sys
import time
from pathlib import Path

from . import Config, Row, gen, median, paired, scratch

#: Before the commands imported lazily (commit 58941ec, its bytecode compiled
#: as here; same machine, 21 interleaved runs, medians): ``--help`` took
#: 0.245 s and ``show`` 0.272 s against 0.0116 s for ``python -c pass``.
BEFORE = {"help": 0.245 / 0.0116, "show": 0.272 / 0.0116}


def _run(argv: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def _store(path: Path, cli: list[str]) -> Path:
    """One case, made as a user of the command line makes it: ``order register``
    then ``apply``. The CLI keeps the case's view, which ``show`` then reads."""
    facts = gen.order_facts(0)
    subprocess.run(
        [*cli, "--store", str(path), "order", "register", "O1", "--seller", facts["seller"],
         "--buyer", facts["buyer"], "--platform", facts["platform"], "--amount",
         facts["amount"], "--currency", facts["currency"], "--paid-at",
         facts["paid_at"].isoformat(), "--shipped-at", facts["shipped_at"].isoformat(),
         "--delivered-at", facts["delivered_at"].isoformat()],
        check=True, stdout=subprocess.DEVNULL,
    )  # fmt: skip
    subprocess.run(
        [*cli, "--store", str(path), "apply", "C1", "--order", "O1", "--kind", "refund_only",
         "--reason", "changed_mind", "--at", (facts["paid_at"] + gen.D).isoformat()],
        check=True, stdout=subprocess.DEVNULL,
    )  # fmt: skip
    return path


def _api_store(path: Path) -> Path:
    """The same case made through the Python API, which keeps no view: ``show``
    replays it (loading the domain), as on a store no CLI command wrote."""
    from aftersales_es.engine import AfterSales

    app = AfterSales(path)
    try:
        facts = gen.order_facts(0)
        app.register_order({**facts, "id": "O1"})
        app.execute("apply", case="C1", order="O1", kind="refund_only", at=facts["paid_at"] + gen.D)
    finally:
        app.close()
    return path


def _compile() -> None:
    """Bytecode for the package, as an installed wheel has: without it (an
    editable install under ``PYTHONDONTWRITEBYTECODE``) every start compiles
    the sources again and the figure measures the compiler."""
    import aftersales_es

    compileall.compile_dir(Path(aftersales_es.__file__).parent, quiet=1)


def run(cfg: Config) -> list[Row]:
    runs = 3 if cfg.quick else 15 * cfg.repeats
    _compile()
    cli = [sys.executable, "-m", "aftersales_es.cli"]
    with scratch(cfg, "startup") as tmp:
        store = str(_store(tmp / "one.db", cli))
        replayed = str(_api_store(tmp / "api.db"))
        sides = {
            "bare": [sys.executable, "-c", "pass"],
            "help": [*cli, "--help"],
            "show": [*cli, "--store", store, "show", "C1"],
            "replay": [*cli, "--store", replayed, "show", "C1"],
        }
        samples: dict[str, list[float]] = {k: [] for k in sides}
        for i in range(runs):
            k = i % len(sides)
            names = list(sides)[k:] + list(sides)[:k]
            for name in names:
                samples[name].append(_run(sides[name]))
    rows = []
    for name, label in (("help", "aftersales --help"), ("show", "aftersales show CASE")):
        rows.append(
            Row(
                workload="8 start-up",
                metric=label,
                unit="s",
                ours=median(samples[name]),
                baseline=median(samples["bare"]),
                baseline_name="python -c pass",
                op="<=",
                target=round(BEFORE[name] / 2, 1),
                higher_is_better=False,
                note=f"target: half the ratio before lazy imports ({BEFORE[name]:.1f} x)",
                samples={"ours": samples[name], "baseline": samples["bare"]},
                ratios=paired(samples[name], samples["bare"]),
            )
        )
    rows.append(
        Row(
            workload="8 start-up",
            metric="aftersales show CASE, no stored view (replay)",
            unit="s",
            ours=median(samples["replay"]),
            baseline=median(samples["bare"]),
            baseline_name="python -c pass",
            op="",
            target=None,
            higher_is_better=False,
            note="a case no CLI command wrote (the Python API keeps no view): show loads the"
            " domain and replays its events",
            samples={"ours": samples["replay"], "baseline": samples["bare"]},
            ratios=paired(samples["replay"], samples["bare"]),
        )
    )
    return rows
