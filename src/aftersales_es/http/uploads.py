"""A command's request body: JSON, or ``multipart/form-data`` carrying new files.

``apply``, ``message`` and ``submit_evidence`` take attachments. In JSON a
command can only cite files its case already holds (``attachments``: their
references); to send new files, post the same fields as a form with one
``file`` part per file (``curl -F by=buyer -F text=... -F file=@photo.jpg``).
The server describes each file from its bytes (sha256, size, media type
sniffed from the content, the sender's name) and hands references and
bytes to the engine, which checks them against the rule set and writes
the blobs only once the command is decided: a refusal leaves no file.
"""

from __future__ import annotations

import json
import types
import typing
from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError
from starlette.datastructures import UploadFile

from aftersales_es.http.problems import Problem

#: The form part that carries a file; repeat it for several.
FILE_PART = "file"
#: Most files in one request (the rule sets allow fewer on a case).
MAX_FILES = 20
#: Most text fields in one form.
MAX_FIELDS = 50
#: Largest text field of a form (a message's text is far below).
MAX_FIELD = 256 * 1024
Files = list[tuple[str, bytes]]


def _structured(annotation: Any) -> bool:
    """Whether a field holds a list or an object (given as JSON text in a form)."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _structured(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        return any(_structured(a) for a in typing.get_args(annotation) if a is not type(None))
    if origin in (list, dict, tuple):
        return True
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)


def structured_fields(body: type[BaseModel]) -> frozenset[str]:
    """The fields of ``body`` a form gives as JSON text (``lines``, ``attachments``)."""
    return frozenset(n for n, f in body.model_fields.items() if _structured(f.annotation))


def _invalid(exc: ValidationError) -> RequestValidationError:
    errors = [{**e, "loc": ("body", *e.get("loc", ()))} for e in exc.errors()]
    return RequestValidationError(errors)


def _bad(detail: str) -> Problem:
    return Problem(422, "invalid-input", "Invalid input", detail)


def _json(raw: bytes, body: type[BaseModel]) -> dict[str, Any]:
    try:
        model = body.model_validate_json(raw or b"{}")
    except ValidationError as exc:
        raise _invalid(exc) from None
    fields: dict[str, Any] = model.model_dump(exclude_unset=True)
    return fields


async def _form(
    request: Request, body: type[BaseModel], structured: frozenset[str]
) -> tuple[dict[str, Any], Files]:
    async with request.form(
        max_files=MAX_FILES, max_fields=MAX_FIELDS, max_part_size=MAX_FIELD
    ) as form:
        fields: dict[str, Any] = {}
        files: Files = []
        for name, value in form.multi_items():
            if isinstance(value, UploadFile):
                if name != FILE_PART:
                    raise _bad(f"file part {name!r}: name it {FILE_PART!r}")
                files.append((value.filename or "", await value.read()))
            elif name in fields:
                raise _bad(f"field {name!r} given twice")
            elif name in structured:
                try:
                    fields[name] = json.loads(value)
                except ValueError:
                    raise _bad(f"field {name!r}: not JSON") from None
            else:
                fields[name] = value
    try:
        model = body.model_validate(fields)
    except ValidationError as exc:
        raise _invalid(exc) from None
    return model.model_dump(exclude_unset=True), files


async def read_body(
    request: Request, body: type[BaseModel], structured: frozenset[str] | None
) -> tuple[dict[str, Any], Files]:
    """The command fields and the new files (name, bytes) of a request.

    ``structured`` is None for a command that takes no files: JSON only.
    """
    kind = request.headers.get("content-type", "").partition(";")[0].strip().lower()
    if kind == "multipart/form-data" and structured is not None:
        return await _form(request, body, structured)
    if kind not in ("", "application/json"):
        takes = "application/json" + (" or multipart/form-data" if structured is not None else "")
        raise Problem(415, "unsupported-media-type", "Unsupported media type", f"send {takes}")
    return _json(await request.body(), body), []
