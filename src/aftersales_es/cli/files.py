"""Reading the files ``--attach`` names (``apply``, ``message``, ``submit_evidence``,
``attach``): their references and bytes, for ``execute(..., files=...)``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

#: Read at most this much of a file named by --attach: the rule sets' limits
#: are far below; a larger file is refused without reading it whole.
READ_LIMIT = 256 * 2**20


def read_files(paths: list[str]) -> tuple[list[dict[str, Any]], dict[str, bytes]]:
    """The references and bytes of the files ``paths`` name (their own names kept)."""
    from aftersales_es.app.attachments import bundle
    from aftersales_es.domain.errors import InvalidInputError

    pairs = []
    for text in paths:
        path = Path(text)
        try:
            if path.is_dir():
                raise InvalidInputError(f"--attach {text}: is a folder; name a file")
            if path.stat().st_size > READ_LIMIT:
                raise InvalidInputError(f"--attach {text}: larger than {READ_LIMIT} bytes")
            pairs.append((path.name, path.read_bytes()))
        except OSError as exc:
            raise InvalidInputError(f"--attach {text}: cannot read: {exc.strerror}") from None
    return bundle(pairs)
