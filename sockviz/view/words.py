"""The ladder's words: how each call, kernel change and summed flood is said, in one place.

The TUI's ladder and log and ``--export mermaid|text`` all say a run with these functions,
so a call reads the same on the screen and in a diagram kept for later. Standard library only.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import groupby

from sockviz.engine.events import (
    CallEvent,
    Condensed,
    Elided,
    Event,
    KernelEvent,
    LinkEvent,
    Segment,
    StepPending,
)
from sockviz.engine.preview import escape_bytes
from sockviz.engine.states import Call, State

SENDS = frozenset({Call.SEND, Call.SENDALL, Call.SENDTO})
RECEIVES = frozenset({Call.RECV, Call.RECVFROM})


@dataclass(frozen=True)
class Said:
    """What one call puts on the ladder: its label, and whether it crosses to the peer."""

    label: str
    arrow: bool = False
    error: bool = False
    in_flight: bool = False
    """An arrow whose bytes (or handshake) the peer has not taken yet: drawn dashed."""


def human_bytes(n: int) -> str:
    """``14 B``, ``1.5 KiB``, ``64.0 MiB``: short, exact below a KiB."""
    if n < 1024:
        return f"{n} B"
    value = float(n)
    for unit in ("KiB", "MiB", "GiB", "TiB"):
        value /= 1024
        if value < 1024:
            return f"{value:.1f} {unit}"
    return f"{value:.1f} PiB"


def preview(data: bytes, width: int) -> str:
    """A short escaped preview of bytes, in quotes, cut to ``width`` with an ellipsis."""
    text = escape_bytes(data)
    if len(text) + 2 > width:
        text = text[: max(0, width - 3)] + "…"
    return f'"{text}"'


def short_option(args: str | None) -> str:
    """``socket.SOL_SOCKET, socket.SO_REUSEADDR, 1`` -> ``SO_REUSEADDR=1``."""
    parts = [p.strip().removeprefix("socket.") for p in (args or "").split(",", 2)]
    if len(parts) != 3:
        return args or ""
    value = parts[2]
    if value.startswith("struct.pack("):  # (SO_LINGER's (on, seconds): ``SO_LINGER=1,0``)
        value = ",".join(v.strip() for v in value.rstrip(")").split(",")[1:])
    return f"{parts[1]}={value}"


def said(event: CallEvent, before: State | None, planned: bool, was_connecting: bool) -> Said:
    """The words for one call (``planned``: its error is the scenario's lesson;
    ``was_connecting``: an earlier connect() of this socket returned "in progress")."""
    call = event.call
    stream = event.type == "SOCK_STREAM"
    if event.error == "EINPROGRESS" and call is Call.CONNECT and stream:
        # a non-blocking connect: the handshake is under way (what crossed is the wire's
        # own rows to say: a call's label says only what its return revealed)
        return Said("connect() · in progress", arrow=True, in_flight=True)
    if event.error:
        return Said(f"{'→' if planned else '✗'} {call.value}: {event.error}", error=not planned)
    if call is Call.SOCKET:
        return Said(f"{event.socket} = socket()")
    if call is Call.SETSOCKOPT:
        return Said(short_option(event.args))
    if call is Call.SETBLOCKING:
        return Said("setblocking(False)")
    if call is Call.SELECT:
        return Said(f"select() → {', '.join(event.ready or ()) or 'nothing ready'}")
    if call is Call.WRAP:
        return Said("wrap_socket() · TLS")
    if call is Call.HANDSHAKE:
        return Said("do_handshake() → done")
    if call is Call.BIND:
        return Said(f"bind {event.local}")
    if call is Call.LISTEN:
        return Said(f"listen({event.args})")
    if call is Call.ACCEPT:
        return Said(f"accept() → {event.socket}")
    if call is Call.CONNECT and before is State.CREATED and was_connecting:
        return Said("connect() → connected")
    if call is Call.CONNECT:
        return (
            Said("connect() · handshake", arrow=True)
            if stream
            else Said("connect() · no packet sent")
        )
    if call in SENDS:
        return Said(f"{call.value} {event.nbytes} B", arrow=True, in_flight=True)
    if call in RECEIVES:
        if event.nbytes == 0 and stream:
            return Said(f"{call.value}() → 0 B (EOF)")
        return Said(f"{call.value}() → {event.nbytes} B")
    if call is Call.SHUTDOWN:
        # (no "· FIN": its return does not say what its kernel sent - a FIN, an RST, or
        # nothing; the wire's rows under it say what was seen)
        how = (event.args or "").replace("socket.", "")  # (SHUT_WR: the ladder is narrow)
        return Said(f"shutdown({how})")
    return Said("close()")  # (the same: an RST goes out with SO_LINGER 0, nothing after one)


def under_way(pending: StepPending) -> str:
    """A call seen to have begun (its first segment went out) that has not returned: its
    row on the ladder, above what crossed while it ran (its return gets a row of its own)."""
    return f"{pending.call.value}() begins"


def from_outside(event: CallEvent) -> str:
    """An arrow for bytes a program outside sockviz sent (curl, nc, a browser)."""
    return f"{event.nbytes} B from {event.remote or 'the peer'}"


def elided(event: Elided) -> str:
    return (
        f"… {event.count:,} more {event.call.value}() calls, "
        f"{human_bytes(event.nbytes)} (too many to draw; all counted)"
    )


def segment_label(segment: Segment) -> str:
    """A segment as a thin arrow says it: ``SYN seq 0``, ``SYN,ACK seq 0 ack 1``, ``ACK 1``,
    ``PSH,ACK 14 B``, ``FIN,ACK``, ``RST,ACK``, ``UDP 14 B`` - relative numbers only."""
    if segment.summed:  # (short: the ladder is narrow; the payload view has the rest)
        again = f", {segment.retransmissions:,} again" if segment.retransmissions else ""
        size = f" {human_bytes(segment.nbytes)}" if segment.nbytes else ""
        return f"{segment.flags or segment.proto} ×{segment.count:,}{size}{again}"
    if segment.proto == "ICMP":
        return f"ICMP {(segment.flags or '').replace('-', ' ')}"
    if segment.proto != "TCP":
        return f"{segment.proto} {segment.nbytes} B"
    flags = segment.flags or ""
    if "SYN" in flags:
        ack = f" ack {segment.ack_rel}" if segment.ack_rel is not None else ""
        return f"{flags} seq {segment.seq_rel}{ack}"
    if segment.nbytes and segment.tls:
        return f"{flags} {segment.nbytes} B · {tls_short(segment.tls)}"
    if segment.nbytes:
        return f"{flags} {segment.nbytes} B"
    if flags == "ACK":
        return f"ACK {segment.ack_rel}"
    return flags


#: TLS record names as a narrow ladder writes them.
_TLS_SHORT = {
    "ChangeCipherSpec": "CCS",
    "ApplicationData": "AppData",
    "Handshake (encrypted)": "Handshake*",
}


def tls_short(names: tuple[str, ...]) -> str:
    """A segment's TLS records in few letters: ``ServerHello+CCS+AppData×4`` (runs of one
    name counted)."""
    counted = [
        (name, len(list(same))) for name, same in groupby(_TLS_SHORT.get(n, n) for n in names)
    ]
    return "+".join(name if n == 1 else f"{name}×{n}" for name, n in counted)


def kernel_note(event: KernelEvent) -> str:
    """A kernel change, as a diagram's note: ``kernel: TIME_WAIT (60 s)``."""
    timer = f" ({event.timer:.0f} s)" if event.timer and event.kernel == "TIME_WAIT" else ""
    queue = f" · queue {event.queue[0]}/{event.queue[1]}" if event.queue else ""
    return f"kernel: {event.kernel}{timer}{queue}"


