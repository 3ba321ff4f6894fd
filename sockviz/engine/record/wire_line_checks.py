"""What a packet, packets, link or tcp line of a trace can be, and a kernel line's TCP_INFO
fields: the lines about the wire, the link and the kernel's settings, every field checked
with :mod:`sockviz.engine.record.field_checks`'s rules before it becomes an event.

Why apart from those rules: the call and kernel lines are the trace's core; these lines came
with the wire (segments, bulk sums, a link's doings, sysctls) and have their own words - TCP
flags, options, link outcomes, the kernel's u32 counters. Standard library only.
"""

from __future__ import annotations

import math
import re
from typing import TypedDict

from sockviz.engine.events import UNDELIVERED, LinkEvent, Point, Segment, TcpSettings
from sockviz.engine.record import graph_checks
from sockviz.engine.record.field_checks import (
    MAX_COUNT,
    MAX_SEQ,
    SOCKET_NAME,
    FieldError,
    Record,
    address,
    fail,
    integer,
    is_address,
    one_of,
    seconds,
    text,
)
from sockviz.engine.wire.headers import ICMP_ERRORS
from sockviz.engine.wire.tls_records import CONTENT_TYPES, HANDSHAKE_TYPES, NOT_A_RECORD, UNSEEN

#: TCP flags a segment can carry, as capture tools name them.
TCP_FLAGS = frozenset({"SYN", "FIN", "RST", "PSH", "ACK", "URG", "ECE", "CWR"})
_OPTIONS = re.compile(r"[a-z_]{1,10}(=[0-9]{1,6})?(,[a-z_]{1,10}(=[0-9]{1,6})?){0,9}\Z")
_FAMILY_OF = {"TCP": "SOCK_STREAM", "UDP": "SOCK_DGRAM", "ICMP": "SOCK_DGRAM"}
#: An ICMP line's kinds.
ICMP_WORDS = frozenset(ICMP_ERRORS.values())


def peer(record: Record, key: str, family: str) -> str:
    """A segment's end: a socket name of the run, or an address of the line's family."""
    value = record.get(key)
    if isinstance(value, str) and (SOCKET_NAME.match(value) or is_address(value, family)):
        return value
    raise fail(key, value, "a socket name, or an address such as 127.0.0.1:5000")


def segment(record: Record, summed: bool = False) -> Segment:
    """A ``"call": "packet"`` line (or ``"packets"``: ``summed``), every field checked, as a
    Segment."""
    family = one_of(record, "family", {"AF_INET", "AF_INET6"}, "AF_INET or AF_INET6")
    proto = one_of(record, "proto", {"TCP", "UDP", "ICMP"}, "TCP, UDP or ICMP")
    if record.get("type") != _FAMILY_OF[proto]:
        raise fail("type", record.get("type"), f"{_FAMILY_OF[proto]} for {proto}")
    flags = record.get("flags")
    if proto == "ICMP" and (summed or flags not in ICMP_WORDS):
        raise fail("flags", flags, "an ICMP error's kind: " + ", ".join(sorted(ICMP_WORDS)))
    unread = summed and flags is None  # (a sum the kernel counted: no frame was read)
    if (proto == "UDP" and flags is not None) or (
        proto == "TCP"
        and not unread
        and (not isinstance(flags, str) or not flags or not set(flags.split(",")) <= TCP_FLAGS)
    ):
        raise fail(
            "flags",
            flags,
            "TCP flags such as SYN,ACK (null for UDP, or for a "
            "packets line whose frames were counted, not read)",
        )
    options = text(record, "options", 120)
    if options is not None and not _OPTIONS.match(options):
        raise fail("options", options, "TCP options such as mss=65495,sack_ok,ts,wscale=7")
    for key in ("role", "state", "error", "kernel", "args", "data", "parent", "step"):
        if record.get(key) is not None:
            raise fail(key, record.get(key), "null on a packet line")
    local, remote = address(record, "local", family), address(record, "remote", family)
    if local is None or remote is None:
        raise FieldError("local and remote: a packet line has both addresses")
    seq = integer(record, "seq_rel", (1 << 32) - 1, optional=True)
    ack = integer(record, "ack_rel", (1 << 32) - 1, optional=True)
    sums = SumFields()
    if summed:
        sums = SumFields(
            count=integer(record, "count", MAX_COUNT),
            is_sum=True,
            largest=integer(record, "largest", 1 << 20, optional=True),
            retransmissions=integer(record, "retransmissions", MAX_COUNT),
            lost=integer(record, "lost", MAX_COUNT, optional=True),
            points=graph_checks.points(record),
        )
    elif record.get("points") is not None:
        raise fail("points", record.get("points"), "null on a packet line (a sum's key)")
    if (summed or proto == "UDP") and record.get("sack") is not None:
        raise fail("sack", record.get("sack"), "null on a packets line and for UDP")
    if (summed or proto != "TCP") and record.get("tls") is not None:
        raise fail("tls", record.get("tls"), "null on a packets line and for UDP")
    return Segment(
        **sums,
        seq=integer(record, "seq", MAX_SEQ),
        t=seconds(record, "t"),
        proto=proto,
        flags=flags,
        source=peer(record, "from", family),
        target=peer(record, "to", family),
        seq_rel=seq,
        ack_rel=ack,
        window=integer(record, "window", 1 << 32, optional=True),
        nbytes=integer(record, "nbytes", MAX_COUNT if summed else 1 << 20),
        options=options,
        cause=integer(record, "cause", MAX_SEQ, optional=True),
        family=family,
        local=local,
        remote=remote,
        sack=graph_checks.sack(record.get("sack")),
        tls=tls_names(record.get("tls")),
        **link_fields(record),
    )


