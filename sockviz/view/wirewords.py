"""The wire in words: what crossed under a call and why, and a segment's header spelled out.

Said from what was captured, never from what a call is supposed to send: a call that sent
nothing is said to have sent nothing. Standard library only.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sockviz.engine.events import UNDELIVERED, CallEvent, Segment, StepPending, WireStatus
from sockviz.engine.states import Call, Role
from sockviz.engine.wire.tls_records import UNSEEN
from sockviz.view import flow_control
from sockviz.view.linkview import seconds
from sockviz.view.run_view import CardModel
from sockviz.view.words import human_bytes, segment_label

#: A bare ACK that left this long (or longer) after the segment it answers reached its
#: kernel was held by that kernel's delayed-ACK timer; sooner, it was sent at once.
DELAYED = 0.010


def _who(name: str, models: Mapping[str, CardModel]) -> str:
    """``the server's kernel``-style naming: a socket of the run, or an outside peer."""
    model = models.get(name)
    if model is None:
        return f"the peer at {name}" if ":" in name else name
    return name


def _kernel_of(name: str, models: Mapping[str, CardModel]) -> str:
    """``client's kernel``, or ``the kernel at 127.0.0.1:5000`` (a segment named by its
    address: an outside peer, or a kernel with no socket of the run behind it)."""
    if name not in models and ":" in name:
        return f"the kernel at {name}"
    return f"{name}'s kernel"


def _says(segment: Segment) -> str:
    if segment.proto == "ICMP":
        return segment_label(segment)
    if segment.proto != "TCP":
        return f"a datagram of {segment.nbytes} B"
    if segment.tls:  # (the records' names in full: the ladder has them short)
        names = [n for n in segment.tls if n != UNSEEN]
        more = " and more past the bytes captured" if UNSEEN in segment.tls else ""
        return f"{segment.flags} {segment.nbytes} B (TLS records: {', '.join(names)}{more})"
    return segment_label(segment)


def _tls_words(call: CallEvent, caused: tuple[Segment, ...]) -> str:
    """For a send on a TLS socket: the plaintext it was given against the bytes that crossed
    (its own segments that carried records); empty for anything else."""
    own = [s for s in caused if s.nbytes and s.retry is None and _calls_own(call, s)]
    if call.call not in (Call.SEND, Call.SENDALL) or not call.nbytes or not any(s.tls for s in own):
        return ""
    wire = sum(s.nbytes for s in own)
    return (
        f" TLS sent the {call.nbytes:,} B of plaintext as {wire:,} B of records: each "
        "record's 5-byte header and what its encryption adds make the difference."
    )


def _bare_ack(segment: Segment) -> bool:
    """An acknowledgement and nothing else: no payload, no SYN, FIN or RST."""
    return segment.proto == "TCP" and segment.flags == "ACK" and not segment.nbytes


def _calls_own(call: CallEvent, segment: Segment) -> bool:
    """Whether ``segment`` is one ``call`` itself sent: from its socket, while it ran (its
    cause, or - come before the call's own event - none), sent for the first time, and of
    the kind the call sends (a SYN for connect(), bytes for a send, a FIN or an RST for
    close() and shutdown(), records for do_handshake()). Everything else is a kernel's own
    doing."""
    if segment.source != call.socket or segment.retry is not None:
        return False
    if segment.cause != call.seq and not (segment.cause is None and segment.seq < call.seq):
        return False
    if segment.proto != "TCP":
        return call.call in (Call.SEND, Call.SENDALL, Call.SENDTO)
    flags = segment.flags or ""
    if call.call is Call.CONNECT:
        return flags == "SYN"
    if call.call in (Call.SEND, Call.SENDALL, Call.SENDTO, Call.HANDSHAKE):
        return segment.nbytes > 0  # (a TLS handshake writes its records: bytes too)
    if call.call in (Call.CLOSE, Call.SHUTDOWN):
        return "FIN" in flags or "RST" in flags
    return False


