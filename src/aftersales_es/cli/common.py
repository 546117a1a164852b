"""What every ``aftersales`` command shares: its parser, option types, the store, output.

Kept light (no pydantic, no eventsourcing at import) so that ``--help`` and
the parser start fast; each command imports what it needs when it runs.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any, NoReturn

from aftersales_es.cli.render import render_table

Handler = Callable[[argparse.Namespace], int]
TRUE = ("true", "yes", "1", "on")
FALSE = ("false", "no", "0", "off")


class Parser(argparse.ArgumentParser):
    """argparse, with a usage error on one line that says where the help is."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def _common() -> argparse.ArgumentParser:
    # SUPPRESS: an option given before the command is not reset by its absence
    # after it, so `--json` and `--store` work on either side.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--store",
        default=argparse.SUPPRESS,
        metavar="WHERE",
        help="a SQLite file, 'memory' or postgresql://user@host:5432/db?schema=NAME"
        " (default: $AFTERSALES_STORE or ./aftersales.db)",
    )
    common.add_argument(
        "--json", action="store_true", default=argparse.SUPPRESS, help="machine-readable output"
    )
    return common


COMMON = _common()


def add_command(
    sub: Any,
    name: str,
    help: str,
    func: Handler,
    *,
    writes: bool,
    examples: tuple[str, ...] = (),
    description: str | None = None,
) -> argparse.ArgumentParser:
    """A subcommand with the shared options, its help and examples.

    ``writes``: it may create the store; a command that only reads refuses a
    store that does not exist (a mistyped path must not look like an empty
    store).
    """
    epilog = "examples:\n" + "\n".join(f"  aftersales {e}" for e in examples) if examples else None
    p: argparse.ArgumentParser = sub.add_parser(
        name,
        help=help,
        description=description or help,
        epilog=epilog,
        parents=[COMMON],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.set_defaults(func=func, writes=writes)
    return p


# ----------------------------------------------------------------- option types
def yes_no(text: str) -> bool:
    """``true``/``false`` (or yes/no, 1/0, on/off); anything else is refused."""
    low = text.strip().lower()
    if low in TRUE:
        return True
    if low in FALSE:
        return False
    raise argparse.ArgumentTypeError(f"{text!r} is not true or false")


def positive(kind: type[float] | type[int], least: float = 0, *, strict: bool = True) -> Any:
    """A number type for argparse: above ``least`` (``strict``) or at least ``least``."""

    def parse(text: str) -> float | int:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        if value != value or (value <= least if strict else value < least):  # NaN too
            bound = f"greater than {least:g}" if strict else f"at least {least:g}"
            raise argparse.ArgumentTypeError(f"{text!r}: must be {bound}")
        return value

    parse.__name__ = kind.__name__  # argparse names the type in its messages
    return parse


def instant(text: str) -> datetime:
    """An ISO 8601 instant with its offset, like 2026-05-14T10:00:00+08:00."""
    try:
        at = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not an ISO 8601 time (like 2026-05-14T10:00:00+08:00)"
        ) from None
    if at.tzinfo is None:
        raise argparse.ArgumentTypeError(f"{text!r} needs a timezone offset (+08:00, Z)")
    return at


def add_yes_no(p: argparse.ArgumentParser, flag: str, dest: str, help: str) -> None:
    """``--x`` (true), ``--x true|false``, ``--no-x`` (false)."""
    p.add_argument(
        flag, dest=dest, type=yes_no, nargs="?", const=True, metavar="true|false", help=help
    )
    p.add_argument("--no-" + flag[2:], dest=dest, action="store_false", help=argparse.SUPPRESS)


def writable_file(text: str) -> Path:
    """An output file whose folder exists and can be written (checked before any work)."""
    import os

    path = Path(text)
    folder = path.parent if str(path.parent) else Path(".")
    if path.is_dir():
        raise argparse.ArgumentTypeError(f"{text}: is a folder; name a file")
    if not folder.is_dir():
        raise argparse.ArgumentTypeError(f"folder {folder} does not exist; create it first")
    if not os.access(folder, os.W_OK | os.X_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise argparse.ArgumentTypeError(f"{text}: cannot write there (permission denied)")
    return path


def writable_folder(text: str) -> Path:
    """An output folder: existing and writable, or creatable inside one that is."""
    import os

    path = Path(text)
    existing = path
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise argparse.ArgumentTypeError(f"{text}: {existing} is a file, not a folder")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise argparse.ArgumentTypeError(f"{text}: cannot write in {existing} (permission denied)")
    return path


# ------------------------------------------------------------- store and output
def open_app(args: argparse.Namespace) -> Any:
    """The application on the store the arguments name, checked first: a
    command that only reads refuses a store that does not exist."""
    from aftersales_es.adapters.location import check_location
    from aftersales_es.engine import AfterSales

    check_location(args.store, must_exist=not getattr(args, "writes", True))
    return AfterSales(args.store, env=views_env())


def views_env() -> dict[str, str]:
    """The engine environment of the command line: its commands keep each
    case's view, so a later ``show`` reads it instead of loading the domain
    (``AFTERSALES_CASE_VIEWS=0`` turns that off)."""
    from aftersales_es.engine import CASE_VIEWS

    return {CASE_VIEWS: os.environ.get(CASE_VIEWS, "1")}


def stored_view(store: str | None, case_id: str) -> dict[str, Any] | None:
    """The view of a case as its last save stored it, when the store is a
    SQLite file that has a current one (:mod:`aftersales_es.adapters.caseviews`):
    read without loading the domain, so ``show`` starts fast. ``None``: replay."""
    from aftersales_es.adapters import caseviews
    from aftersales_es.adapters.location import check_location, location, store_env

    env = store_env(location(store))
    name = env.get("SQLITE_DBNAME", "file:")
    if env["PERSISTENCE_MODULE"] != "eventsourcing.sqlite" or name.startswith("file:"):
        return None
    check_location(store, must_exist=True)
    view: dict[str, Any] | None = caseviews.read(name, case_id)
    return view


def plain(value: Any) -> Any:
    """JSON-ready data: times and decimals as text."""
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if type(value).__name__ == "Decimal":
        return f"{value:f}"
    return value


def emit(args: argparse.Namespace, data: Any, table: Callable[[Any], str] | None = None) -> None:
    """Print ``data`` as JSON (``--json``) or as a human table."""
    if args.json or table is None:
        print(json.dumps(plain(data), indent=None if args.json else 2, ensure_ascii=False))
    else:
        print(table(data))


def columns(rows: list[dict[str, Any]], names: tuple[str, ...] | list[str]) -> str:
    """Shorthand for :func:`render_table`."""
    return render_table(rows, names)


def warn(text: str) -> None:
    print(text, file=sys.stderr)
