"""What each field of a trace line can be: the one gate for recorded events.

A recording is a file a stranger may have written. Before one of its lines becomes an
event, every field is checked here for its type and its range - a socket name is a short
identifier, an address parses as an address of the event's family, an errno or a kernel
state is one this code knows, a count is a non-negative integer below a cap, text is
capped in length - and anything else is refused with a :class:`FieldError` that says which
field and what it should be. What passes can be drawn, exported and counted without a
second look (what is shown is still escaped on the way out: see :mod:`sockviz.engine.record.inert_text`).
Standard library only.
"""

from __future__ import annotations

import errno
import ipaddress
import math
import re

from sockviz.engine.events import PREVIEW_CAP
from sockviz.engine.preview import unescape_bytes

#: A socket's name: ``server``, ``client-2``, ``conn-1234``, ``udp_client``.
SOCKET_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,31}\Z")

#: The kernel's TCP states (as kernel.py names them), and its name for one it does not know.
KERNEL_STATES = frozenset({
    "ESTABLISHED", "SYN_SENT", "SYN_RECV", "FIN_WAIT1", "FIN_WAIT2", "TIME_WAIT", "CLOSE",
    "CLOSE_WAIT", "LAST_ACK", "LISTEN", "CLOSING", "NEW_SYN_RECV",
})
_UNKNOWN_KERNEL = re.compile(r"UNKNOWN_[0-9A-F]{2}\Z")

#: Errno names, numbered stand-ins (``E-2``) and exception names for errors with no errno.
_ERRNO_NAMES = frozenset(errno.errorcode.values())
_ERROR_OTHER = re.compile(r"E-?[0-9]{1,5}\Z|[A-Za-z]{1,40}\Z")

FAMILIES = frozenset({"AF_INET", "AF_INET6", "AF_UNIX"})
TYPES = frozenset({"SOCK_STREAM", "SOCK_DGRAM"})
SOURCES = frozenset({"tcp_info", "proc", "diag"})

#: Caps: no real run comes near them; a file that passes them is still cheap to show.
MAX_COUNT = 1 << 62
"""Bytes and call counts."""
MAX_SEQ = 1 << 40
MAX_STEP = 100_000
MAX_SECONDS = 10 * 365 * 86400.0
"""A run's clock and a kernel timer, in seconds."""
MAX_TEXT = 400
"""A call's arguments and the OS's words for an error."""
MAX_UNIX_PATH = 108
"""``sun_path``'s size."""
MAX_QUEUE = 1 << 31


class FieldError(ValueError):
    """A field that is not what sockviz writes: names the field and what it should be."""


def _no_constant(name: str):
    raise FieldError(f"{name}: not a number a recording can hold (JSON has no NaN or "
                     "Infinity; sockviz writes only finite numbers)")


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise FieldError(f"{text[:20]}: a number too large to be finite (sockviz writes "
                         "only finite numbers)")
    return value


def loads(line: str):
    """``json.loads`` as a recording is read: the NaN, Infinity and -Infinity Python's
    parser takes by default (and ``1e999``, which it reads as infinity) are refused with a
    :class:`FieldError`, so no check after it has to think of them."""
    import json

    return json.loads(line, parse_constant=_no_constant, parse_float=_finite)


def _fail(key: str, value: object, expected: str) -> FieldError:
    shown = repr(value)
    if len(shown) > 60:
        shown = shown[:59] + "…"
    return FieldError(f"{key} = {shown}: expected {expected}")


def integer(record: dict, key: str, high: int, optional: bool = False) -> int | None:
    value = record.get(key)
    if value is None and optional:
        return None
    if type(value) is not int or not 0 <= value <= high:
        raise _fail(key, value, f"a whole number from 0 to {high:,}"
                    + (" or null" if optional else ""))
    return value


def seconds(record: dict, key: str, optional: bool = False) -> float | None:
    value = record.get(key)
    if value is None and optional:
        return None
    if type(value) not in (int, float) or not math.isfinite(value) \
            or not 0 <= value <= MAX_SECONDS:
        raise _fail(key, value, "a number of seconds, 0 or more" + (" or null" if optional else ""))
    return float(value)


