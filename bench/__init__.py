"""Benchmarks: every workload against its baselines in the same run.

``python -m bench`` (``make bench``) runs each workload and its
baselines side by side, ``repeats`` times, interleaved, and reports medians,
so the ratios stay meaningful on a noisy shared machine. ``--quick`` uses
sizes small enough for CI: it checks the shape of the results and never
fails on timings. Each workload module exposes ``run(cfg) -> list[Row]``.
"""

from __future__ import annotations

import gc
import os
import shutil
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class Config:
    """Sizes and repeats for one run; ``quick`` only checks shapes."""

    quick: bool = False
    repeats: int = 3
    scale: float = 1.0
    workdir: Path = field(default_factory=lambda: Path(tempfile.gettempdir()))
    pg_url: str = "postgresql://postgres@127.0.0.1:5432/test"

    def size(self, full: int, quick: int) -> int:
        """The size of a workload: ``full`` (or ``quick``) times ``scale``."""
        return max(1, int((quick if self.quick else full) * self.scale))


@dataclass
class Row:
    """One line of the results table.

    ``ours`` and ``baseline`` are in ``unit`` (medians of the repeats);
    ``ratio`` is ours / baseline, for throughputs (target a lower bound) and
    for times (target an upper bound) alike.
    """

    workload: str
    metric: str
    unit: str
    ours: float
    baseline: float | None
    baseline_name: str
    op: str  # ">=" or "<=" or "" (reported, no target)
    target: float | None
    higher_is_better: bool = True
    note: str = ""
    samples: dict[str, list[float]] = field(default_factory=dict)
    #: Per-repeat ours / baseline, each from runs made side by side; the
    #: reported ratio is their median (robust to load drifting between repeats).
    ratios: list[float] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def ratio(self) -> float | None:
        if self.ratios:
            return median(self.ratios)
        if self.baseline is None or self.baseline == 0:
            return None
        return self.ours / self.baseline

    @property
    def passed(self) -> bool | None:
        r = self.ratio
        if r is None or self.target is None or not self.op:
            return None
        return r >= self.target if self.op == ">=" else r <= self.target

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["ratio"] = self.ratio
        d["passed"] = self.passed
        return d


def median(values: list[float]) -> float:
    return float(statistics.median(values))


def paired(ours: list[float], baseline: list[float]) -> list[float]:
    """Per-repeat ratios of side-by-side runs."""
    return [a / b for a, b in zip(ours, baseline, strict=True) if b]


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    """Seconds ``fn`` took (garbage collected first, so runs start level)."""
    gc.collect()
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


@contextmanager
def scratch(cfg: Config, name: str) -> Iterator[Path]:
    """A fresh directory for one workload's databases, removed afterwards."""
    path = Path(tempfile.mkdtemp(prefix=f"bench-{name}-", dir=cfg.workdir))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def copy_db(src: Path, dst: Path) -> Path:
    """Copy a closed SQLite database (its WAL checkpointed first)."""
    conn = sqlite3.connect(src)
    try:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()
    shutil.copyfile(src, dst)
    for suffix in ("-wal", "-shm"):
        Path(str(dst) + suffix).unlink(missing_ok=True)
    # Write the copy out now, or the kernel flushes it during the timed run.
    os.sync()
    return dst


def sqlite_store(path: Path) -> dict[str, str]:
    """The eventsourcing settings the application uses for a SQLite file."""
    return {
        "PERSISTENCE_MODULE": "eventsourcing.sqlite",
        "SQLITE_DBNAME": str(path),
        "SQLITE_LOCK_TIMEOUT": "30",
    }
