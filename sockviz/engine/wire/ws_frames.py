"""Read a WebSocket frame's header for display (RFC 6455, section 5.2).

This is a viewer, not the protocol: the scenario speaks WebSocket through wsproto. Here we
only take apart bytes that really crossed, to show a learner the header fields - FIN, the
opcode, MASK, the payload length, the masking key - and the payload unmasked.
"""

from __future__ import annotations

from dataclasses import dataclass

from sockviz.engine.record.trace_format import escape_bytes

OPCODES = {
    0x0: "continuation",
    0x1: "text",
    0x2: "binary",
    0x8: "close",
    0x9: "ping",
    0xA: "pong",
}


@dataclass(frozen=True)
class Frame:
    fin: bool
    opcode: int
    masked: bool
    length: int
    mask_key: bytes | None
    header_size: int
    payload: bytes
    """The payload as far as the bytes go, unmasked."""

    @property
    def kind(self) -> str:
        return OPCODES.get(self.opcode, f"reserved 0x{self.opcode:x}")


def parse(data: bytes) -> Frame | None:
    """The first frame in ``data``, or None if it does not start with a frame header."""
    if len(data) < 2:
        return None
    first, second = data[0], data[1]
    if first & 0x70:  # RSV bits: no extension is negotiated here, so these are not frames
        return None
    length = second & 0x7F
    offset = 2
    if length == 126:
        if len(data) < 4:
            return None
        length, offset = int.from_bytes(data[2:4], "big"), 4
    elif length == 127:
        if len(data) < 10:
            return None
        length, offset = int.from_bytes(data[2:10], "big"), 10
    masked = bool(second & 0x80)
    key = None
    if masked:
        if len(data) < offset + 4:
            return None
        key, offset = data[offset : offset + 4], offset + 4
    payload = data[offset : offset + length]
    if key:
        payload = bytes(b ^ key[i % 4] for i, b in enumerate(payload))
    return Frame(bool(first & 0x80), first & 0x0F, masked, length, key, offset, payload)


def describe(data: bytes) -> list[str]:
    """Lines saying what these bytes are: an HTTP handshake, or a frame and its fields."""
    if data.startswith((b"GET ", b"HTTP/")):
        first_line = escape_bytes(data.split(b"\r\n", 1)[0][:120])  # peer bytes: escaped
        what = "request" if data.startswith(b"GET ") else "response"
        return [f"HTTP {what} (the WebSocket handshake): {first_line}"]
    frame = parse(data)
    if frame is None:
        return []
    lines = [
        (
            f"WebSocket frame: FIN={int(frame.fin)}  opcode=0x{frame.opcode:x} ({frame.kind})  "
            f"MASK={int(frame.masked)}  payload length={frame.length}"
        ),
    ]
    if frame.mask_key:
        lines.append(
            "masking key: "
            + " ".join(f"{b:02x}" for b in frame.mask_key)
            + "  (the client masks; the payload below is unmasked)"
        )
    if frame.opcode == 0x8 and len(frame.payload) >= 2:
        code = int.from_bytes(frame.payload[:2], "big")
        lines.append(f"close status {code}")
    return lines