def _trigger(ack: Segment, before: tuple[Segment, ...]) -> Segment | None:
    """What ``ack`` answers: the newest segment from the other end carrying something
    (bytes, a SYN, a FIN) that had reached ``ack``'s kernel when ``ack`` left (its capture
    plus its time on a link)."""
    for earlier in reversed(before):
        flags = earlier.flags or ""
        if (
            earlier.source == ack.target
            and earlier.seq_rel is not None
            and (earlier.nbytes or "SYN" in flags or "FIN" in flags)
            and earlier.link not in {*UNDELIVERED, "held"}
            and earlier.t + (earlier.delay or 0.0) <= ack.t + 0.001
        ):
            return earlier
    return None


#: Smaller than every MSS a kernel may use (RFC 9293's default, 536): a small segment.
SMALL = 536


def _held_back(segment: Segment, before: tuple[Segment, ...]) -> float | None:
    """Seconds a small data segment waited after the sender's bytes before it - when it
    left as the peer's ACK of exactly those bytes came (within 2 ms): what Nagle's
    algorithm does. None for any other segment."""
    if segment.proto != "TCP" or not 0 < segment.nbytes < SMALL or segment.retry is not None:
        return None
    acks = [
        s
        for s in before
        if s.source == segment.target and s.ack_rel == segment.seq_rel and _bare_ack(s)
    ]
    sent = [
        s
        for s in before
        if s.source == segment.source
        and s.nbytes
        and s.seq_rel is not None
        and s.seq_rel + s.nbytes == segment.seq_rel
    ]
    if not acks or not sent:
        return None
    came = acks[-1].t + (acks[-1].delay or 0.0)
    waited = segment.t - sent[-1].t
    if not 0 <= segment.t - came <= 0.002 or waited < DELAYED:
        return None
    return waited


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms"


def _acks_synack_again(ack: Segment, before: tuple[Segment, ...]) -> bool:
    """Whether ``ack`` repeats the acknowledgement of a handshake whose SYN-ACK its peer's
    kernel sent again: an ACK with the same number went out before it, and a SYN-ACK
    sent again by that peer came before it (a held handshake: each SYN-ACK that reaches
    an established socket is answered with an ACK)."""
    return any(
        s.source == ack.source and _bare_ack(s) and s.ack_rel == ack.ack_rel for s in before
    ) and any(
        s.source == ack.target and s.flags == "SYN,ACK" and s.retry is not None for s in before
    )


def _ack_words(
    call: CallEvent, segment: Segment, before: tuple[Segment, ...], models: Mapping[str, CardModel]
) -> str:
    """A bare ACK, said with what it answers and how long after that reached its kernel
    (measured: the answered segment's capture plus its time on the link, to this one's
    capture)."""
    kernel, said = _kernel_of(segment.source, models), _says(segment)
    own = ", on its own" if segment.cause is None else ""
    if _acks_synack_again(segment, before):
        return f"{kernel} acknowledged a SYN-ACK sent again ({said}){own}"
    answered = _trigger(segment, before)
    again = any(
        s.local == segment.local and s.ack_rel == segment.ack_rel and s.seq < segment.seq
        for s in before
        if answered is not None and s.seq > answered.seq
    )  # (its end - its address: a SYN-ACK is the listener's - had acknowledged that number
    # already: this ACK answers something else, a keepalive or a probe, not what came last)
    if answered is None or segment.ack_rel is None or again:
        return f"{kernel} acknowledged ({said}){own}"
    if (
        answered.seq_rel is not None and answered.seq_rel >= segment.ack_rel
    ):  # (bytes came after a gap: it asks again)
        sack = (
            " - its SACK blocks name what came"
            if "sack" in (segment.options or "").split(",")
            else ""
        )
        return (
            f"{kernel} acknowledged only up to {segment.ack_rel} ({said}){own}: bytes "
            f"after a gap came{sack}"
        )
    late = segment.t - (answered.t + (answered.delay or 0.0))
    flags = answered.flags or ""
    what = "the FIN" if "FIN" in flags else "the SYN-ACK" if "SYN" in flags else "the bytes"
    if answered.retry is not None:  # (the first sending was lost: this answers the next)
        what += " sent again"
    if late >= DELAYED:
        return f"{kernel} acknowledged {what} {_ms(late)} later, on its own: a delayed ACK ({said})"
    if answered.nbytes and call.call in (Call.SEND, Call.SENDALL, Call.SENDTO):
        return (
            f"{kernel} acknowledged at once ({said}) - before any recv(): the "
            "kernel, not the program, answers"
        )
    return f"{kernel} acknowledged {what} ({said}){own}"