LINK_WORDS = {"crossed", "held", *UNDELIVERED}

#: The names a packet line's ``tls`` may hold (a recording's words, held to these).
TLS_NAMES = frozenset(
    {
        *CONTENT_TYPES.values(),
        *HANDSHAKE_TYPES.values(),
        "Handshake (encrypted)",
        UNSEEN,
        NOT_A_RECORD,
        *(f"Handshake type {n}" for n in range(256)),
    }
)


def tls_names(value: object) -> tuple[str, ...] | None:
    """A packet line's ``tls``: null, or a list of 1 to 64 record names."""
    if value is None:
        return None
    if (
        not isinstance(value, list)
        or not 0 < len(value) <= 64
        or not all(isinstance(name, str) and name in TLS_NAMES for name in value)
    ):
        raise fail("tls", value, "null or a list of TLS record names such as ClientHello")
    return tuple(value)


class SumFields(TypedDict, total=False):
    """A packets line's own fields (a bulk transfer's segments one way, summed)."""

    count: int
    is_sum: bool
    largest: int | None
    retransmissions: int
    lost: int | None
    points: tuple[Point, ...] | None


class LinkFields(TypedDict, total=False):
    """A packet line's link fields (:func:`link_fields`)."""

    link: str
    delay: float | None
    retry: float | None


def link_fields(record: Record) -> LinkFields:
    """A packet line's link keys, checked: ``link`` and ``delay`` a two-host run's, ``retry``
    any run's (a loopback line has ``link`` null; an older recording none of them)."""
    if record.get("link") is None:
        if record.get("delay") is not None:
            raise FieldError("delay: a segment's crossing time needs its link (link is null)")
        return (
            LinkFields(retry=seconds(record, "retry", optional=True))
            if record.get("retry") is not None
            else LinkFields()
        )
    return LinkFields(
        link=one_of(record, "link", LINK_WORDS, "crossed, dropped, lost, overflow or held"),
        delay=seconds(record, "delay", optional=True),
        retry=seconds(record, "retry", optional=True),
    )


MAX_U32 = (1 << 32) - 1
"""``tcpi_snd_cwnd`` and ``tcpi_total_retrans`` are the kernel's u32s."""
MAX_RTT_MS = round(MAX_U32 / 1000, 1)
"""``tcpi_rtt`` is a u32 of microseconds; the line has it in milliseconds."""
FLOW_KEYS = ("rtt", "cwnd", "retrans")


class FlowFields(TypedDict, total=False):
    """A kernel line's TCP_INFO fields (:func:`flow_fields`)."""

    rtt: float
    cwnd: int
    retrans: int


