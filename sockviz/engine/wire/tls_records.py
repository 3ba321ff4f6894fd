"""The TLS records a TCP segment carries, named from its bytes (RFC 8446 section 5.1): each
record is a 5-byte header - content type, version, length - and that many bytes.

Named, never decrypted: a handshake record sent in the clear says which message it holds
(``ClientHello``, ``ServerHello``); every record after a side's keys are in use is
``ApplicationData`` on the wire whatever it hides (TLS 1.3 sends its encrypted handshake
messages that way too), and says so. A connection is read as TLS only when its first byte
each way starts a handshake record; records are followed across segments by their lengths
(:class:`TlsStreams`, per direction), so a record that spans segments is named once, where
it starts. The capture keeps a frame's first bytes only
(:data:`~sockviz.engine.wire.frame_parser.SNAPLEN`): a record whose header lies past them is
``…``, and the direction is followed again from the next segment that starts a record.
Standard library only.
"""

from __future__ import annotations

#: A record's content type -> its name (RFC 8446 section 5.1; 24: RFC 6520's heartbeat).
CONTENT_TYPES = {
    20: "ChangeCipherSpec",
    21: "Alert",
    22: "Handshake",
    23: "ApplicationData",
    24: "Heartbeat",
}

#: A handshake message's type -> its name (RFC 8446 section 4; 12, 14, 16: TLS 1.2's).
HANDSHAKE_TYPES = {
    1: "ClientHello",
    2: "ServerHello",
    4: "NewSessionTicket",
    8: "EncryptedExtensions",
    11: "Certificate",
    12: "ServerKeyExchange",
    13: "CertificateRequest",
    14: "ServerHelloDone",
    15: "CertificateVerify",
    16: "ClientKeyExchange",
    20: "Finished",
}

#: The longest record a peer may send: 2^14 bytes of plaintext and 256 of protection.
MAX_RECORD = (1 << 14) + 256

#: A record whose header lies past the bytes the capture kept.
UNSEEN = "…"

#: Bytes where a record should begin that are not a record header.
NOT_A_RECORD = "not a record"

HEADER = 5


def record_at(data: bytes, at: int) -> tuple[int, int] | None:
    """The (content type, length) of the record header at ``at``; None when the bytes there
    are not one (too few, an unknown type, a version that is not 3.x, a length too big)."""
    if len(data) < at + HEADER:
        return None
    kind, major, minor = data[at], data[at + 1], data[at + 2]
    length = int.from_bytes(data[at + 3 : at + 5], "big")
    if kind not in CONTENT_TYPES or major != 3 or minor > 4 or length > MAX_RECORD:
        return None
    return kind, length


def starts_tls(data: bytes) -> bool:
    """Whether a connection's first bytes one way start TLS: a handshake record holding a
    ClientHello or a ServerHello."""
    header = record_at(data, 0)
    return (
        header is not None and header[0] == 22 and data[HEADER : HEADER + 1] in (b"\x01", b"\x02")
    )


class TlsStreams:
    """Where the next record begins, each way of each connection (relative sequence
    numbers, as the segments have them). See the module docstring."""

    def __init__(self) -> None:
        self._next: dict[tuple[str, str], int | None] = {}
        """(from, to) -> the relative sequence number the next record starts at (None: lost
        past the capture's bytes; not here: not TLS, or not seen to start)."""
        self._sealed: set[tuple[str, str]] = set()
        """Directions whose sender has sent ChangeCipherSpec: a handshake record after it is
        encrypted (TLS 1.2's Finished)."""

    def forget(self, way: tuple[str, str]) -> None:
        """A new connection on these addresses (its SYN)."""
        self._next.pop(way, None)
        self._sealed.discard(way)

    def names(
        self, way: tuple[str, str], seq: int, nbytes: int, payload: bytes
    ) -> tuple[str, ...] | None:
        """The records that start in this segment (``seq``: its first byte's relative number;
        ``payload``: as much of its bytes as the capture kept), in order; None when the
        connection is not TLS this way, or none starts here."""
        if nbytes <= 0:
            return None
        if seq == 1 and way not in self._next:
            if not starts_tls(payload):
                self._next[way] = -1  # (not TLS: never looked at again)
                return None
            self._next[way] = 1
        start = self._next.get(way)
        if start == -1 or way not in self._next:
            return None
        if start is None or start < seq:  # (lost, or bytes missed: a record starting here?)
            if record_at(payload, 0) is None:
                return None
            start = seq
        if start >= seq + nbytes:  # (inside one long record)
            return None
        out: list[str] = []
        at = start - seq
        while at < nbytes:
            header = record_at(payload, at)
            if header is None:  # (past the bytes kept, or bytes that are no record)
                out.append(UNSEEN if len(payload) < at + HEADER else NOT_A_RECORD)
                self._next[way] = None
                return tuple(out)
            kind, length = header
            out.append(self._name(way, kind, payload, at))
            at += HEADER + length
        self._next[way] = seq + at
        return tuple(out)

    def _name(self, way: tuple[str, str], kind: int, payload: bytes, at: int) -> str:
        if kind == 20:
            self._sealed.add(way)
        if kind != 22 or way in self._sealed:
            return CONTENT_TYPES[kind] if kind != 22 else "Handshake (encrypted)"
        message = payload[at + HEADER : at + HEADER + 1]
        if not message:
            return "Handshake"
        return HANDSHAKE_TYPES.get(message[0], f"Handshake type {message[0]}")