_ICMP_WHY = {
    "port-unreachable": "nothing listens on port {port} there",
    "host-unreachable": "the host could not be reached",
    "net-unreachable": "no route to that network",
    "no-route": "no route to that network",
    "frag-needed": "the packet was too big for the next hop, which takes {mtu} bytes",
    "too-big": "the packet was too big for the next hop, which takes {mtu} bytes",
    "ttl-exceeded": "the packet's hop limit ran out on the way",
}


def _icmp_words(segment: Segment, models: Mapping[str, CardModel]) -> str:
    """An ICMP error about one of the run's packets, said: who answered, and why."""
    host, _, port = segment.source.rpartition(":")
    mtu = next(
        (o.partition("=")[2] for o in (segment.options or "").split(",") if o.startswith("mtu=")),
        "?",
    )
    why = _ICMP_WHY.get(segment.flags or "", "an error").format(port=port, mtu=mtu)
    who = "the router" if segment.flags in ("frag-needed", "too-big") else "the kernel"
    return (
        f"{who} at {host.strip('[]')} answered {_who(segment.target, models)} with "
        f"{segment_label(segment)}: {why}"
    )


def _flow_words(
    segment: Segment, flow: str, kernel: str, said: str, models: Mapping[str, CardModel]
) -> str:
    """A segment's part in flow control, said (``flow``: its note)."""
    own = ", on its own" if segment.cause is None else ""
    peer = _who(segment.target, models)
    if flow == flow_control.PROBE:
        return (
            f"{kernel} sent a zero-window probe ({said}){own}: no new byte - it makes "
            f"{peer}'s kernel say its window again"
        )
    if flow == flow_control.KEEPALIVE:
        return (
            f"{kernel} sent a keepalive ({said}){own}: no new byte, one below what {peer} "
            f"acknowledged - after the connection's idle time it asks whether {peer}'s "
            "kernel is still there, which must answer"
        )
    if flow == flow_control.ZERO:
        return (
            f"{kernel} offered a window of 0 ({said}){own}: no room left in "
            f"{_who(segment.source, models)}'s receive buffer, so {peer} may send nothing "
            "more until it reads"
        )
    return (
        f"{kernel} offered its window again ({said}){own}: {segment.window:,} B of room - "
        f"a window update; {peer} may send on"
    )


def _data_words(name: str, data: list[Segment]) -> str:
    """A call's own data segments one after another, said once: ``sendall() sent PSH,ACK
    14 B`` for one, ``sendall() sent 6 segments, 8,192 B (1,448 B at most; flags ACK or
    PSH,ACK)`` for several."""
    if len(data) == 1:
        return f"{name} sent {_says(data[0])}"
    flags = " or ".join(dict.fromkeys(s.flags or "" for s in data))
    return (
        f"{name} sent {len(data)} segments, {sum(s.nbytes for s in data):,} B "
        f"({max(s.nbytes for s in data):,} B at most; flags {flags})"
    )


def _runs(sentences: list[str]) -> list[str]:
    """Sentences said again one after another, said once with how many times."""
    out: list[list[Any]] = []
    for sentence in sentences:
        if out and out[-1][0] == sentence:
            out[-1][1] += 1
        else:
            out.append([sentence, 1])
    return [
        text
        if n == 1
        else text.replace(": ", f", {n} times: ", 1)
        if ": " in text
        else f"{text} ({n} times)"
        for text, n in out
    ]