def flow_fields(record: Record) -> FlowFields:
    """A kernel line's TCP_INFO keys (a two-host run's), checked: {} when it has none.

    The engine reads the three from one ``TCP_INFO`` or not at all, so a line has all
    three or none (null for none): an RTT that is not known beside a window that is,
    or a window past the kernel's u32, is no line sockviz wrote."""
    given = [key for key in FLOW_KEYS if record.get(key) is not None]
    if not given:
        return FlowFields()
    if len(given) < len(FLOW_KEYS):
        missing = next(key for key in FLOW_KEYS if key not in given)
        raise fail(
            missing,
            record.get(missing),
            "a number: a kernel line has rtt, cwnd "
            "and retrans all three (read from one TCP_INFO), or none of them",
        )
    rtt = record["rtt"]
    if type(rtt) not in (int, float) or not math.isfinite(rtt) or not 0 <= rtt <= MAX_RTT_MS:
        raise fail("rtt", rtt, f"milliseconds from 0 to {MAX_RTT_MS:,.1f} (tcpi_rtt)")
    return FlowFields(
        rtt=float(rtt),
        cwnd=integer(record, "cwnd", MAX_U32),
        retrans=integer(record, "retrans", MAX_U32),
    )


def link_event(record: Record) -> LinkEvent:
    """A ``"call": "link"`` line (a held segment let cross), every field checked."""
    family = one_of(record, "family", {"AF_INET", "AF_INET6"}, "AF_INET or AF_INET6")
    local, remote = address(record, "local", family), address(record, "remote", family)
    if local is None or remote is None:
        raise FieldError("local and remote: a link line has both addresses")
    return LinkEvent(
        seq=integer(record, "seq", MAX_SEQ),
        t=seconds(record, "t"),
        what=one_of(record, "what", {"released"}, "released"),
        segment=integer(record, "segment", MAX_SEQ),
        source=peer(record, "from", family),
        target=peer(record, "to", family),
        flags=text(record, "flags", 40),
        family=family,
        local=local,
        remote=remote,
        delay=seconds(record, "delay", optional=True),
    )


#: A ``"call": "tcp"`` line's setting names and values (``/proc/sys/net/ipv4``'s words).
_SYSCTL_NAME = re.compile(r"[a-z][a-z0-9_]{0,39}\Z")
_SYSCTL_VALUE = re.compile(r"[A-Za-z0-9_.-][A-Za-z0-9_. -]{0,39}\Z")
MAX_SETTINGS = 32


def tcp_settings(record: Record) -> TcpSettings:
    """A ``"call": "tcp"`` line (the kernel's TCP settings at the run's start), every field
    checked, as a TcpSettings."""
    if record.get("seq") != 0 or isinstance(record.get("seq"), bool):
        raise fail("seq", record.get("seq"), "0 on a tcp line (it comes before the run's)")
    if record.get("t") != 0 or isinstance(record.get("t"), bool):
        raise fail("t", record.get("t"), "0.0 on a tcp line (read at the run's start)")
    host = one_of(record, "host", {"client", "server"}, "client, server", optional=True)
    for key in CORE_AND_EXTRA_NULL:
        if record.get(key) is not None:
            raise fail(key, record.get(key), "null on a tcp line")
    settings = record.get("settings")
    if not isinstance(settings, dict) or not 0 < len(settings) <= MAX_SETTINGS:
        raise fail(
            "settings",
            settings,
            f"an object of at most {MAX_SETTINGS} sysctl names and their values",
        )
    values = []
    for name, value in settings.items():
        if not _SYSCTL_NAME.match(name):
            raise fail("settings", name, "a sysctl's name such as tcp_syn_retries")
        if value is not None and (not isinstance(value, str) or not _SYSCTL_VALUE.match(value)):
            raise fail(f"settings.{name}", value, "a sysctl's value such as 6 or bbr, or null")
        values.append((name, value))
    return TcpSettings(host, tuple(values))


#: Keys a tcp line has null (it is no socket's).
CORE_AND_EXTRA_NULL = (
    "socket",
    "role",
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
    "error_text",
    "args",
    "data",
    "parent",
    "parts",
    "step",
    "previous",
    "timer",
    "partial",
    "queue",
)
