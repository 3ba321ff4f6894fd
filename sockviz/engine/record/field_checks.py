"""What each field of a trace line can be: the one gate for recorded events.

A recording is a file a stranger may have written. Before one of its lines becomes an
event, every field is checked here for its type and its range - a socket name is a short
identifier, an address parses as an address of the event's family, an errno or a kernel
state is one this code knows, a count is a non-negative integer below a cap, text is
capped in length - and anything else is refused with a :class:`FieldError` that says which
field and what it should be. What passes can be drawn, exported and counted without a
second look (what is shown is still escaped on the way out: see
:mod:`sockviz.engine.record.inert_text`). The lines about the wire and the kernel's settings
are checked, with these, in :mod:`sockviz.engine.record.wire_line_checks`. Standard library
only.
"""

from __future__ import annotations

import errno
import ipaddress
import math
import re
from collections.abc import Collection
from typing import Any, Literal, NoReturn, overload

from sockviz.engine.events import PREVIEW_CAP
from sockviz.engine.preview import unescape_bytes

#: A trace line as ``json.loads`` made it: its values are whatever the file held, which is
#: what every function here checks.
Record = dict[str, Any]

#: A socket's name: ``server``, ``client-2``, ``conn-1234``, ``udp_client``.
SOCKET_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,31}\Z")

#: The kernel's TCP states (as kernel.py names them), and its name for one it does not know.
KERNEL_STATES = frozenset(
    {
        "ESTABLISHED",
        "SYN_SENT",
        "SYN_RECV",
        "FIN_WAIT1",
        "FIN_WAIT2",
        "TIME_WAIT",
        "CLOSE",
        "CLOSE_WAIT",
        "LAST_ACK",
        "LISTEN",
        "CLOSING",
        "NEW_SYN_RECV",
    }
)
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


def _no_constant(name: str) -> NoReturn:
    raise FieldError(
        f"{name}: not a number a recording can hold (JSON has no NaN or "
        "Infinity; sockviz writes only finite numbers)"
    )


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise FieldError(
            f"{text[:20]}: a number too large to be finite (sockviz writes only finite numbers)"
        )
    return value


def loads(line: str) -> Any:
    """``json.loads`` as a recording is read: the NaN, Infinity and -Infinity Python's
    parser takes by default (and ``1e999``, which it reads as infinity) are refused with a
    :class:`FieldError`, so no check after it has to think of them."""
    import json  # (here: only a replay reads a file, and the TUI's first frame needs no json)

    return json.loads(line, parse_constant=_no_constant, parse_float=_finite)


def fail(key: str, value: object, expected: str) -> FieldError:
    shown = repr(value)
    if len(shown) > 60:
        shown = shown[:59] + "…"
    return FieldError(f"{key} = {shown}: expected {expected}")


@overload
def integer(record: Record, key: str, high: int, optional: Literal[False] = False) -> int: ...
@overload
def integer(record: Record, key: str, high: int, optional: bool) -> int | None: ...
def integer(record: Record, key: str, high: int, optional: bool = False) -> int | None:
    value = record.get(key)
    if value is None and optional:
        return None
    if type(value) is not int or not 0 <= value <= high:
        raise fail(
            key, value, f"a whole number from 0 to {high:,}" + (" or null" if optional else "")
        )
    return value


@overload
def seconds(record: Record, key: str, optional: Literal[False] = False) -> float: ...
@overload
def seconds(record: Record, key: str, optional: bool) -> float | None: ...
def seconds(record: Record, key: str, optional: bool = False) -> float | None:
    value: Any = record.get(key)  # (what the file held: checked below)
    if value is None and optional:
        return None
    if type(value) not in (int, float) or not math.isfinite(value) or not 0 <= value <= MAX_SECONDS:
        raise fail(key, value, "a number of seconds, 0 or more" + (" or null" if optional else ""))
    return float(value)


def text(record: Record, key: str, limit: int = MAX_TEXT) -> str | None:
    value = record.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > limit:
        raise fail(key, value, f"text of at most {limit} characters, or null")
    return value