def story(
    call: CallEvent,
    caused: tuple[Segment, ...],
    models: Mapping[str, CardModel],
    status: WireStatus | None = None,
    notes: Mapping[int, str] | None = None,
    earlier: tuple[Segment, ...] = (),
) -> str | None:
    """What crossed the wire because of ``call``, and what the kernels sent on their own
    after it, in a sentence or three (None: nothing to say; for a run on Unix-domain
    sockets, said under the calls that move bytes). A call is said to have sent only what
    it sent itself (:func:`_calls_own`): a retransmission, a delayed ACK, an answer are
    the kernels'. ``notes``: segments' parts in flow control, by ``seq``
    (:mod:`sockviz.view.flow_control`); ``earlier``: the segments before ``caused`` (what
    an ACK answers may have come before the call)."""
    name = f"{call.call.value}()"
    if status is not None and status.where is None:
        if call.call in (Call.SEND, Call.SENDALL, Call.SENDTO) and not call.error:
            return f"none. {status.note}."
        return None
    if not caused:
        if call.call is Call.ACCEPT and not call.error:
            return (
                f"{name} sent nothing: the kernel had finished the handshake before it, "
                "and the connection waited in the accept queue."
            )
        if call.call in (Call.SOCKET, Call.BIND, Call.LISTEN, Call.SETSOCKOPT):
            return f"{name} sent nothing: it only sets up the socket in this machine's kernel."
        if call.call in (Call.RECV, Call.RECVFROM) and call.nbytes == 0 and not call.error:
            return (
                f"{name} sent nothing: the peer's FIN had already arrived; {name} only "
                "reports it (end of stream)."
            )
        if call.call in (Call.RECV, Call.RECVFROM) and call.error:
            return f"{name} sent nothing, and failed ({call.error}): why is below."
        if call.call in (Call.RECV, Call.RECVFROM):
            return (
                f"{name} sent nothing: the bytes were already in {call.socket}'s receive "
                "buffer, acknowledged by its kernel when they came."
            )
        if call.call in (Call.SEND, Call.SENDALL) and call.nbytes and not call.error:
            return (
                f"{name} handed {call.socket}'s kernel {call.nbytes:,} bytes, and none "
                "crossed before it returned: they wait in its send buffer."
            )
        return f"Nothing crossed the wire because of {name}."
    if caused[0].summed:
        parts = [
            f"{_who(s.source, models)} sent {s.count:,} segments, "
            f"{human_bytes(s.nbytes)}"
            + (f" (largest {human_bytes(s.largest)})" if s.largest is not None else "")
            + (f", {s.retransmissions:,} sent again" if s.retransmissions else "")
            + (f", {s.lost:,} lost on the link" if s.lost else "")
            for s in caused
        ]
        return "The transfer on the wire: " + "; ".join(parts) + "."
    flags = [s.flags or "" for s in caused]
    first = caused[0]
    if call.call is Call.CONNECT and flags[:1] == ["SYN"] and _calls_own(call, first):
        if len(flags) > 1 and flags[1].startswith("RST"):
            return (
                f"{name} sent SYN; nothing listens on that port, so the kernel there "
                f"answered {flags[1]}: the connection is refused."
            )
        if (
            flags[1:3] == ["SYN,ACK", "ACK"]
            and len(flags) == 3
            and all(s.retry is None for s in caused)
        ):
            listener = models.get(caused[1].source)
            waited = (
                " before accept() was called - the connection waited in the accept queue"
                if listener is not None and listener.role is Role.LISTENER
                else ""
            )
            return (
                f"{name} sent SYN; {_who(caused[1].source, models)}'s kernel answered "
                f"SYN-ACK{waited}; {call.socket}'s kernel sent the ACK that completes "
                "the handshake."
            )
    sentences: list[str] = []
    before = tuple(s for s in earlier if s.seq < caused[0].seq)
    data: list[Segment] = []  # (the call's own data segments, one after another)
    for at, segment in enumerate(caused):
        kernel, said = _kernel_of(segment.source, models), _says(segment)
        if segment.retry is not None and segment.link is not None:
            continue  # (on a link, the link's story says each retry, and why: linkview)
        mine = segment.retry is None and _calls_own(call, segment)
        if mine and segment.nbytes and segment.proto == "TCP":
            data.append(segment)
            continue
        if data:
            sentences.append(_data_words(name, data))
            data = []
        if segment.proto == "ICMP":
            sentences.append(_icmp_words(segment, models))
            continue
        flow = (notes or {}).get(segment.seq)
        if flow is not None and segment.retry is None and not segment.nbytes:
            sentences.append(_flow_words(segment, flow, kernel, said, models))
            continue
        if segment.retry is not None:
            sentences.append(
                f"{kernel} sent {said} again, on its own ({seconds(segment.retry)} after the first)"
            )
        elif mine:
            sentences.append(f"{name} sent {said}")
        elif _bare_ack(segment):
            sentences.append(_ack_words(call, segment, (*before, *caused[:at]), models))
        elif (held := _held_back(segment, (*before, *caused[:at]))) is not None:
            sentences.append(
                f"{kernel} sent {said} as soon as {_who(segment.target, models)}'s ACK of "
                f"the bytes before it came, {_ms(held)} after those: Nagle's algorithm holds "
                "a small segment while bytes before it are unacknowledged"
            )
        elif segment.cause is None:
            sentences.append(f"{kernel} sent {said} on its own")
        else:
            sentences.append(f"{kernel} sent {said}")
    if data:
        sentences.append(_data_words(name, data))
    if not sentences:
        return None  # (all of it the link's story)
    text = "; ".join(_runs(sentences)) + "."
    if first.flags and first.flags.startswith("RST") and _calls_own(call, first):
        text += " A reset: the peer's next call fails with ECONNRESET or EPIPE."
    text += _tls_words(call, caused)
    if first.proto == "UDP":
        text += " UDP has no handshake and no acknowledgements: one datagram per call."
    if any(s.proto == "ICMP" and s.flags == "port-unreachable" for s in caused):
        text += (
            " A connected UDP socket is told: its next call fails with ECONNREFUSED (an "
            "unconnected one is not)."
        )
    return text  # (it begins with a call or a socket name: as written, not capitalised)


