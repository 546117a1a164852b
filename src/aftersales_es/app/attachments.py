"""Attachments on their way in: files described from their bytes, and written
to the blob store only once the command that cites them has been decided.

A command carries references (:class:`~.fields.AttachmentRef`); the bytes of
new files travel beside it (``execute(..., files={digest: bytes})``).

The order that leaves nothing behind: :meth:`Staging.check` verifies every
file against its reference before anything is loaded; the case decides
(a refusal writes nothing, not even a blob); :meth:`Staging.write` puts the
new blobs just before the events are saved; and if the save fails for good,
:meth:`Staging.undo` removes the blobs this command created. A crash between
the blob and the event leaves a blob no event cites: ``aftersales verify``
reports it (``blob_unreferenced``) and ``aftersales blob gc`` removes it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from pydantic import ValidationError

from aftersales_es.app.commands import Command, describe
from aftersales_es.app.fields import AttachmentRef
from aftersales_es.app.ports import BlobStore
from aftersales_es.domain.errors import InvalidInputError
from aftersales_es.domain.evidence import sniff


def describe_file(name: str, data: bytes) -> dict[str, Any]:
    """The reference of a file: sha256, size, media type read from the bytes, name.

    Refuses a name that is not a plain file name (``../../x``, a folder,
    control characters); limits on size and type are the rule set's, checked
    by the case.
    """
    ref = {
        "digest": hashlib.sha256(data).hexdigest(),
        "size": len(data),
        "media_type": sniff(data),
        "name": name,
    }
    try:
        return AttachmentRef.model_validate(ref).model_dump()
    except ValidationError as exc:
        raise InvalidInputError(describe(exc, f"attachment {name!r}")) from None


def bundle(files: Iterable[tuple[str, bytes]]) -> tuple[list[dict[str, Any]], dict[str, bytes]]:
    """References for ``(name, bytes)`` pairs and the bytes by digest, for ``execute``."""
    refs, data = [], {}
    for name, content in files:
        ref = describe_file(name, content)
        refs.append(ref)
        data[ref["digest"]] = content
    return refs, data


def refs_of(cmd: Command) -> list[AttachmentRef]:
    """The attachment references a command carries (none for most commands)."""
    found: Sequence[AttachmentRef] = getattr(cmd, "attachments", ())
    return list(found)


class Staging:
    """The new files of one command, from their check to their removal on failure."""

    def __init__(self, blobs: BlobStore, files: Mapping[str, bytes] | None) -> None:
        self.blobs = blobs
        self.files = dict(files or {})
        self.created: list[str] = []

    def check(self, cmd: Command) -> None:
        """Every file given matches its reference (digest, size, media type from
        its bytes); every file given is cited by the command."""
        cited = {r.digest: r for r in refs_of(cmd)}
        for digest, data in self.files.items():
            ref = cited.get(digest)
            if ref is None:
                raise InvalidInputError(f"attachment {digest}: no reference to it in the command")
            if hashlib.sha256(data).hexdigest() != digest or len(data) != ref.size:
                raise InvalidInputError(f"attachment {ref.name!r}: its bytes are not {digest}")
            if sniff(data) != ref.media_type:
                why = f"its bytes are {sniff(data)}, not {ref.media_type}"
                raise InvalidInputError(f"attachment {ref.name!r}: {why}")

    def cited_before(self, cmd: Command, prior: Sequence[dict[str, Any]]) -> None:
        """A reference without its bytes cites a file this case already holds
        (re-citing, e.g. in evidence): its bytes were checked when it came."""
        held = {a["digest"]: a for a in prior}
        for ref in refs_of(cmd):
            if ref.digest in self.files:
                continue
            old = held.get(ref.digest)
            if old is None or not self.blobs.has(ref.digest):
                raise InvalidInputError(
                    f"attachment {ref.name!r}: {ref.digest} is not a file of case {cmd.case};"
                    " send the file itself"
                )
            if (old["size"], old["media_type"]) != (ref.size, ref.media_type):
                why = f"size or media type differ from those of {ref.digest}"
                raise InvalidInputError(f"attachment {ref.name!r}: {why}")

    def write(self) -> None:
        """Put the new files (before the events that cite them are saved)."""
        for digest, data in self.files.items():
            if self.blobs.put(digest, data):
                self.created.append(digest)

    def undo(self) -> None:
        """Remove the blobs this command created (its events were not saved)."""
        for digest in self.created:
            self.blobs.delete(digest)
        self.created.clear()