@overload
def one_of(
    record: Record,
    key: str,
    allowed: Collection[str],
    what: str,
    optional: Literal[False] = False,
) -> str: ...
@overload
def one_of(
    record: Record, key: str, allowed: Collection[str], what: str, optional: bool
) -> str | None: ...
def one_of(
    record: Record, key: str, allowed: Collection[str], what: str, optional: bool = False
) -> str | None:
    value = record.get(key)
    if value is None and optional:
        return None
    if not isinstance(value, str) or value not in allowed:
        raise fail(key, value, what + (" or null" if optional else ""))
    return value


@overload
def socket_name(record: Record, key: str, optional: Literal[False] = False) -> str: ...
@overload
def socket_name(record: Record, key: str, optional: bool) -> str | None: ...
def socket_name(record: Record, key: str, optional: bool = False) -> str | None:
    value = record.get(key)
    if value is None and optional:
        return None
    if not isinstance(value, str) or not SOCKET_NAME.match(value):
        raise fail(
            key,
            value,
            "a socket name: letters, digits, '-', '_' or '.', "
            "at most 32" + (", or null" if optional else ""),
        )
    return value


@overload
def kernel_state(record: Record, key: str, optional: Literal[False]) -> str: ...
@overload
def kernel_state(record: Record, key: str, optional: bool = True) -> str | None: ...
def kernel_state(record: Record, key: str, optional: bool = True) -> str | None:
    value = record.get(key)
    if value is None and optional:
        return None
    if not isinstance(value, str) or not (value in KERNEL_STATES or _UNKNOWN_KERNEL.match(value)):
        raise fail(
            key,
            value,
            "a TCP state such as ESTABLISHED or TIME_WAIT" + (", or null" if optional else ""),
        )
    return value


def error_name(record: Record, key: str) -> str | None:
    value = record.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or not (value in _ERRNO_NAMES or _ERROR_OTHER.match(value)):
        raise fail(key, value, "an errno name such as ECONNREFUSED, or null")
    return value


def flag(record: Record, key: str) -> bool:
    value = record.get(key)
    if value is None:
        return False
    if type(value) is not bool:
        raise fail(key, value, "true, false or null")
    return value


def address(record: Record, key: str, family: str) -> str | None:
    """``127.0.0.1:5000`` (AF_INET), ``[::1]:5000`` (AF_INET6) or a path (AF_UNIX)."""
    value = record.get(key)
    if value is None:
        return None
    if isinstance(value, str) and is_address(value, family):
        return value
    expected = {
        "AF_INET": "an IPv4 address and port such as 127.0.0.1:5000",
        "AF_INET6": "an IPv6 address and port such as [::1]:5000",
        "AF_UNIX": f"a socket file's path of at most {MAX_UNIX_PATH} characters",
    }
    raise fail(key, value, expected[family] + ", or null")


def is_address(value: str, family: str) -> bool:
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


def data(record: Record, key: str) -> bytes | None:
    """The escaped preview (see :func:`sockviz.engine.record.trace_format.escape_bytes`), at most
    :data:`PREVIEW_CAP` bytes once unescaped."""
    value = record.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > 4 * PREVIEW_CAP:
        raise fail(key, value, f"an escaped preview of at most {PREVIEW_CAP} bytes, or null")
    try:
        raw = unescape_bytes(value)
    except ValueError as exc:
        raise FieldError(f"{key}: {exc}") from None
    if len(raw) > PREVIEW_CAP:
        raise fail(key, value, f"an escaped preview of at most {PREVIEW_CAP} bytes, or null")
    return raw


def queue(record: Record, key: str) -> tuple[int, int] | None:
    value = record.get(key)
    if not value:
        if value not in (None, []):
            raise fail(key, value, "[waiting, backlog] or null")
        return None
    if (
        not isinstance(value, list)
        or len(value) != 2
        or any(type(n) is not int or not 0 <= n <= MAX_QUEUE for n in value)
    ):
        raise fail(key, value, "[waiting, backlog]: two whole numbers, or null")
    return (value[0], value[1])


def ready_names(record: Record, key: str) -> tuple[str, ...]:
    """A select line's ready sockets: a list of at most 64 socket names (``name:w`` for a
    writable one)."""
    value = record.get(key)
    if (
        not isinstance(value, list)
        or len(value) > 64
        or not all(isinstance(n, str) and SOCKET_NAME.match(n.removesuffix(":w")) for n in value)
    ):
        raise fail(key, value, "a list of socket names (name:w for a writable one)")
    return tuple(value)