def text(record: dict, key: str, limit: int = MAX_TEXT) -> str | None:
    value = record.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > limit:
        raise _fail(key, value, f"text of at most {limit} characters, or null")
    return value


def one_of(record: dict, key: str, allowed, what: str, optional: bool = False) -> str | None:
    value = record.get(key)
    if value is None and optional:
        return None
    if not isinstance(value, str) or value not in allowed:
        raise _fail(key, value, what + (" or null" if optional else ""))
    return value


def socket_name(record: dict, key: str, optional: bool = False) -> str | None:
    value = record.get(key)
    if value is None and optional:
        return None
    if not isinstance(value, str) or not SOCKET_NAME.match(value):
        raise _fail(key, value, "a socket name: letters, digits, '-', '_' or '.', "
                    "at most 32" + (", or null" if optional else ""))
    return value


def kernel_state(record: dict, key: str, optional: bool = True) -> str | None:
    value = record.get(key)
    if value is None and optional:
        return None
    if not isinstance(value, str) or not (value in KERNEL_STATES or _UNKNOWN_KERNEL.match(value)):
        raise _fail(key, value, "a TCP state such as ESTABLISHED or TIME_WAIT"
                    + (", or null" if optional else ""))
    return value


def error_name(record: dict, key: str) -> str | None:
    value = record.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or not (value in _ERRNO_NAMES or _ERROR_OTHER.match(value)):
        raise _fail(key, value, "an errno name such as ECONNREFUSED, or null")
    return value


def flag(record: dict, key: str) -> bool:
    value = record.get(key)
    if value is None:
        return False
    if type(value) is not bool:
        raise _fail(key, value, "true, false or null")
    return value


def address(record: dict, key: str, family: str) -> str | None:
    """``127.0.0.1:5000`` (AF_INET), ``[::1]:5000`` (AF_INET6) or a path (AF_UNIX)."""
    value = record.get(key)
    if value is None:
        return None
    if isinstance(value, str) and _is_address(value, family):
        return value
    expected = {"AF_INET": "an IPv4 address and port such as 127.0.0.1:5000",
                "AF_INET6": "an IPv6 address and port such as [::1]:5000",
                "AF_UNIX": f"a socket file's path of at most {MAX_UNIX_PATH} characters"}
    raise _fail(key, value, expected[family] + ", or null")


def _is_address(value: str, family: str) -> bool:
    if family == "AF_UNIX":
        return 0 < len(value) <= MAX_UNIX_PATH and value.isprintable()
    host, sep, port = value.rpartition(":")
    if not sep or not re.fullmatch(r"[0-9]{1,5}", port) or int(port) > 65535:
        return False
    try:
        if family == "AF_INET6":
            if not (host.startswith("[") and host.endswith("]")):
                return False
            ipaddress.IPv6Address(host[1:-1])
        else:
            ipaddress.IPv4Address(host)
    except ValueError:
        return False
    return True


def data(record: dict, key: str) -> bytes | None:
    """The escaped preview (see :func:`sockviz.engine.record.trace_format.escape_bytes`), at most
    :data:`PREVIEW_CAP` bytes once unescaped."""
    value = record.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > 4 * PREVIEW_CAP:
        raise _fail(key, value, f"an escaped preview of at most {PREVIEW_CAP} bytes, or null")
    try:
        raw = unescape_bytes(value)
    except ValueError as exc:
        raise FieldError(f"{key}: {exc}") from None
    if len(raw) > PREVIEW_CAP:
        raise _fail(key, value, f"an escaped preview of at most {PREVIEW_CAP} bytes, or null")
    return raw


def queue(record: dict, key: str) -> tuple[int, int] | None:
    value = record.get(key)
    if not value:
        if value not in (None, []):
            raise _fail(key, value, "[waiting, backlog] or null")
        return None
    if not isinstance(value, list) or len(value) != 2 \
            or any(type(n) is not int or not 0 <= n <= MAX_QUEUE for n in value):
        raise _fail(key, value, "[waiting, backlog]: two whole numbers, or null")
    return (value[0], value[1])


#: TCP flags a segment can carry, as capture tools name them.
TCP_FLAGS = frozenset({"SYN", "FIN", "RST", "PSH", "ACK", "URG", "ECE", "CWR"})
_OPTIONS = re.compile(r"[a-z_]{1,10}(=[0-9]{1,6})?(,[a-z_]{1,10}(=[0-9]{1,6})?){0,9}\Z")
_FAMILY_OF = {"TCP": "SOCK_STREAM", "UDP": "SOCK_DGRAM"}


