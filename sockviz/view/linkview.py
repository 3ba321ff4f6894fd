"""A two-host run's link, as the view keeps it and says it: its settings, its counters, the
segments it holds, and what it and the two kernels did, in words.

Everything here comes from the engine's events: the :class:`LinkStatus` said first, each
packet line's ``link`` (crossed, dropped, lost, held), ``delay`` and ``retry``, and the
``link`` lines that say a held segment was let cross. The link is sockviz's; every retry,
timer and window is a kernel's, and the words say whose. Standard library only.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from sockviz.engine.events import (
    UNDELIVERED,
    CallEvent,
    LinkEvent,
    LinkStatus,
    Segment,
    TcpSettings,
)
from sockviz.engine.kernel import tcp_settings as tcpsettings
from sockviz.engine.states import Call
from sockviz.view.words import segment_label

#: A gap between two of the link's segments worth a row of its own ("1.0 s pass").
GAP_SHOWN = 0.05
#: Segments kept for the story of a step (a step moves a few dozen; a bulk is summed).
RECENT = 64


@dataclass(frozen=True)
class LinkView:
    """The link at one moment of the run (immutable: a view's copy shares it)."""

    status: LinkStatus
    sent: int = 0
    """Segments put on the link (by either kernel)."""
    dropped: int = 0
    """... lost on it: a ``--drop`` fault or random loss."""
    held: tuple[Segment, ...] = ()
    """... waiting at their sending side for a key (oldest first)."""
    arrivals: tuple[float, ...] = ()
    """When each segment on its way arrives (run time, sorted; those still to come)."""
    now: float = 0.0
    """The newest run time the link has seen."""
    last: float | None = None
    """When the link last took a segment (run time)."""
    recent: tuple[Segment, ...] = ()
    """The newest segments it took (for the story of the last step)."""
    tcp: dict[str | None, TcpSettings] = field(default_factory=dict)
    """Each host's kernel TCP settings (``client``/``server`` -> :class:`TcpSettings`), as
    the run said them: the words of a retry are that kernel's. Replaced, never changed."""
    rtts: dict[str, float] = field(default_factory=dict)
    """Each socket's smoothed RTT in ms as its kernel last said it (TCP_INFO). Replaced."""
    chosen: dict[str, str] = field(default_factory=dict)
    """Each socket's congestion control where a setsockopt(TCP_CONGESTION) chose it (the
    call succeeded: the kernel uses it for that socket). Replaced."""

    @property
    def in_flight(self) -> int:
        return len(self.arrivals)

    @property
    def delivered(self) -> int:
        return self.sent - self.dropped - len(self.held) - self.in_flight

    def counters(self) -> str:
        held = f" · held {len(self.held)}" if self.status.hold or self.held else ""
        return (
            f"sent {self.sent} · delivered {self.delivered} · dropped {self.dropped} · "
            f"in flight {self.in_flight}{held}"
        )


def short_counters(link: LinkView) -> str:
    """The counters where room is short: ``↑4 ✓2 ✗1 ⇢1`` (sent, delivered, dropped, in
    flight; ``⏸`` held)."""
    held = f" ⏸{len(link.held)}" if link.status.hold or link.held else ""
    return f"↑{link.sent} ✓{link.delivered} ✗{link.dropped} ⇢{link.in_flight}{held}"


def started(status: LinkStatus) -> LinkView:
    return LinkView(status)


def took(link: LinkView, segment: Segment) -> tuple[LinkView, float | None]:
    """The link after ``segment`` was put on it, and the gap since the segment before
    (seconds, when worth a row: :data:`GAP_SHOWN`)."""
    now = max(link.now, segment.t)
    arrivals = _arrived(link.arrivals, now)
    gap = None
    if link.last is not None and segment.t - link.last >= GAP_SHOWN:
        gap = segment.t - link.last
    held, dropped, status = link.held, link.dropped, link.status
    if segment.link in UNDELIVERED:
        dropped += 1
    elif segment.link == "held":
        held = (*held, segment)
        if not status.hold:  # (a replay's link says nothing of holding: its segments do)
            status = replace(status, hold=True)
    elif segment.delay is not None:
        arrivals = _put(arrivals, segment.t + segment.delay, now)
    return replace(
        link,
        status=status,
        sent=link.sent + 1,
        dropped=dropped,
        held=held,
        arrivals=arrivals,
        now=now,
        last=max(segment.t, link.last or 0.0),
        recent=(*link.recent[-(RECENT - 1) :], segment),
    ), gap


def with_tcp(link: LinkView, tcp: dict[str | None, TcpSettings]) -> LinkView:
    """The link, knowing the kernels' TCP settings (host -> TcpSettings)."""
    return replace(link, tcp=dict(tcp))


def measured(link: LinkView, socket: str, rtt: float) -> LinkView:
    """The link, knowing ``socket``'s kernel's newest smoothed RTT (ms)."""
    if link.rtts.get(socket) == rtt:
        return link
    return replace(link, rtts={**link.rtts, socket: rtt})


def counted(link: LinkView, total: Segment) -> LinkView:
    """The link after a bulk transfer it counted, one way (its packets summed, not read one
    by one): each of them was put on it, and the sum says how many it did not deliver (an
    older recording does not: then none are taken as lost)."""
    return replace(link, sent=link.sent + total.count, dropped=link.dropped + (total.lost or 0))


def at(link: LinkView, t: float) -> LinkView:
    """The link once the run's clock reads ``t`` (a call or a kernel line said so): what
    was on its way and due by then has arrived - a segment is not in flight for ever
    because nothing crossed after it."""
    if t <= link.now:
        return link
    return replace(link, now=t, arrivals=_arrived(link.arrivals, t))


_CHOSEN = re.compile(r"TCP_CONGESTION, b'([A-Za-z0-9_]{1,15})'")


def chose(link: LinkView, event: CallEvent) -> LinkView:
    """The link after a call: a setsockopt(TCP_CONGESTION) that succeeded names the
    socket's congestion control from then on."""
    if event.call is not Call.SETSOCKOPT or event.error or not event.args:
        return link
    found = _CHOSEN.search(event.args)
    if found is None:
        return link
    return replace(link, chosen={**link.chosen, event.socket: found.group(1)})


def waiting(link: LinkView) -> LinkView:
    """The link as a call waits at the gate: the time until the next segment is the
    teacher's or the pace's, not the kernels' - no gap row for it."""
    return replace(link, last=None) if link.last is not None else link


def own(during: tuple[Segment, ...], socket: str) -> tuple[Segment, ...]:
    """Of what the link carried while a call was under way, what belongs to that call's
    story: its socket's segments and the answers to it - not those lost on the way (the
    link's own story says them)."""
    return tuple(s for s in during if socket in (s.source, s.target) and s.link not in UNDELIVERED)


def released(link: LinkView, event: LinkEvent) -> LinkView:
    """The link after it let a held segment cross."""
    now = max(link.now, event.t)
    held = tuple(s for s in link.held if s.seq != event.segment)
    arrivals = _put(_arrived(link.arrivals, now), event.t + (event.delay or 0.0), now)
    return replace(link, held=held, arrivals=arrivals, now=now)


def _arrived(arrivals: tuple[float, ...], now: float) -> tuple[float, ...]:
    return arrivals[bisect.bisect_right(arrivals, now) :] if arrivals else arrivals


def _put(arrivals: tuple[float, ...], when: float, now: float) -> tuple[float, ...]:
    if when <= now:
        return arrivals
    items = list(arrivals)
    bisect.insort(items, when)
    return tuple(items)


# --- words --------------------------------------------------------------------------------
def seconds(value: float) -> str:
    """``20 ms``, ``1.01 s``."""
    return f"{value * 1000:.0f} ms" if value < 1 else f"{value:.2f} s"


def milliseconds(value: float) -> str:
    """A kernel's RTT (ms) as said: ``41 ms``, ``0.05 ms`` (a link with no delay)."""
    return f"{value:.0f} ms" if value >= 10 else f"{value:.2g} ms"


def label(segment: Segment) -> str:
    """A link segment as its arrow says it: ``SYN seq 0 ✗ lost``, ``↻ SYN seq 0 · 1.00 s``
    (the kernel's retry, and how long after the first sending; the arrow of a held one
    stops short, at a ⏸)."""
    base = segment_label(segment)
    if segment.link == "too-big":
        return f"{base} ✗ too big"
    if segment.link in UNDELIVERED:
        return f"{base} ✗ lost"
    if segment.retry is not None:
        base = f"↻ {base} · {seconds(segment.retry)}"
    return base


def gap_label(gap: float) -> str:
    return f"┊ {seconds(gap)} pass ┊"


def next_key(link: LinkView | None) -> str | None:
    """What the step key does while a segment is held: ``lets client's SYN cross``."""
    if link is None or not link.held:
        return None
    segment = link.held[0]
    return f"lets {segment.source}'s {segment_label(segment).split(' ')[0]} cross"


def said(segment: Segment, link: LinkView | None = None) -> str | None:
    """What the link or the sender's kernel did with ``segment``, in a sentence (None for a
    plain crossing)."""
    what = segment_label(segment)
    if segment.link == "dropped":
        return (
            f"The link lost {segment.source}'s {what} on purpose (a drop fault): "
            f"{segment.target} never hears of it."
        )
    if segment.link == "lost":
        return f"The link lost {segment.source}'s {what} at random (loss, seeded)."
    if segment.link == "too-big":
        return (
            f"The link's router did not carry {segment.source}'s {what}: bigger than its "
            "next hop takes; it told the sender's kernel so (ICMP)."
        )
    if segment.link == "overflow":
        return (
            f"The link lost {segment.source}'s {what}: its queue was full (as many packets "
            "as it holds were waiting their turn at its rate), as a router's loses one."
        )
    if segment.link == "held":
        if link is not None and all(s.seq != segment.seq for s in link.held):
            return f"The link held {segment.source}'s {what} until a key let it cross."
        return f"The link holds {segment.source}'s {what} until → lets it cross."
    if segment.retry is not None:
        return retry_words(segment, link=link)
    return None


def _settings(link: LinkView | None, segment: Segment) -> TcpSettings | None:
    """The sending kernel's settings: its host is the one whose address sent it."""
    if link is None:
        return None
    sender = (segment.local or "").rpartition(":")[0].strip("[]")
    host = "client" if sender == link.status.client else "server"
    return link.tcp.get(host) or link.tcp.get(None)


def _carries_sack(segment: Segment) -> bool:
    return "sack" in (segment.options or "").split(",")


def retry_words(
    segment: Segment, recent: Sequence[Segment] = (), link: LinkView | None = None
) -> str:
    """The kernel's sending a segment again, in words (see :func:`retry_parts`)."""
    return " ".join(retry_parts(segment, recent, link))


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:] + "."


