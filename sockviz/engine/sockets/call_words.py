"""How a socket call and its arguments are written: the errno's name, a socket address, the
arguments as a learner would write them in Python. Standard library only."""

from __future__ import annotations

import errno
import socket
from typing import Any

from sockviz.engine.states import Call


def errno_name(err: OSError) -> str:
    """``ECONNREFUSED`` for an OSError, or a stand-in name when there is no errno."""
    if err.errno is not None:
        return errno.errorcode.get(err.errno, f"E{err.errno}")
    if isinstance(err, TimeoutError):
        return "ETIMEDOUT"
    return str(getattr(err, "tls_name", type(err).__name__))  # (TLS's: ssl's own names)


def format_address(family: int, addr: Any) -> str | None:
    """``127.0.0.1:5000``, ``[::1]:5000`` or a Unix path; None for "no address"."""
    if addr is None:
        return None
    if family == getattr(socket, "AF_UNIX", None):
        text: str = addr.decode("utf-8", "backslashreplace") if isinstance(addr, bytes) else addr
        if text.startswith("\0"):  # (abstract namespace: written as ss writes it, "@name")
            return "@" + text[1:]
        return text or None
    host, port = addr[0], addr[1]
    if port == 0 and host in ("0.0.0.0", "::"):
        return None
    if family == socket.AF_INET6:
        return f"[{host}]:{port}"
    return f"{host}:{port}"


def family_name(family: int) -> str:
    try:
        return socket.AddressFamily(family).name
    except ValueError:
        return str(family)


def bytes_arg(data: bytes, cap: int = 40) -> str:
    shown = repr(bytes(data[:cap]))
    return shown if len(data) <= cap else f"{shown}…  # {len(data)} bytes"


_SHUT_NAMES = {socket.SHUT_RD: "SHUT_RD", socket.SHUT_WR: "SHUT_WR", socket.SHUT_RDWR: "SHUT_RDWR"}


def call_args(call: Call, *args: Any) -> str:
    """A call's arguments written as a learner would write them in Python."""
    if call is Call.SOCKET:
        family, transport = args
        return f"socket.{family_name(family)}, socket.{transport.value}"
    if call is Call.SETSOCKOPT:
        level, option, value = args
        if isinstance(value, tuple):  # a struct, e.g. SO_LINGER's (on, seconds)
            value = f"struct.pack('ii', {', '.join(str(v) for v in value)})"
            return f"socket.{level}, socket.{option}, {value}"
        return f"socket.{level}, socket.{option}, {value!r}"
    if call is Call.SHUTDOWN:
        (how,) = args
        return f"socket.{_SHUT_NAMES.get(how, how)}"
    if call in (Call.SEND, Call.SENDALL):
        return bytes_arg(args[0])
    if call is Call.SENDTO:
        return f"{bytes_arg(args[0])}, {args[1]!r}"
    if call in (Call.ACCEPT, Call.CLOSE):
        return ""
    return ", ".join(repr(a) for a in args)


def constant(name: str) -> int:
    """``"SO_REUSEADDR"`` -> ``socket.SO_REUSEADDR``; ValueError for a name it does not have."""
    value = getattr(socket, name, None)
    if not name.isupper() or not isinstance(value, int):
        raise ValueError(f"socket has no constant named {name!r}")
    return value
