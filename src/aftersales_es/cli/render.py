"""The CLI's one table renderer and its progress display, both on ``rich``.

Tables fit the terminal: on a terminal its width, elsewhere ``$COLUMNS`` or
120 columns; a cell too long for its column wraps inside it instead of
pushing the line wider. Progress goes to stderr and only on a terminal, so
pipes and tests see nothing of it.
"""

from __future__ import annotations

import io
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

#: Width of a table that is not printed on a terminal (a pipe, a file, a test).
PIPE_WIDTH = 120
#: A column whose cells are all single words up to this long is never wrapped.
ATOMIC = 32


def width() -> int:
    """The width tables are laid out for."""
    if sys.stdout.isatty():
        return os.get_terminal_size(sys.stdout.fileno()).columns
    columns = os.environ.get("COLUMNS", "")
    return int(columns) if columns.isdigit() and int(columns) >= 20 else PIPE_WIDTH


def cell(value: Any) -> str:
    """A value as a table shows it: None blank, decimals and times as text."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return ", ".join(cell(v) for v in value)
    if hasattr(value, "isoformat"):
        return str(value.isoformat())
    return str(value)


def render_table(
    rows: Sequence[dict[str, Any]], columns: Sequence[str], *, title: str | None = None
) -> str:
    """Rows as an aligned text table: a header, a rule, one line per row (wrapped
    cells take more). East Asian wide characters count two columns."""
    from rich import box
    from rich.console import Console
    from rich.table import Table

    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, title=title)
    cells = [[cell(r.get(c)) for c in columns] for r in rows]
    for i, c in enumerate(columns):
        # Ids, times and amounts stay whole; text with spaces wraps at them.
        atomic = all(" " not in row[i] and len(row[i]) <= ATOMIC for row in cells)
        table.add_column(c, overflow="fold", no_wrap=atomic)
    for row in cells:
        table.add_row(*row)
    out = io.StringIO()
    console = Console(file=out, width=width(), color_system=None, highlight=False, emoji=False)
    console.print(table)
    return "\n".join(line.rstrip() for line in out.getvalue().rstrip("\n").splitlines())


def text_width(text: str) -> int:
    """Columns ``text`` takes on a terminal: wide East Asian characters take two."""
    from rich.cells import cell_len

    return cell_len(text)


Progress = Callable[[int, int], None]


@contextmanager
def progress(label: str, *, show: bool | None = None) -> Iterator[Progress | None]:
    """A ``(done, total)`` callback drawing a bar on stderr, or None when stderr
    is not a terminal (``show`` forces it either way)."""
    tty = sys.stderr.isatty()
    if not (tty if show is None else show):
        yield None
        return
    if not tty:  # asked for on a pipe or a log file: a line per tenth
        yield _lines(label)
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, TimeRemainingColumn
    from rich.progress import Progress as Bar

    console = Console(file=sys.stderr)
    columns = (label, BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Bar(*columns, console=console, transient=True) as bar:
        task = bar.add_task(label, total=None)

        def update(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        yield update


def _lines(label: str) -> Progress:
    shown = [-1]

    def update(done: int, total: int) -> None:
        tenth = done * 10 // max(total, 1)
        if tenth != shown[0]:
            sys.stderr.write(f"{label}: {done}/{total}\n")
            sys.stderr.flush()
            shown[0] = tenth

    return update