def under_way_story(pending: StepPending, seen: tuple[Segment, ...]) -> str:
    """What a call that has begun (its first segment was seen) and not returned is
    waiting for, from its socket's segments seen since: one lost or held on the link, and
    whether its kernel has sent it again."""
    name, mine = f"{pending.call.value}()", [s for s in seen if s.source == pending.socket]
    kernel = f"{pending.socket}'s kernel"
    stuck = [s for s in mine if s.link in {*UNDELIVERED, "held"}]
    if not stuck:
        first = f" (its {segment_label(mine[0])} went out)" if mine else ""
        return f"{name} has begun{first} and has not returned yet."
    last = stuck[-1]
    what = segment_label(last)
    if last.link == "held":
        return (
            f"{name} is waiting: its {what} is held at {pending.socket}'s side of the "
            "link (→ lets it cross)."
        )
    again = [
        s.retry
        for s in mine
        if s.seq > last.seq
        and s.retry is not None
        and s.flags == last.flags
        and s.link not in UNDELIVERED
    ]
    if again:
        return (
            f"{name} is waiting: its {what} was lost on the link; {kernel} sent it "
            f"again, {seconds(again[0])} after the first."
        )
    return (
        f"{name} is waiting: its {what} was lost on the link; {kernel} will send it "
        "again when its retransmission timer runs out."
    )


def wire_note(status: WireStatus | None) -> str | None:
    """One line for a run whose wire is not watched (None when it is, or nothing was said)."""
    if status is None or status.where is not None:
        return None
    return status.note
