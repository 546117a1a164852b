"""Small files for the evidence tests: real magic numbers, tiny bodies."""

from __future__ import annotations

import struct
import zlib

from aftersales_es.app.attachments import bundle


def png(text: str = "photo") -> bytes:
    """A valid 2x2 PNG carrying ``text`` (so each test's photo has its own digest)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = struct.pack(">I", zlib.crc32(kind + data))
        return struct.pack(">I", len(data)) + kind + data + crc

    rows = b"".join(b"\x00" + b"\x10\x20\x30" * 2 for _ in range(2))
    return b"".join(
        (
            b"\x89PNG\r\n\x1a\n",
            chunk(b"IHDR", struct.pack(">IIBBBBB", 2, 2, 8, 2, 0, 0, 0)),
            chunk(b"tEXt", b"Comment\x00" + text.encode()),
            chunk(b"IDAT", zlib.compress(rows)),
            chunk(b"IEND", b""),
        )
    )


PDF = b"%PDF-1.4\n% a courier's report\n%%EOF\n"
#: A Windows executable's header, whatever its name says.
EXE = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00evil"


def files(*pairs: tuple[str, bytes]) -> dict[str, object]:
    """``attachments`` and ``files`` for ``execute``."""
    refs, data = bundle(pairs)
    return {"attachments": refs, "files": data}
