"""Trace lines written fast: the very text ``json.dumps(to_record(event))`` gives (the test
suite holds the two to each other on every scenario's events), built for each kind of
event from its fields in the trace's order, without the dict in between.

A flood into ``--listen --trace`` writes sixteen lines a connection; through a dict and the
general encoder a line cost ~12 µs here, this way ~4. Every string that may come from
outside (socket names from a scenario file, addresses, error texts, arguments, an escaped
preview of a peer's bytes) goes through the standard library's JSON string encoder, so a
line is ASCII and well formed whatever it holds.
"""

from __future__ import annotations

import math
from json.encoder import encode_basestring_ascii as _quote

from sockviz.engine.events import CallEvent, KernelEvent, Segment
from sockviz.engine.preview import escape_bytes


def _s(value: str | None) -> str:
    return "null" if value is None else _quote(value)


def _n(value) -> str:
    """A number (or a bool, or None) as JSON writes it."""
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if type(value) is float:
        if math.isfinite(value):
            return float.__repr__(value)
        return "NaN" if value != value else ("Infinity" if value > 0 else "-Infinity")
    return int.__repr__(value)


def _queue(queue) -> str:
    return "[" + ", ".join(map(_n, queue)) + "]" if queue else "null"


def call_line(e: CallEvent) -> str:
    return (
        f'{{"seq": {_n(e.seq)}, "t": {_n(e.t)}, "socket": {_s(e.socket)}, '
        f'"role": {_quote(e.role.value)}, "call": {_quote(e.call.value)}, '
        f'"state": {_s(e.state.value if e.state else None)}, "family": {_s(e.family)}, '
        f'"type": {_s(e.type)}, "local": {_s(e.local)}, "remote": {_s(e.remote)}, '
        f'"nbytes": {_n(e.nbytes)}, "sent_total": {_n(e.sent_total)}, '
        f'"recv_total": {_n(e.recv_total)}, "error": {_s(e.error)}, '
        f'"kernel": {_s(e.kernel)}, "error_text": {_s(e.error_text)}, '
        f'"args": {_s(e.args)}, '
        f'"data": {"null" if e.data is None else _quote(escape_bytes(e.data))}, '
        f'"implicit_bind": {_n(e.implicit_bind)}, "parent": {_s(e.parent)}, '
        f'"parts": {_n(e.parts)}, "step": {_n(e.step)}, "previous": null, "timer": null, '
        f'"partial": {_n(e.partial)}, "queue": {_queue(e.queue)}}}'
    )


def kernel_line(e: KernelEvent) -> str:
    return (
        f'{{"seq": {_n(e.seq)}, "t": {_n(e.t)}, "socket": {_s(e.socket)}, '
        f'"role": {_quote(e.role.value)}, "call": "kernel", '
        f'"state": {_s(e.state.value if e.state else None)}, "family": {_s(e.family)}, '
        f'"type": {_s(e.type)}, "local": {_s(e.local)}, "remote": {_s(e.remote)}, '
        f'"nbytes": null, "sent_total": {_n(e.sent_total)}, '
        f'"recv_total": {_n(e.recv_total)}, "error": null, "kernel": {_s(e.kernel)}, '
        f'"error_text": null, "args": null, "data": null, "implicit_bind": null, '
        f'"parent": null, "parts": null, "step": null, "previous": {_s(e.previous)}, '
        f'"timer": {_n(e.timer)}, "partial": null, "queue": {_queue(e.queue)}}}'
    )


def segment_line(e: Segment) -> str:
    summed = e.summed
    call = '"packets"' if summed else '"packet"'
    kind = '"SOCK_STREAM"' if e.proto == "TCP" else '"SOCK_DGRAM"'
    line = (
        f'{{"seq": {_n(e.seq)}, "t": {_n(e.t)}, "socket": {_s(e.socket)}, "role": null, '
        f'"call": {call}, "state": null, "family": {_s(e.family)}, "type": {kind}, '
        f'"local": {_s(e.local)}, "remote": {_s(e.remote)}, "nbytes": {_n(e.nbytes)}, '
        f'"sent_total": null, "recv_total": null, "error": null, "kernel": null, '
        f'"error_text": null, "args": null, "data": null, "implicit_bind": null, '
        f'"parent": null, "parts": null, "step": null, "previous": null, "timer": null, '
        f'"partial": null, "queue": null, "proto": {_s(e.proto)}, "flags": {_s(e.flags)}, '
        f'"from": {_s(e.source)}, "to": {_s(e.target)}, "seq_rel": {_n(e.seq_rel)}, '
        f'"ack_rel": {_n(e.ack_rel)}, "window": {_n(e.window)}, '
        f'"options": {_s(e.options)}, "cause": {_n(e.cause)}'
    )
    if summed:
        line += (f', "count": {_n(e.count)}, "largest": {_n(e.largest)}, '
                 f'"retransmissions": {_n(e.retransmissions)}')
    return line + "}"


_LINES = {CallEvent: call_line, KernelEvent: kernel_line, Segment: segment_line}


def line(event: CallEvent | KernelEvent | Segment) -> str:
    """The event's trace line (no newline)."""
    return _LINES[type(event)](event)
