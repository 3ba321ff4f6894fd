"""Bytes as text that no terminal will interpret, and back: the trace's ``data`` field.

Printable ASCII stands for itself and every other byte is written ``\\xNN`` (a backslash is
``\\\\``), so a preview is plain ASCII and the bytes can be recovered exactly. Standard
library only.
"""

from __future__ import annotations

import re

_HEX = re.compile(r"[0-9a-fA-F]{2}")


#: Each byte as a preview writes it.
_ESCAPED = tuple(
    "\\\\" if b == 0x5C else chr(b) if 0x20 <= b < 0x7F else f"\\x{b:02x}" for b in range(256)
)
#: The bytes that stand for themselves.
_PLAIN = bytes(b for b in range(0x20, 0x7F) if b != 0x5C)


def escape_bytes(data: bytes) -> str:
    """Printable ASCII as itself, everything else as ``\\xNN``; reversible, terminal-safe."""
    if not bytes(data).translate(None, _PLAIN):  # (all printable: as it is)
        return bytes(data).decode("ascii")
    return "".join(map(_ESCAPED.__getitem__, data))


def unescape_bytes(text: str) -> bytes:
    """The inverse of :func:`escape_bytes`; ValueError for text it could not have made."""
    out = bytearray()
    i = 0
    while i < len(text):
        ch = text[i]
        if ch != "\\":
            if not (0x20 <= ord(ch) < 0x7F):
                raise ValueError(f"unexpected character {ch!r} at {i}")
            out.append(ord(ch))
            i += 1
        elif text[i + 1 : i + 2] == "\\":
            out.append(0x5C)
            i += 2
        elif text[i + 1 : i + 2] == "x" and _HEX.fullmatch(text[i + 2 : i + 4]):
            out.append(int(text[i + 2 : i + 4], 16))
            i += 4
        else:
            raise ValueError(f"bad escape at {i}")
    return bytes(out)
