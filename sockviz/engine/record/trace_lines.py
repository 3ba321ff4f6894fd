"""Trace lines written fast: the very text ``json.dumps(to_record(event))`` gives (the test
suite holds the two to each other on every scenario's events), built for each kind of
event from its fields in the trace's order, without the dict in between.

A flood into ``--listen --trace`` writes sixteen lines a connection; through a dict and the
general encoder a line cost ~12 µs here, this way ~4. Numbers that are always there are
written with ``repr`` (what the encoder uses for an int or a finite float). Every string that
may come from outside (socket names from a scenario file, addresses, error texts, arguments,
an escaped preview of a peer's bytes) goes through the standard library's JSON string
encoder, so a line is ASCII and well formed whatever it holds.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from json.encoder import encode_basestring_ascii as _quote

from sockviz.engine.events import CallEvent, KernelEvent, LinkEvent, Point, Segment, TcpSettings
from sockviz.engine.preview import escape_bytes


def _s(value: str | None) -> str:
    return "null" if value is None else _quote(value)


def _n(value: float | None) -> str:
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
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    return int.__repr__(int(value))  # (an int here: bool and float are written above)


def _queue(queue: tuple[int, int] | None) -> str:
    return "[" + ", ".join(map(_n, queue)) + "]" if queue else "null"


def call_line(e: CallEvent) -> str:
    n, q = "null", _quote
    return (
        f'{{"seq": {e.seq!r}, "t": {e.t!r}, "socket": {q(e.socket)}, '
        f'"role": {q(e.role._value_)}, "call": {q(e.call._value_)}, '
        f'"state": {n if e.state is None else q(e.state._value_)}, '
        f'"family": {n if e.family is None else q(e.family)}, '
        f'"type": {n if e.type is None else q(e.type)}, '
        f'"local": {n if e.local is None else q(e.local)}, '
        f'"remote": {n if e.remote is None else q(e.remote)}, '
        f'"nbytes": {n if e.nbytes is None else repr(e.nbytes)}, '
        f'"sent_total": {e.sent_total!r}, '
        f'"recv_total": {e.recv_total!r}, "error": {n if e.error is None else q(e.error)}, '
        f'"kernel": {n if e.kernel is None else q(e.kernel)}, '
        f'"error_text": {n if e.error_text is None else q(e.error_text)}, '
        f'"args": {n if e.args is None else q(e.args)}, '
        f'"data": {n if e.data is None else q(escape_bytes(e.data))}, '
        f'"implicit_bind": {"true" if e.implicit_bind else "false"}, '
        f'"parent": {n if e.parent is None else q(e.parent)}, '
        f'"parts": {n if e.parts is None else repr(e.parts)}, '
        f'"step": {n if e.step is None else repr(e.step)}, "previous": null, '
        f'"timer": {_n(e.timer)}, "partial": {n if e.partial is None else repr(e.partial)}, '
        f'"queue": {_queue(e.queue)}'
        + ("}" if e.ready is None else f', "ready": {json.dumps(list(e.ready))}}}')
    )


def kernel_line(e: KernelEvent) -> str:
    return (
        f'{{"seq": {e.seq!r}, "t": {e.t!r}, "socket": {_s(e.socket)}, '
        f'"role": {_quote(e.role._value_)}, "call": "kernel", '
        f'"state": {_s(e.state._value_ if e.state else None)}, "family": {_s(e.family)}, '
        f'"type": {_s(e.type)}, "local": {_s(e.local)}, "remote": {_s(e.remote)}, '
        f'"nbytes": null, "sent_total": {e.sent_total!r}, '
        f'"recv_total": {e.recv_total!r}, "error": null, "kernel": {_s(e.kernel)}, '
        f'"error_text": null, "args": null, "data": null, "implicit_bind": null, '
        f'"parent": null, "parts": null, "step": null, "previous": {_s(e.previous)}, '
        f'"timer": {_n(e.timer)}, "partial": null, "queue": {_queue(e.queue)}'
        + (
            "}"
            if e.cwnd is None
            else f', "rtt": {_n(e.rtt)}, "cwnd": {_n(e.cwnd)}, "retrans": {_n(e.retrans)}}}'
        )
    )


def segment_line(e: Segment) -> str:
    n, q = "null", _quote
    summed = e.summed
    call = '"packets"' if summed else '"packet"'
    kind = '"SOCK_STREAM"' if e.proto == "TCP" else '"SOCK_DGRAM"'
    line = (
        f'{{"seq": {e.seq!r}, "t": {e.t!r}, "socket": {n if e.socket is None else q(e.socket)}, '
        f'"role": null, "call": {call}, "state": null, '
        f'"family": {n if e.family is None else q(e.family)}, "type": {kind}, '
        f'"local": {n if e.local is None else q(e.local)}, '
        f'"remote": {n if e.remote is None else q(e.remote)}, '
        f'"nbytes": {n if e.nbytes is None else repr(e.nbytes)}, '
        f'"sent_total": null, "recv_total": null, "error": null, "kernel": null, '
        f'"error_text": null, "args": null, "data": null, "implicit_bind": null, '
        f'"parent": null, "parts": null, "step": null, "previous": null, "timer": null, '
        f'"partial": null, "queue": null, "proto": {n if e.proto is None else q(e.proto)}, '
        f'"flags": {n if e.flags is None else q(e.flags)}, '
        f'"from": {n if e.source is None else q(e.source)}, '
        f'"to": {n if e.target is None else q(e.target)}, '
        f'"seq_rel": {n if e.seq_rel is None else repr(e.seq_rel)}, '
        f'"ack_rel": {n if e.ack_rel is None else repr(e.ack_rel)}, '
        f'"window": {n if e.window is None else repr(e.window)}, '
        f'"options": {n if e.options is None else q(e.options)}, '
        f'"cause": {n if e.cause is None else repr(e.cause)}'
    )
    if summed:
        line += (
            f', "count": {_n(e.count)}, "largest": {_n(e.largest)}, '
            f'"retransmissions": {_n(e.retransmissions)}'
        )
        if e.lost is not None:
            line += f', "lost": {e.lost!r}'
        if e.points is not None:
            line += ', "points": ' + json.dumps(points_value(e.points))
    else:
        line += (
            f', "link": {n if e.link is None else q(e.link)}, "delay": {_n(e.delay)}, '
            f'"retry": {_n(e.retry)}'
        )
        if e.sack is not None:
            line += f', "sack": {json.dumps(blocks_value(e.sack))}'
        if e.tls is not None:
            line += f', "tls": {json.dumps(list(e.tls))}'
    return line + "}"


def link_line(e: LinkEvent) -> str:
    return (
        f'{{"seq": {e.seq!r}, "t": {e.t!r}, "socket": {_s(e.socket)}, "role": null, '
        f'"call": "link", "state": null, "family": {_s(e.family)}, "type": "SOCK_STREAM", '
        f'"local": {_s(e.local)}, "remote": {_s(e.remote)}, "nbytes": null, '
        f'"sent_total": null, "recv_total": null, "error": null, "kernel": null, '
        f'"error_text": null, "args": null, "data": null, "implicit_bind": null, '
        f'"parent": null, "parts": null, "step": null, "previous": null, "timer": null, '
        f'"partial": null, "queue": null, "what": {_s(e.what)}, "segment": {e.segment!r}, '
        f'"from": {_s(e.source)}, "to": {_s(e.target)}, "flags": {_s(e.flags)}, '
        f'"delay": {_n(e.delay)}}}'
    )


def tcp_line(e: TcpSettings) -> str:
    settings = ", ".join(f"{_quote(name)}: {_s(value)}" for name, value in e.values)
    return (
        '{"seq": 0, "t": 0.0, "socket": null, "role": null, "call": "tcp", "state": null, '
        '"family": null, "type": null, "local": null, "remote": null, "nbytes": null, '
        '"sent_total": null, "recv_total": null, "error": null, "kernel": null, '
        '"error_text": null, "args": null, "data": null, "implicit_bind": null, '
        '"parent": null, "parts": null, "step": null, "previous": null, "timer": null, '
        f'"partial": null, "queue": null, "host": {_s(e.host)}, "settings": {{{settings}}}}}'
    )


def line(event: CallEvent | KernelEvent | Segment | LinkEvent | TcpSettings) -> str:
    """The event's trace line (no newline)."""
    if type(event) is CallEvent:
        return call_line(event)
    if type(event) is Segment:
        return segment_line(event)
    if type(event) is KernelEvent:
        return kernel_line(event)
    if type(event) is LinkEvent:
        return link_line(event)
    if type(event) is TcpSettings:
        return tcp_line(event)
    raise KeyError(type(event))  # (as the table of line makers this was said it)


def blocks_value(sack: tuple[tuple[int, int], ...] | None) -> list[list[int]] | None:
    """SACK blocks as a trace line has them."""
    return None if sack is None else [[left, right] for left, right in sack]


def points_value(points: Iterable[Point]) -> list[list[object]]:
    """A sum's graph points as a trace line has them (:data:`POINTS_KEY`)."""
    return [
        [p.t, p.seq_rel, p.nbytes, p.ack_rel, p.window, p.resent, blocks_value(p.sack)]
        for p in points
    ]
