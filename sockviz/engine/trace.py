"""Trace events as JSON Lines: one object a line, the same keys in the same order.

The first fifteen keys are the documented core (README, "Trace format"); the rest add
detail. Bytes from a peer are never written raw: ``data`` is an escaped preview in which
printable ASCII stands for itself and every other byte is written ``\\xNN`` (a backslash
is ``\\\\``), so a trace is plain ASCII that no terminal will interpret, and the bytes can
be recovered exactly with :func:`unescape_bytes`.
"""

from __future__ import annotations

from sockviz.engine.events import CallEvent, KernelEvent

#: The keys every trace line has, in order (null where they do not apply).
CORE_KEYS = (
    "seq",
    "t",
    "socket",
    "role",
    "call",
    "state",
    "family",
    "type",
    "local",
    "remote",
    "nbytes",
    "sent_total",
    "recv_total",
    "error",
    "kernel",
)

#: Further keys, also on every line (null where they do not apply).
EXTRA_KEYS = (
    "error_text",
    "args",
    "data",
    "implicit_bind",
    "parent",
    "parts",
    "step",
    "previous",
    "timer",
    "partial",
    "queue",
)

ALL_KEYS = CORE_KEYS + EXTRA_KEYS


def escape_bytes(data: bytes) -> str:
    """Printable ASCII as itself, everything else as ``\\xNN``; reversible, terminal-safe."""
    out = []
    for byte in data:
        if byte == 0x5C:
            out.append("\\\\")
        elif 0x20 <= byte < 0x7F:
            out.append(chr(byte))
        else:
            out.append(f"\\x{byte:02x}")
    return "".join(out)


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
        elif text[i + 1 : i + 2] == "x" and len(text) >= i + 4:
            out.append(int(text[i + 2 : i + 4], 16))
            i += 4
        else:
            raise ValueError(f"bad escape at {i}")
    return bytes(out)


def to_record(event: CallEvent | KernelEvent) -> dict:
    """The trace line of an event, as a dict with :data:`ALL_KEYS` in order."""
    if isinstance(event, KernelEvent):
        return {
            "seq": event.seq,
            "t": event.t,
            "socket": event.socket,
            "role": event.role.value,
            "call": "kernel",
            "state": event.state.value if event.state else None,
            "family": event.family,
            "type": event.type,
            "local": event.local,
            "remote": event.remote,
            "nbytes": None,
            "sent_total": event.sent_total,
            "recv_total": event.recv_total,
            "error": None,
            "kernel": event.kernel,
            "error_text": None,
            "args": None,
            "data": None,
            "implicit_bind": None,
            "parent": None,
            "parts": None,
            "step": None,
            "previous": event.previous,
            "timer": event.timer,
            "partial": None,
            "queue": list(event.queue) if event.queue else None,
        }
    return {
        "seq": event.seq,
        "t": event.t,
        "socket": event.socket,
        "role": event.role.value,
        "call": event.call.value,
        "state": event.state.value if event.state else None,
        "family": event.family,
        "type": event.type,
        "local": event.local,
        "remote": event.remote,
        "nbytes": event.nbytes,
        "sent_total": event.sent_total,
        "recv_total": event.recv_total,
        "error": event.error,
        "kernel": event.kernel,
        "error_text": event.error_text,
        "args": event.args,
        "data": None if event.data is None else escape_bytes(event.data),
        "implicit_bind": event.implicit_bind,
        "parent": event.parent,
        "parts": event.parts,
        "step": event.step,
        "previous": None,
        "timer": None,
        "partial": event.partial,
        "queue": list(event.queue) if event.queue else None,
    }


def to_line(event: CallEvent | KernelEvent) -> str:
    """One JSON Lines line (no newline), ASCII only."""
    import json  # here, not at the top: the TUI imports this module for escape_bytes alone

    return json.dumps(to_record(event), ensure_ascii=True, separators=(", ", ": "))


class TraceFormatError(ValueError):
    """A trace line that is not what ``--trace`` writes; says which line and why."""

    def __init__(self, line_number: int, reason: str) -> None:
        self.line_number = line_number
        self.reason = reason
        super().__init__(f"line {line_number}: {reason}")


def from_record(record: dict) -> CallEvent | KernelEvent:
    """The event a trace line was made from (the inverse of :func:`to_record`)."""
    from sockviz.engine.states import Call, Role, State

    missing = [key for key in CORE_KEYS if key not in record]
    if missing:
        raise ValueError(f"missing keys: {', '.join(missing)}")
    role = Role(record["role"])
    state = State(record["state"]) if record["state"] is not None else None
    if record["call"] == "kernel":
        return KernelEvent(
            seq=record["seq"], t=record["t"], socket=record["socket"], role=role, state=state,
            family=record["family"], type=record["type"], local=record["local"],
            remote=record["remote"], sent_total=record["sent_total"],
            recv_total=record["recv_total"], kernel=record["kernel"],
            previous=record.get("previous"), timer=record.get("timer"),
            source=record.get("source") or "tcp_info",
            queue=tuple(record["queue"]) if record.get("queue") else None,
        )
    data = record.get("data")
    return CallEvent(
        seq=record["seq"], t=record["t"], socket=record["socket"], role=role,
        call=Call(record["call"]), state=state, family=record["family"], type=record["type"],
        local=record["local"], remote=record["remote"], nbytes=record["nbytes"],
        sent_total=record["sent_total"], recv_total=record["recv_total"],
        error=record["error"], error_text=record.get("error_text"), kernel=record["kernel"],
        args=record.get("args"), data=None if data is None else unescape_bytes(data),
        implicit_bind=bool(record.get("implicit_bind")), parent=record.get("parent"),
        step=record.get("step"), parts=record.get("parts"), partial=record.get("partial"),
        queue=tuple(record["queue"]) if record.get("queue") else None,
    )


def read_trace(lines) -> list[CallEvent | KernelEvent]:
    """Parse JSON Lines into events; :class:`TraceFormatError` names the first bad line."""
    import json

    events = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            events.append(from_record(json.loads(line)))
        except (ValueError, TypeError, KeyError) as exc:
            raise TraceFormatError(number, str(exc)) from None
    return events