def log_line(event: CallEvent) -> str:
    """One line of the log for a call: number, socket, call(args), outcome."""
    args = event.args or ""
    if len(args) > 40:
        args = args[:39] + "…"
    parts = [f"{event.seq:>4}  {event.socket:<8} {event.call.value}({args})"]
    if event.error:
        parts.append(f"✗ {event.error} ({event.error_text})")
    else:
        outcome = [event.state.value if event.state else "—"]
        if event.nbytes is not None:
            outcome.append(f"{event.nbytes} B")
        if event.kernel:
            outcome.append(event.kernel)
        parts.append("→ " + " · ".join(outcome))
    return "  ".join(parts)


def kernel_log_line(event: KernelEvent) -> str:
    flow = ""
    if event.cwnd is not None:
        flow = (
            f" · RTT {event.rtt:g} ms, cwnd {event.cwnd}, sent again {event.retrans}"
            if event.rtt is not None
            else f" · cwnd {event.cwnd}"
        )
        if event.previous == event.kernel:
            return f"{event.seq:>4}  {event.socket:<8} kernel: {event.kernel}{flow}"
    return (
        f"{event.seq:>4}  {event.socket:<8} kernel: {event.previous or '—'} → "
        f"{event.kernel}" + (f" ({event.timer:.0f} s on its timer)" if event.timer else "") + flow
    )


def elided_log_line(event: Elided) -> str:
    return f"      {event.socket:<8} {elided(event)}"


def condensed(event: Condensed) -> str:
    """Whole connections of a flood, summed (a :class:`~sockviz.engine.events.Condensed`)."""
    return (
        f"… {event.count:,} connections, {event.first} to {event.last}: accepted, "
        f"served, closed - {event.calls:,} calls, {event.segments:,} segments, "
        f"↓{human_bytes(event.received)} ↑{human_bytes(event.sent)} (too many to "
        "draw; all counted)"
    )


_LINK_SAID = {
    "dropped": "  ✗ lost on the link (as asked)",
    "lost": "  ✗ lost on the link (at random)",
    "overflow": "  ✗ lost on the link (its queue was full)",
    "too-big": "  ✗ too big for the link's next hop",
    "held": "  ⏸ held at the sending side",
}


def log_text(event: Event) -> str:
    """The log's line for an event the fold logged (a call, a kernel change, a sum)."""
    if isinstance(event, CallEvent):
        return log_line(event)
    if isinstance(event, KernelEvent):
        return kernel_log_line(event)
    if isinstance(event, Segment):
        cause = f"  (after call {event.cause})" if event.cause is not None else "  (kernel)"
        link = _LINK_SAID.get(event.link or "", "")
        if event.retry is not None:
            link += f"  (sent again, {event.retry:g} s after the first)"
        return (
            f"{event.seq:>4}  {event.source:<8} wire → {event.target}: "
            f"{segment_label(event)}{cause}{link}"
        )
    if isinstance(event, LinkEvent):  # (the one kind whose call is "link")
        return (
            f"{event.seq:>4}  {event.source:<8} link: lets {event.flags or 'it'} "
            f"(packet {event.segment}) cross to {event.target}"
        )
    if isinstance(event, Elided):
        return elided_log_line(event)
    assert isinstance(event, Condensed), event  # (the fold logs no other kind)
    return f"      {condensed(event)}"
