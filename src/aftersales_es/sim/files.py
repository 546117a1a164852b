"""Files a scenario step attaches: small ones inline (base64) or by a path
relative to the scenario file, read when the scenario is loaded.

::

    - {at: "2026-03-02T10:00:00+08:00", command: message, case: C1,
       args: {by: buyer, text: "the lid is cracked"},
       attach: [{name: lid.png, base64: "iVBORw0KGgo..."}, {path: photos/box.jpg}]}
"""

from __future__ import annotations

import base64
import binascii
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic_core import PydanticCustomError

from aftersales_es.app.attachments import bundle
from aftersales_es.app.fields import FileName
from aftersales_es.domain.errors import ScenarioError

#: A scenario carries small files only (the rule set's own limit applies too).
MAX_FILE = 1 << 20


class ScenarioFile(BaseModel):
    """One file of a step: ``name`` plus ``base64``, or a ``path`` (its name by default)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    name: FileName | None = None
    base64: str | None = Field(default=None, max_length=(MAX_FILE * 4) // 3 + 4)
    path: str | None = Field(default=None, max_length=1000)
    #: The bytes, once read (from ``base64`` at once, from ``path`` at load).
    data: bytes | None = Field(default=None, exclude=True)

    @model_validator(mode="after")
    def _one_source(self) -> ScenarioFile:
        if (self.base64 is None) == (self.path is None):
            raise PydanticCustomError("file", "attach: give base64 (with a name) or a path")
        if self.base64 is not None:
            if self.name is None:
                raise PydanticCustomError("file", "attach: an inline file needs a name")
            try:
                data = base64.b64decode(self.base64, validate=True)
            except (binascii.Error, ValueError):
                raise PydanticCustomError("file", "attach: base64 is not valid base64") from None
            object.__setattr__(self, "data", data)
        return self


def _read(f: ScenarioFile, folder: Path) -> ScenarioFile:
    if f.data is not None or f.path is None:
        return f
    rel = Path(f.path)
    if rel.is_absolute() or ".." in rel.parts:
        raise ScenarioError(f"attach: path {f.path!r}: give a path inside the scenario's folder")
    path = folder / rel
    try:
        if path.stat().st_size > MAX_FILE:
            raise ScenarioError(f"attach: {f.path}: larger than {MAX_FILE} bytes")
        data = path.read_bytes()
    except OSError as exc:
        raise ScenarioError(f"attach: {f.path}: cannot read: {exc.strerror}") from None
    return f.model_copy(update={"data": data, "name": f.name or rel.name})


def read_paths(steps: list[Any], folder: Path) -> list[Any]:
    """The scenario's steps with every ``path`` file read, relative to ``folder``."""
    return [
        s.model_copy(update={"attach": [_read(f, folder) for f in s.attach]}) if s.attach else s
        for s in steps
    ]


def attachments(attach: list[ScenarioFile], data: dict[str, Any]) -> dict[str, bytes]:
    """Add a step's files to its command's ``attachments``; their bytes by digest."""
    if not attach:
        return {}
    pairs = []
    for f in attach:
        if f.data is None or f.name is None:  # a path not read: a scenario not loaded from a file
            raise ScenarioError(f"attach: {f.path}: a path is read relative to the scenario file")
        pairs.append((f.name, f.data))
    refs, files = bundle(pairs)
    data["attachments"] = [*data.get("attachments", []), *refs]
    return files