def _again(segment: Segment, times: Sequence[float]) -> str:
    """``sent SYN seq 0 again, 1.02 s after the first`` - or, for several sendings of the
    same segment, ``again 3 times, 1.02 s, 2.05 s and 3.07 s after the first``."""
    what = segment_label(segment)
    if len(times) < 2:
        return f"sent {what} again, {seconds(segment.retry or 0.0)} after the first"
    said = [seconds(t) for t in times]
    count = "twice" if len(times) == 2 else f"{len(times)} times"
    return f"sent {what} again {count}, {', '.join(said[:-1])} and {said[-1]} after the first"


#: What makes two sendings one segment: sender, flags, relative seq and ack, length.
Same = tuple[str, str | None, int | None, int | None, int]


def _same(segment: Segment) -> Same:
    """What makes two sendings one segment sent again: its sender, flags and numbers."""
    return (segment.source, segment.flags, segment.seq_rel, segment.ack_rel, segment.nbytes)


def _held_then(recent: Sequence[Segment], segment: Segment) -> bool:
    """Whether the link was holding segments of this conversation when ``segment`` was
    sent again (one of the two ends' held before it): the wait the kernel timed was the
    teacher's key."""
    ends = {segment.source, segment.target}
    return any(
        s.link == "held" and s.t <= segment.t and {s.source, s.target} == ends for s in recent
    )


