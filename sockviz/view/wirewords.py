"""The wire in words: what crossed under a call and why, and a segment's header spelled out.

Said from what was captured, never from what a call is supposed to send: a call that sent
nothing is said to have sent nothing. Standard library only.
"""

from __future__ import annotations

from collections.abc import Mapping

from sockviz.engine.events import CallEvent, Segment, WireStatus
from sockviz.engine.states import Call, Role
from sockviz.view.model import CardModel
from sockviz.view.words import human_bytes, segment_label

#: What each TCP flag means, for the payload view.
FLAG_MEANING = {
    "SYN": "synchronise: opens a connection, carries the sender's first sequence number",
    "ACK": "acknowledges every byte before ack",
    "PSH": "push: hand the data to the program now",
    "FIN": "finished: the sender will send no more",
    "RST": "reset: the connection is refused or torn down at once",
    "URG": "urgent data", "ECE": "congestion seen", "CWR": "congestion window reduced",
}


def _who(name: str, models: Mapping[str, CardModel]) -> str:
    """``the server's kernel``-style naming: a socket of the run, or an outside peer."""
    model = models.get(name)
    if model is None:
        return f"the peer at {name}" if ":" in name else name
    return name


def _says(segment: Segment) -> str:
    if segment.proto != "TCP":
        return f"a datagram of {segment.nbytes} B"
    return segment_label(segment)


def story(call: CallEvent, caused: tuple[Segment, ...],
          models: Mapping[str, CardModel], status: WireStatus | None = None) -> str | None:
    """What crossed the wire because of ``call``, in a sentence or three (None: nothing to
    say; for a run on Unix-domain sockets, said under the calls that move bytes)."""
    name = f"{call.call.value}()"
    if status is not None and status.where is None:
        if call.call in (Call.SEND, Call.SENDALL, Call.SENDTO) and not call.error:
            return f"none. {status.note}."
        return None
    if not caused:
        if call.call is Call.ACCEPT and not call.error:
            return (f"{name} sent nothing: the kernel had finished the handshake before it, "
                    "and the connection waited in the accept queue.")
        if call.call in (Call.SOCKET, Call.BIND, Call.LISTEN, Call.SETSOCKOPT):
            return f"{name} sent nothing: it only sets up the socket in this machine's kernel."
        if call.call in (Call.RECV, Call.RECVFROM) and call.nbytes == 0 and not call.error:
            return (f"{name} sent nothing: the peer's FIN had already arrived; {name} only "
                    "reports it (end of stream).")
        if call.call in (Call.RECV, Call.RECVFROM):
            return (f"{name} sent nothing: the bytes were already in {call.socket}'s receive "
                    "buffer, acknowledged by its kernel when they came.")
        return f"Nothing crossed the wire because of {name}."
    if caused[0].summed:
        parts = [f"{_who(s.source, models)} sent {s.count:,} segments, "
                 f"{human_bytes(s.nbytes)} (largest {human_bytes(s.largest or 0)})"
                 + (f", {s.retransmissions:,} sent again" if s.retransmissions else "")
                 for s in caused]
        return "The transfer on the wire: " + "; ".join(parts) + "."
    flags = [s.flags or "" for s in caused]
    first = caused[0]
    if call.call is Call.CONNECT and flags[:1] == ["SYN"]:
        if len(flags) > 1 and flags[1].startswith("RST"):
            return (f"{name} sent SYN; nothing listens on that port, so the kernel there "
                    f"answered {flags[1]}: the connection is refused.")
        if flags[1:3] == ["SYN,ACK", "ACK"]:
            listener = models.get(caused[1].source)
            waited = (" before accept() was called - the connection waited in the accept "
                      "queue" if listener is not None and listener.role is Role.LISTENER
                      else "")
            return (f"{name} sent SYN; {_who(caused[1].source, models)}'s kernel answered "
                    f"SYN-ACK{waited}; {call.socket}'s kernel sent the ACK that completes "
                    "the handshake.")
    sentences = []
    carried = False  # (the segment before carried bytes)
    for segment in caused:
        who = _who(segment.source, models)
        said = _says(segment)
        if segment.source == call.socket:
            sentences.append(f"{name} sent {said}")
        elif segment.flags == "ACK" and carried:
            sentences.append(f"{who}'s kernel acknowledged at once ({said}) - before any "
                             "recv(): the kernel, not the program, answers")
        elif segment.flags == "ACK":
            sentences.append(f"{who}'s kernel acknowledged it ({said})")
        else:
            sentences.append(f"{who}'s kernel sent {said}")
        carried = segment.nbytes > 0
    text = "; ".join(sentences) + "."
    if first.flags and first.flags.startswith("RST") and first.source == call.socket:
        text += " A reset: the peer's next call fails with ECONNRESET or EPIPE."
    if first.proto == "UDP":
        text += " UDP has no handshake and no acknowledgements: one datagram per call."
    return text  # (it begins with a call or a socket name: as written, not capitalised)


def wire_note(status: WireStatus | None) -> str | None:
    """One line for a run whose wire is not watched (None when it is, or nothing was said)."""
    if status is None or status.where is not None:
        return None
    return status.note


def header_lines(segment: Segment) -> list[str]:
    """A segment's header, field by field, as the payload view shows it."""
    if segment.summed:
        how = ("counted by the kernel at both ends (TCP_INFO) while the transfer ran: "
               "reading each would have slowed it" if segment.seq_rel is None
               else "each one captured (--pcap keeps them all)")
        return [(f"{segment.count:,} {segment.proto} segments from {segment.source} to "
                 f"{segment.target}: a bulk transfer's, summed, never drawn one by one"),
                how,
                f"payload: {segment.nbytes:,} bytes in all",
                f"largest segment: {segment.largest:,} B",
                f"sent again (retransmissions): {segment.retransmissions:,}",
                f"flags: {segment.flags or '-'}"]
    lines = [(f"{segment.proto} {'segment' if segment.proto == 'TCP' else 'datagram'}  "
             f"{segment.local} → {segment.remote}"),
             f"from {segment.source} to {segment.target}"]
    if segment.proto == "TCP":
        lines.append(f"flags: {segment.flags}")
        lines += [f"  {flag}: {FLAG_MEANING.get(flag, '')}"
                  for flag in (segment.flags or "").split(",") if flag]
        ack = f"   ack {segment.ack_rel} (relative)" if segment.ack_rel is not None else ""
        lines.append(f"seq {segment.seq_rel} (relative){ack}")
        lines.append(f"window: {segment.window} B")
        if segment.options:
            lines.append(f"options: {segment.options}")
    lines.append(f"payload: {segment.nbytes} B")
    lines.append(f"caused by call {segment.cause}" if segment.cause is not None
                 else "sent by the kernel on its own (no call made it)")
    return lines