def peer(record: dict, key: str, family: str) -> str:
    """A segment's end: a socket name of the run, or an address of the line's family."""
    value = record.get(key)
    if isinstance(value, str) and (SOCKET_NAME.match(value) or _is_address(value, family)):
        return value
    raise _fail(key, value, "a socket name, or an address such as 127.0.0.1:5000")


def segment(record: dict, summed: bool = False):
    """A ``"call": "packet"`` line (or ``"packets"``: ``summed``), every field checked, as a
    Segment."""
    from sockviz.engine.events import Segment

    family = one_of(record, "family", {"AF_INET", "AF_INET6"}, "AF_INET or AF_INET6")
    proto = one_of(record, "proto", {"TCP", "UDP"}, "TCP or UDP")
    if record.get("type") != _FAMILY_OF[proto]:
        raise _fail("type", record.get("type"), f"{_FAMILY_OF[proto]} for {proto}")
    flags = record.get("flags")
    unread = summed and flags is None  # (a sum the kernel counted: no frame was read)
    if proto == "UDP" and flags is not None or proto == "TCP" and not unread and (
            not isinstance(flags, str) or not flags
            or not set(flags.split(",")) <= TCP_FLAGS):
        raise _fail("flags", flags, "TCP flags such as SYN,ACK (null for UDP, or for a "
                                    "packets line whose frames were counted, not read)")
    options = text(record, "options", 120)
    if options is not None and not _OPTIONS.match(options):
        raise _fail("options", options, "TCP options such as mss=65495,sack_ok,ts,wscale=7")
    for key in ("role", "state", "error", "kernel", "args", "data", "parent", "step"):
        if record.get(key) is not None:
            raise _fail(key, record.get(key), "null on a packet line")
    local, remote = address(record, "local", family), address(record, "remote", family)
    if local is None or remote is None:
        raise FieldError("local and remote: a packet line has both addresses")
    seq = integer(record, "seq_rel", (1 << 32) - 1, optional=True)
    ack = integer(record, "ack_rel", (1 << 32) - 1, optional=True)
    sums = {}
    if summed:
        sums = {"count": integer(record, "count", MAX_COUNT), "is_sum": True,
                "largest": integer(record, "largest", 1 << 20, optional=True),
                "retransmissions": integer(record, "retransmissions", MAX_COUNT)}
    return Segment(**sums,
        seq=integer(record, "seq", MAX_SEQ), t=seconds(record, "t"), proto=proto, flags=flags,
        source=peer(record, "from", family), target=peer(record, "to", family),
        seq_rel=seq, ack_rel=ack, window=integer(record, "window", 1 << 32, optional=True),
        nbytes=integer(record, "nbytes", MAX_COUNT if summed else 1 << 20), options=options,
        cause=integer(record, "cause", MAX_SEQ, optional=True), family=family,
        local=local, remote=remote, **link_fields(record))


LINK_WORDS = {"crossed", "dropped", "lost", "held"}


def link_fields(record: dict) -> dict:
    """A packet line's link keys, checked: ``link`` and ``delay`` a two-host run's, ``retry``
    any run's (a loopback line has ``link`` null; an older recording none of them)."""
    if record.get("link") is None:
        if record.get("delay") is not None:
            raise FieldError("delay: a segment's crossing time needs its link (link is null)")
        return {"retry": seconds(record, "retry", optional=True)} \
            if record.get("retry") is not None else {}
    return {"link": one_of(record, "link", LINK_WORDS, "crossed, dropped, lost or held"),
            "delay": seconds(record, "delay", optional=True),
            "retry": seconds(record, "retry", optional=True)}


MAX_U32 = (1 << 32) - 1
"""``tcpi_snd_cwnd`` and ``tcpi_total_retrans`` are the kernel's u32s."""
MAX_RTT_MS = round(MAX_U32 / 1000, 1)
"""``tcpi_rtt`` is a u32 of microseconds; the line has it in milliseconds."""
FLOW_KEYS = ("rtt", "cwnd", "retrans")


