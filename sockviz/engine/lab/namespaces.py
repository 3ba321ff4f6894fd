"""A private network of the process's own: a user namespace and a network namespace, made
with ``unshare`` so that anyone - no root needed - can watch the wire of a run.

Inside, the process is root *of that namespace only*: it may open a packet socket
(:class:`~sockviz.engine.wire.capture.Capture`) on its own loopback, which carries nothing but the
run's own segments. The addresses are the same (127.0.0.1, ::1); nothing inside can reach
this machine's network or be reached from it. The kernel refuses ``unshare`` of a user
namespace to a process with more than one thread, so :func:`enter_private` must be the
first thing a process does (the engine process and ``--trace`` call it before any thread);
where user namespaces are turned off (a sysctl, a container's profile) it says so.

Standard library only (``ctypes`` for the two calls Python's ``os`` lacks on 3.11).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import fcntl
import os
import socket
import struct
import threading

CLONE_NEWUSER = 0x10000000
CLONE_NEWNET = 0x40000000
SIOCGIFFLAGS = 0x8913
SIOCSIFFLAGS = 0x8914
IFF_UP = 0x1


class NoPrivateNetwork(Exception):
    """No private network here; the message says why, in one line."""


def unshare(flags: int) -> None:
    """``unshare(2)``: this process (or thread) into new namespaces of these kinds."""
    call = getattr(os, "unshare", None)  # (Python 3.12 has it)
    if call is not None:
        call(flags)
        return
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    if libc.unshare(ctypes.c_int(flags)) != 0:
        number = ctypes.get_errno()
        raise OSError(number, os.strerror(number))


def _write(path: str, text: str) -> None:
    with open(path, "w") as f:
        f.write(text)


def loopback_up() -> None:
    """Bring ``lo`` up (a new network namespace starts with it down)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        request = struct.pack("16sH14s", b"lo", 0, b"")
        flags = struct.unpack("16sH14s", fcntl.ioctl(s, SIOCGIFFLAGS, request))[1]
        fcntl.ioctl(s, SIOCSIFFLAGS, struct.pack("16sH14s", b"lo", flags | IFF_UP, b""))


def enter_private() -> None:
    """Move this process into a user and network namespace of its own, as their root, with
    loopback up. :class:`NoPrivateNetwork` says why when it cannot."""
    if threading.active_count() > 1:
        raise NoPrivateNetwork("a private network must be entered before any thread starts")
    uid, gid = os.getuid(), os.getgid()
    try:
        unshare(CLONE_NEWUSER | CLONE_NEWNET)
    except OSError as exc:
        if exc.errno in (errno.EPERM, errno.ENOSPC, errno.EUSERS):
            raise NoPrivateNetwork(
                "user namespaces are turned off here, so the wire cannot be watched without root"
            ) from None
        if exc.errno == errno.EINVAL:
            raise NoPrivateNetwork("a private network needs a process with one thread") from None
        raise NoPrivateNetwork(f"no private network: {exc.strerror or exc}") from None
    try:
        _write("/proc/self/setgroups", "deny")
        _write("/proc/self/uid_map", f"0 {uid} 1")
        _write("/proc/self/gid_map", f"0 {gid} 1")
        loopback_up()
    except OSError as exc:
        raise NoPrivateNetwork(
            f"the private network would not start: {exc.strerror or exc}"
        ) from None