def retry_parts(
    segment: Segment,
    recent: Sequence[Segment] = (),
    link: LinkView | None = None,
    times: Sequence[float] = (),
) -> list[str]:
    """The kernel's sending a segment again, and what the segments show of why: for a SYN
    or SYN-ACK, that kernel's timer and its settings; for data, whether the receiver's
    SACKs had shown the hole before it (a recovery before the timer) or nothing had (a
    timer ran out), with the time since the first sending against the kernel's RTT - what
    was seen, not a textbook rule (Linux decides by SACK and time, RACK, not by counting
    duplicate ACKs)."""
    took = segment.retry or 0.0
    flags = (segment.flags or "").split(",")
    settings = _settings(link, segment)
    said = f"{segment.source}'s kernel {_again(segment, times)}"
    held = (
        " (the link was holding this handshake's segments for a key, and the kernels' "
        "timers do not wait for one)"
        if _held_then(recent, segment)
        else ""
    )
    if "SYN" in flags and "ACK" not in flags:
        return [
            f"{said}: a retransmission, not a new connect() - no SYN-ACK had reached it "
            f"in time, so its retransmission timer ran out{held}.",
            _sentence(tcpsettings.syn_words(settings)),
        ]
    if "SYN" in flags:
        before = max(
            (
                s.t
                for s in recent
                if s.source == segment.source and s.flags == segment.flags and s.t < segment.t
            ),
            default=segment.t - took,
        )
        asked = any(
            s.source == segment.target
            and s.flags == "SYN"
            and s.link == "crossed"
            and before < s.t + (s.delay or 0.0) <= segment.t
            for s in recent
        )
        why = (
            f"{segment.target}'s SYN had come again, and a listener's kernel answers a "
            "repeated SYN at once"
            if asked
            else f"no ACK had reached it in time, so its timer ran out{held}"
        )
        return [
            f"{said}: {why}.",
            _sentence(f"{segment.source}'s kernel: {tcpsettings.synack_words(settings)}"),
        ]
    rtt = link.rtts.get(segment.source) if link is not None else None
    against = (
        f"the RTT {segment.source}'s kernel measured was {milliseconds(rtt)}"
        if rtt
        else f"{segment.source}'s kernel's RTT was not read"
    )
    first = segment.t - took
    sacks = [
        s
        for s in recent
        if s.source == segment.target
        and _carries_sack(s)
        and first <= s.t
        and s.t + (s.delay or 0.0) <= segment.t
    ]
    if sacks:
        n = len(sacks)
        return [
            f"{said}, after {n} ACK{'s' * (n > 1)} from {segment.target} with SACK "
            f"blocks had shown the hole: a recovery before the retransmission timer "
            f"({against})."
        ]
    return [
        f"{said}, with no SACK from {segment.target} showing a hole before it: a timer "
        f"ran out (a tail-loss probe or the retransmission timer; {against})."
    ]