def flow_fields(record: dict) -> dict:
    """A kernel line's TCP_INFO keys (a two-host run's), checked: {} when it has none.

    The engine reads the three from one ``TCP_INFO`` or not at all, so a line has all
    three or none (null for none): an RTT that is not known beside a window that is,
    or a window past the kernel's u32, is no line sockviz wrote."""
    given = [key for key in FLOW_KEYS if record.get(key) is not None]
    if not given:
        return {}
    if len(given) < len(FLOW_KEYS):
        missing = next(key for key in FLOW_KEYS if key not in given)
        raise _fail(missing, record.get(missing), "a number: a kernel line has rtt, cwnd "
                    "and retrans all three (read from one TCP_INFO), or none of them")
    rtt = record["rtt"]
    if type(rtt) not in (int, float) or not math.isfinite(rtt) or not 0 <= rtt <= MAX_RTT_MS:
        raise _fail("rtt", rtt, f"milliseconds from 0 to {MAX_RTT_MS:,.1f} (tcpi_rtt)")
    return {"rtt": float(rtt), "cwnd": integer(record, "cwnd", MAX_U32),
            "retrans": integer(record, "retrans", MAX_U32)}


def link_event(record: dict):
    """A ``"call": "link"`` line (a held segment let cross), every field checked."""
    from sockviz.engine.events import LinkEvent

    family = one_of(record, "family", {"AF_INET", "AF_INET6"}, "AF_INET or AF_INET6")
    local, remote = address(record, "local", family), address(record, "remote", family)
    if local is None or remote is None:
        raise FieldError("local and remote: a link line has both addresses")
    return LinkEvent(
        seq=integer(record, "seq", MAX_SEQ), t=seconds(record, "t"),
        what=one_of(record, "what", {"released"}, "released"),
        segment=integer(record, "segment", MAX_SEQ), source=peer(record, "from", family),
        target=peer(record, "to", family), flags=text(record, "flags", 40),
        family=family, local=local, remote=remote,
        delay=seconds(record, "delay", optional=True))


#: A ``"call": "tcp"`` line's setting names and values (``/proc/sys/net/ipv4``'s words).
_SYSCTL_NAME = re.compile(r"[a-z][a-z0-9_]{0,39}\Z")
_SYSCTL_VALUE = re.compile(r"[A-Za-z0-9_.-][A-Za-z0-9_. -]{0,39}\Z")
MAX_SETTINGS = 32


def tcp_settings(record: dict):
    """A ``"call": "tcp"`` line (the kernel's TCP settings at the run's start), every field
    checked, as a TcpSettings."""
    from sockviz.engine.events import TcpSettings

    if record.get("seq") != 0 or isinstance(record.get("seq"), bool):
        raise _fail("seq", record.get("seq"), "0 on a tcp line (it comes before the run's)")
    if record.get("t") != 0 or isinstance(record.get("t"), bool):
        raise _fail("t", record.get("t"), "0.0 on a tcp line (read at the run's start)")
    host = one_of(record, "host", {"client", "server"}, "client, server", optional=True)
    for key in CORE_AND_EXTRA_NULL:
        if record.get(key) is not None:
            raise _fail(key, record.get(key), "null on a tcp line")
    settings = record.get("settings")
    if not isinstance(settings, dict) or not 0 < len(settings) <= MAX_SETTINGS:
        raise _fail("settings", settings, f"an object of at most {MAX_SETTINGS} sysctl "
                    "names and their values")
    values = []
    for name, text in settings.items():
        if not _SYSCTL_NAME.match(name):
            raise _fail("settings", name, "a sysctl's name such as tcp_syn_retries")
        if text is not None and (not isinstance(text, str) or not _SYSCTL_VALUE.match(text)):
            raise _fail(f"settings.{name}", text, "a sysctl's value such as 6 or bbr, or null")
        values.append((name, text))
    return TcpSettings(host, tuple(values))


#: Keys a tcp line has null (it is no socket's).
CORE_AND_EXTRA_NULL = ("socket", "role", "state", "family", "type", "local", "remote",
                       "nbytes", "sent_total", "recv_total", "error", "kernel", "error_text",
                       "args", "data", "parent", "parts", "step", "previous", "timer",
                       "partial", "queue")
