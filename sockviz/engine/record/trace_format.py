"""Trace events as JSON Lines: one object a line, the same keys in the same order.

The first fifteen keys are the documented core (docs/trace-format.md); the rest add
detail. Bytes from a peer are never written raw: ``data`` is an escaped preview in which
printable ASCII stands for itself and every other byte is written ``\\xNN`` (a backslash
is ``\\\\``), so a trace is plain ASCII that no terminal will interpret, and the bytes can
be recovered exactly with :func:`unescape_bytes`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from typing import TypedDict

from sockviz.engine.events import (
    CallEvent,
    KernelEvent,
    LinkEvent,
    Segment,
    TcpSettings,
)
from sockviz.engine.preview import escape_bytes, unescape_bytes
from sockviz.engine.record.trace_lines import blocks_value, points_value
from sockviz.engine.states import Call, Role, State

TraceEvent = CallEvent | KernelEvent | Segment | LinkEvent | TcpSettings
"""What a trace line holds."""

__all__ = ["escape_bytes", "from_record", "read_trace", "to_line", "to_record", "unescape_bytes"]

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

#: Further keys of a ``"call": "packet"`` line (a segment that crossed the wire), after the
#: others (which it has too, null where they do not apply: ``socket`` is the run's socket
#: that sent it, or got it from an outside peer; ``local`` and ``remote`` are the sender's
#: and the receiver's addresses).
PACKET_KEYS = ("proto", "flags", "from", "to", "seq_rel", "ack_rel", "window", "options", "cause")
#: Further keys of a ``"call": "packets"`` line (a bulk transfer's segments one way, summed),
#: after :data:`PACKET_KEYS`.
SUM_KEYS = ("count", "largest", "retransmissions")
#: Further keys of a packet line on a two-host run's link, last: what the link did with it
#: (``crossed``, ``dropped``, ``lost``, ``held``), the seconds it takes to cross, and for
#: the kernel's sending it again, the seconds since it first sent it.
LINK_KEYS = ("link", "delay", "retry")
#: A select line's last key: the sockets select() returned ready, by name (``name:w`` for
#: one writable; empty: none before its timeout).
READY_KEY = "ready"
#: A packet line's last key, only where the segment carried SACK blocks: ``[[left, right],
#: ...]``, relative as ``ack_rel`` is.
SACK_KEY = "sack"
#: A packet line's TLS records, named (only where one begins in it).
TLS_KEY = "tls"
#: A packets line's key on a two-host run, after :data:`SUM_KEYS`: how many of its segments
#: the link never delivered (dropped, lost or its queue full).
LOST_KEY = "lost"
#: A packets line's last key, only where its frames were read: some of its segments,
#: spread over the transfer, for the time-sequence graph - each ``[t, seq_rel, nbytes,
#: ack_rel, window, resent, sack]`` (``resent``: it carried bytes sent before).
POINTS_KEY = "points"
#: Further keys of a ``kernel`` line on a two-host run, last: the kernel's smoothed RTT in
#: milliseconds, congestion window in segments, and segments sent again (``TCP_INFO``).
FLOW_KEYS = ("rtt", "cwnd", "retrans")
#: Further keys of a ``"call": "link"`` line (a held segment let cross), after the others.
RELEASE_KEYS = ("what", "segment", "from", "to", "flags", "delay")
#: Further keys of a ``"call": "tcp"`` line (the kernel's TCP settings at the run's start,
#: ``seq`` 0, before the run's first line; one a host on two hosts): the host read (null:
#: the run's one network) and ``{sysctl name: value or null}``.
TCP_KEYS = ("host", "settings")


def to_record(event: TraceEvent) -> dict[str, object]:
    """The trace line of an event, as a dict with :data:`ALL_KEYS` in order (and, for a
    segment, :data:`PACKET_KEYS` after them)."""
    if isinstance(event, Segment):
        record = dict.fromkeys(ALL_KEYS)
        record.update(
            seq=event.seq,
            t=event.t,
            socket=event.socket,
            call="packets" if event.summed else "packet",
            family=event.family,
            type="SOCK_STREAM" if event.proto == "TCP" else "SOCK_DGRAM",
            local=event.local,
            remote=event.remote,
            nbytes=event.nbytes,
        )
        record.update(
            zip(
                PACKET_KEYS,
                (
                    event.proto,
                    event.flags,
                    event.source,
                    event.target,
                    event.seq_rel,
                    event.ack_rel,
                    event.window,
                    event.options,
                    event.cause,
                ),
                strict=True,
            )
        )
        if event.summed:
            record.update(
                zip(SUM_KEYS, (event.count, event.largest, event.retransmissions), strict=True)
            )
            if event.lost is not None:
                record[LOST_KEY] = event.lost
            if event.points is not None:
                record[POINTS_KEY] = points_value(event.points)
        else:  # (every packet line: on loopback link and delay are null; retry is anyone's)
            record.update(zip(LINK_KEYS, (event.link, event.delay, event.retry), strict=True))
            if event.sack is not None:
                record[SACK_KEY] = blocks_value(event.sack)
            if event.tls is not None:
                record[TLS_KEY] = list(event.tls)
        return record
    if isinstance(event, TcpSettings):
        record = dict.fromkeys(ALL_KEYS)
        record.update(seq=0, t=0.0, call="tcp", host=event.host, settings=dict(event.values))
        return record
    if isinstance(event, LinkEvent):
        record = dict.fromkeys(ALL_KEYS)
        record.update(
            seq=event.seq,
            t=event.t,
            socket=event.socket,
            call="link",
            family=event.family,
            type="SOCK_STREAM",
            local=event.local,
            remote=event.remote,
        )
        record.update(
            zip(
                RELEASE_KEYS,
                (event.what, event.segment, event.source, event.target, event.flags, event.delay),
                strict=True,
            )
        )
        return record
    if isinstance(event, KernelEvent) and event.cwnd is not None:
        record = to_record(_plain_kernel(event))
        record.update(zip(FLOW_KEYS, (event.rtt, event.cwnd, event.retrans), strict=True))
        return record
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
    record = {
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
        "timer": event.timer,
        "partial": event.partial,
        "queue": list(event.queue) if event.queue else None,
    }
    if event.ready is not None:
        record[READY_KEY] = list(event.ready)
    return record


def _plain_kernel(event: KernelEvent) -> KernelEvent:
    return dataclasses.replace(event, rtt=None, cwnd=None, retrans=None)


def to_line(event: TraceEvent) -> str:
    """One JSON Lines line (no newline), ASCII only: ``json.dumps(to_record(event))``, made
    without the dict (see :mod:`sockviz.engine.record.trace_lines`)."""
    # (here: the lines' maker loads json, which the TUI's first frame does without)
    from sockviz.engine.record.trace_lines import line

    return line(event)


class _Common(TypedDict):
    """The fields a call line and a kernel line share (their lifecycle state apart)."""

    seq: int
    t: float
    socket: str
    role: Role
    family: str
    type: str
    local: str | None
    remote: str | None
    sent_total: int
    recv_total: int
    queue: tuple[int, int] | None


class TraceFormatError(ValueError):
    """A trace line that is not what ``--trace`` writes; says which line and why."""

    def __init__(self, line_number: int, reason: str) -> None:
        self.line_number = line_number
        self.reason = reason
        super().__init__(f"line {line_number}: {reason}")


def from_record(record: object) -> TraceEvent:
    """The event a trace line was made from (the inverse of :func:`to_record`), every field
    checked first (:mod:`sockviz.engine.record.field_checks`): ValueError says which and why."""
    # (here: the checks compile their patterns and load ipaddress, ~10 ms, for a replay only)
    from sockviz.engine.record import field_checks as f
    from sockviz.engine.record import wire_line_checks as w

    if not isinstance(record, dict):
        # (ValueError, as every other refusal here: a bad value in a file, not a bug)
        raise ValueError("expected a JSON object with the trace format's keys")
    missing = [key for key in CORE_KEYS if key not in record]
    if missing:
        raise ValueError(f"missing keys: {', '.join(missing)}")
    if record["call"] in ("packet", "packets"):
        return w.segment(record, summed=record["call"] == "packets")
    if record["call"] == "link":
        return w.link_event(record)
    if record["call"] == "tcp":
        return w.tcp_settings(record)
    role = Role(f.one_of(record, "role", {r.value for r in Role}, "a role such as client"))
    state_name = f.one_of(
        record,
        "state",
        {s.value for s in State},
        "a lifecycle state such as connected",
        optional=True,
    )
    state = State(state_name) if state_name is not None else None
    family = f.one_of(record, "family", f.FAMILIES, "AF_INET, AF_INET6 or AF_UNIX")
    common = _Common(
        seq=f.integer(record, "seq", f.MAX_SEQ),
        t=f.seconds(record, "t"),
        socket=f.socket_name(record, "socket"),
        role=role,
        family=family,
        type=f.one_of(record, "type", f.TYPES, "SOCK_STREAM or SOCK_DGRAM"),
        local=f.address(record, "local", family),
        remote=f.address(record, "remote", family),
        sent_total=f.integer(record, "sent_total", f.MAX_COUNT),
        recv_total=f.integer(record, "recv_total", f.MAX_COUNT),
        queue=f.queue(record, "queue"),
    )
    previous = f.kernel_state(record, "previous")
    timer = f.seconds(record, "timer", optional=True)
    if record["call"] == "kernel":
        if state is None:
            raise ValueError("state = None: expected a lifecycle state such as connected")
        return KernelEvent(
            **common,
            state=state,
            kernel=f.kernel_state(record, "kernel", optional=False),
            previous=previous,
            timer=timer,
            source=f.one_of(record, "source", f.SOURCES, "tcp_info or proc", optional=True)
            or "tcp_info",
            **w.flow_fields(record),
        )
    call = Call(
        f.one_of(
            record,
            "call",
            {c.value for c in Call} | {"kernel"},
            "a socket call such as connect, or kernel",
        )
    )
    return CallEvent(
        **common,
        call=call,
        state=state,  # type: ignore[arg-type]  # (a call line's state may be null, as ever)
        nbytes=f.integer(record, "nbytes", f.MAX_COUNT, optional=True),
        error=f.error_name(record, "error"),
        error_text=f.text(record, "error_text"),
        kernel=f.kernel_state(record, "kernel"),
        args=f.text(record, "args"),
        data=f.data(record, "data"),
        implicit_bind=f.flag(record, "implicit_bind"),
        parent=f.socket_name(record, "parent", optional=True),
        step=f.integer(record, "step", f.MAX_STEP, optional=True),
        parts=f.integer(record, "parts", f.MAX_COUNT, optional=True),
        partial=f.integer(record, "partial", f.MAX_COUNT, optional=True),
        timer=timer,
        ready=f.ready_names(record, READY_KEY) if call is Call.SELECT else None,
    )


#: Trace events one recording may hold, and events that may follow one step's call before
#: the next (its kernel changes): a classroom run makes dozens of each; these bound what a
#: file can make the UI draw at once.
MAX_EVENTS = 200_000
MAX_EVENTS_PER_STEP = 1_000


def read_trace(lines: Iterable[str], max_events: int = MAX_EVENTS) -> list[TraceEvent]:
    """Parse JSON Lines into events; :class:`TraceFormatError` names the first bad line.

    Besides each line's fields, the file as a whole must make sense: an ``accept`` names a
    listener seen before it, and there are at most ``max_events`` events, at most
    :data:`MAX_EVENTS_PER_STEP` of them after one step's call.
    """
    # (json.loads, refusing NaN and Infinity; here, as in from_record: a replay's cost only)
    from sockviz.engine.record.field_checks import loads

    events: list[TraceEvent] = []
    sockets: set[str | None] = set()
    calls: set[int] = set()  # the seqs of the calls so far, that a packet's cause names
    since_step = 0
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            event = from_record(loads(line))
        except RecursionError:
            raise TraceFormatError(number, "JSON nested too deeply to be a trace line") from None
        except (ValueError, TypeError, KeyError) as exc:
            raise TraceFormatError(number, str(exc)) from None
        parent = getattr(event, "parent", None)
        if parent is not None and parent not in sockets:
            raise TraceFormatError(
                number, f"parent = {parent!r}: no socket of that name came before this line"
            )
        cause = getattr(event, "cause", None)
        if cause is not None and cause not in calls:
            raise TraceFormatError(
                number, f"cause = {cause}: no call with that seq came before this line"
            )
        if isinstance(event, CallEvent):
            calls.add(event.seq)
        if isinstance(event, CallEvent) and event.step is not None:
            since_step = 0
        else:
            since_step += 1
            if since_step > MAX_EVENTS_PER_STEP:
                raise TraceFormatError(
                    number,
                    f"more than {MAX_EVENTS_PER_STEP:,} events "
                    "after one step's call: not a run sockviz recorded",
                )
        if len(events) >= max_events:
            raise TraceFormatError(
                number, f"more than {max_events:,} events: longer than any run sockviz records"
            )
        sockets.add(event.socket)
        events.append(event)
    return events
