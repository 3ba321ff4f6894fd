"""What each direction of a connection has sent, to know a sending again: the kernel's
retransmissions, as Wireshark's ``tcp.analysis.retransmission`` marks them.

Why apart from :mod:`sockviz.engine.wire.segments`: it is one question with its own memory
(what was sent, what is acknowledged, the highest sequence number each way) and its own
arithmetic (sequence numbers modulo 2**32), asked of every TCP segment the reader names.
Standard library only.
"""

from __future__ import annotations

import collections

from sockviz.engine.wire.frame_parser import Frame

#: Two addresses, (from, to): one direction of a connection.
Direction = tuple[str, str]
#: What a direction sent, to know it again: (``SYN``, 0) for its SYN - alone or in a SYN,ACK,
#: the same sequence number (a simultaneous open's SYN,ACK sends the SYN again) - (``FIN``,
#: its relative sequence number) or (``data``, the relative sequence number it starts at).
Sending = tuple[str, int]
#: When a sending went first, and the relative sequence number just past it.
FirstSent = tuple[float, int]

#: Sendings kept per direction after an ACK let go of them (:attr:`Resends._acked`).
ACKED_KEPT = 64
_MASK, _HALF = (1 << 32) - 1, 1 << 31
"""Sequence numbers are compared modulo 2**32."""


class Resends:
    """Each direction's sendings, first times and acknowledged ones (see the module
    docstring)."""

    def __init__(self) -> None:
        self._high: dict[Direction, int] = {}
        """For each direction (from, to): the sequence number just past the
        highest it sent. What starts below it is the kernel sending it again (as Wireshark
        marks a retransmission), however the link and the ACKs have fared."""
        self._first: dict[Direction, dict[Sending, FirstSent]] = {}
        """For each direction: what it sent that is not acknowledged yet (its
        SYN, its FIN, or the bytes from a sequence number on) -> (when it was first sent,
        the sequence number just past it), for the seconds since. An acknowledgement that
        crossed lets go of what it covers, into :attr:`_acked`: the size is a window's, not
        a transfer's."""
        self._acked: dict[Direction, collections.deque[tuple[Sending, FirstSent]]] = {}
        """For each direction: the last :data:`ACKED_KEPT` sendings let go of
        (key, (when, past)) - a kernel may send again what an ACK already on its way
        covers (a SYN retried while the SYN-ACK crosses)."""

    def forget(self, pair: Direction) -> None:
        """``pair``'s sendings are no more (its connection is gone, or a new one on the
        same addresses began)."""
        self._first.pop(pair, None)
        self._high.pop(pair, None)
        self._acked.pop(pair, None)

    def retry(
        self, frame: Frame, src: str, dst: str, seq_rel: int | None, ack_rel: int | None
    ) -> float | None:
        """Seconds since the kernel first sent what ``frame`` carries (its SYN, its FIN, or
        its bytes from ``seq_rel`` on, in whatever segments they went first), or None when
        this is the first time: a SYN, FIN or bytes that start below the highest its sender
        had sent, as Wireshark's ``tcp.analysis.retransmission`` marks them."""
        if frame.proto != "TCP" or seq_rel is None:
            return None
        if ack_rel is not None and frame.link in (None, "crossed"):
            self.let_go((dst, src), ack_rel)
        flags = frame.flags
        what: Sending
        if "SYN" in flags:
            what = ("SYN", 0)
        elif frame.nbytes:
            what = ("data", seq_rel)
        elif "FIN" in flags:
            what = ("FIN", seq_rel)
        else:
            return None  # (a bare ACK is never sent again as such)
        end = (seq_rel + frame.nbytes + ("SYN" in flags) + ("FIN" in flags)) & _MASK
        pair = (src, dst)
        sent = self._first.setdefault(pair, {})
        high = self._high.get(pair)
        again = high is not None and (seq_rel - high) & _MASK >= _HALF
        if high is None or (end - high) & _MASK < _HALF:
            self._high[pair] = end
        if not again:
            sent[what] = (frame.t, end)
            return None
        kept = (*sent.items(), *self._acked.get(pair, ()))
        first = next(
            (
                when
                for key, (when, past) in kept
                if key == what
                or (
                    key[0] == what[0] == "data"
                    and (seq_rel - key[1]) & _MASK < (past - key[1]) & _MASK
                )
            ),
            None,
        )
        if first is None:  # (first sent before the oldest sending kept: at least that long)
            first = min((when for _key, (when, _past) in kept), default=frame.t)
        return round(frame.t - first, 3)

    def let_go(self, pair: Direction, ack: int) -> None:
        """What ``pair`` sent that ``ack`` (from the other way) wholly covers is let go of
        (kept a while in :attr:`_acked`)."""
        unacked = self._first.get(pair)
        while unacked:
            key = next(iter(unacked))
            if (ack - unacked[key][1]) & _MASK >= _HALF:
                break  # (not wholly acknowledged yet)
            self._acked.setdefault(pair, collections.deque(maxlen=ACKED_KEPT)).append(
                (key, unacked.pop(key))
            )