def _round_trip(recent: list[Segment]) -> list[str]:
    """A handshake across the link, timed: the SYN that crossed, and the SYN-ACK's
    arrival back (the link's delay both ways, and the server kernel's moment between)."""
    syn = next((s for s in reversed(recent) if s.flags == "SYN" and s.link == "crossed"), None)
    back = next(
        (
            s
            for s in recent
            if syn is not None
            and s.flags == "SYN,ACK"
            and s.link == "crossed"
            and s.t >= syn.t
            and s.delay is not None
        ),
        None,
    )
    if syn is None or back is None or back.delay is None:  # (a crossed one has its delay)
        return []
    took = back.t + back.delay - syn.t
    return [
        (f"One round trip: the SYN-ACK was back {seconds(took)} after the SYN crossing set off.")
    ]


def _congestion(link: LinkView, recent: list[Segment]) -> list[str]:
    """For a bulk transfer's step: the congestion control of the kernel that sent it, named
    from the run's settings, and what it does."""
    bulk = next((s for s in recent if s.summed and s.nbytes), None)
    if bulk is None:
        return []
    chosen = link.chosen.get(bulk.source)
    if chosen is not None:
        return [
            f"{bulk.source}'s kernel paced this with the congestion control its "
            f"setsockopt(TCP_CONGESTION) chose, {tcpsettings.congestion_words(chosen)}."
        ]
    name = tcpsettings.value(_settings(link, bulk), "tcp_congestion_control")
    return [
        f"{bulk.source}'s kernel paced this with its congestion control, "
        f"{tcpsettings.congestion_words(name)}."
    ]


def settings_line(link: LinkView | None) -> str | None:
    """The link strip: ``link 10.217.0.2 ⇄ 10.217.0.1 · delay 20 ms · drop syn │ sent …``."""
    if link is None:
        return None
    status = link.status
    return f"link {status.client} ⇄ {status.server} · {status.settings} │ {link.counters()}"


def link_story(
    link: LinkView, since: int, wire: str | None, during: tuple[int, ...] = ()
) -> str | None:
    """The wire's story of the last step with what the link and the kernels did about it
    added: each segment lost, held, or sent again after its call's line (seq ``since``:
    read at its return, or since) or while it was under way (``during``, their seqs)."""
    said_now = []
    recent = [s for s in link.recent if s.seq > since or s.seq in during]
    # Each segment sent again is said once, at its first retry, with every time it was
    # (held or not: a held retry is still the kernel's, and its timer's lesson).
    again: dict[Same, list[Segment]] = {}
    for segment in recent:
        if segment.retry is not None and segment.link not in UNDELIVERED:
            again.setdefault(_same(segment), []).append(segment)
    for segment in recent:
        if segment.link == "held" or segment.retry is None or segment.link in UNDELIVERED:
            words = said(segment, link)
            if words:
                said_now.append(words)
        if segment.retry is not None and segment.link not in UNDELIVERED:
            sendings = again[_same(segment)]
            if segment is sendings[0]:
                times = [s.retry or 0.0 for s in sendings]
                said_now += retry_parts(segment, link.recent, link, times)
    said_now += _congestion(link, recent)
    said_now += _round_trip(recent)
    if not said_now:
        return wire
    if any(s.link == "held" for s in recent):
        said_now.append(
            "The kernels' timers keep running while a segment waits: hold one "
            "too long and its sender sends it again (↻)."
        )
    extra = " ".join(dict.fromkeys(said_now))
    return f"{wire} {extra}" if wire else extra
