"""What is known of one of the run's sockets between its calls: who it is (name, role,
family, transport), its real addresses as the trace writes them, the bytes it moved.

The base of :class:`~sockviz.engine.sockets.traced_socket.TracedSocket`, which adds the calls:
kept apart because it is what the rest of the engine reads of a socket - the registry, the
kernel watch and the wire know a socket by these fields only
(:class:`~sockviz.engine.kernel.socket_registry.RunSocket`) - and so that the calls' module
reads as the calls.
"""

from __future__ import annotations

import os
import socket
from typing import TypeVar

from sockviz.engine.kernel.socket_registry import Address
from sockviz.engine.sockets.call_words import family_name, format_address
from sockviz.engine.states import INITIAL, Role, State, Transport

_SHARED: dict[object, object] = {}

_T = TypeVar("_T")


def _shared(value: _T) -> _T:
    """One object for equal local addresses (every connection a listener accepts has the
    listener's): a flood keeps thousands of sockets waiting out TIME_WAIT."""
    if value is None:
        return value
    if len(_SHARED) > 1024:
        _SHARED.clear()
    return _SHARED.setdefault(value, value)  # type: ignore[return-value]  # (equal: same type)


class SocketRecord:
    """One socket of the run as the trace knows it (see the module docstring)."""

    # (slots: a flood leaves thousands of them waiting out TIME_WAIT in the kernel watch)
    __slots__ = (
        "__weakref__",
        "_local",
        "_local_of",
        "_peer_hint",
        "_remote",
        "_remote_of",
        "family",
        "family_name",
        "inode",
        "last_local",
        "last_peer",
        "last_received",
        "last_remote",
        "name",
        "parent",
        "recv_total",
        "role",
        "sent_total",
        "sock",
        "state",
        "transport",
    )

    def __init__(
        self,
        name: str,
        role: Role,
        family: int,
        transport: Transport,
        sock: socket.socket | None = None,
        parent: str | None = None,
    ) -> None:
        self.name = name
        self.role = role
        self.family = family
        self.family_name = family_name(family)
        self.transport = transport
        self.sock = sock
        """The real socket (None when ``socket()`` failed)."""
        self.inode = 0 if sock is None else os.fstat(sock.fileno()).st_ino
        """The socket's file's inode (what ``ss`` shows), kept by :meth:`hold`: once closed,
        a kernel socket by its addresses with this inode is still this one, being let go."""
        self.parent = parent
        """A connection's listener (by name)."""
        self.state: State | None = INITIAL[role] if sock is not None else None
        """Our lifecycle state (None when ``socket()`` failed)."""
        self.sent_total = 0
        self.recv_total = 0
        self.last_local: Address | None = None
        self.last_remote: Address | None = None
        self._local: str | None = None
        self._remote: str | None = None
        self._local_of: Address | None = None
        self._remote_of: Address | None = None
        self.last_received = b""
        """Every byte the last ``recv``/``recvfrom`` returned (not capped): for echoing."""
        self.last_peer: Address | None = None
        """The address the last datagram came from (``recvfrom``)."""
        self._peer_hint: Address | None = None  # the datagram peer of the call in progress

    def hold(self, sock: socket.socket) -> None:
        """Take ``sock`` as this record's real socket (and its file's inode)."""
        self.sock = sock
        self.inode = os.fstat(sock.fileno()).st_ino

    @property
    def watchable(self) -> bool:
        """TCP over IPv4 or IPv6: a socket whose kernel state the kernel watch reads."""
        return self.transport is Transport.STREAM and self.family in (
            socket.AF_INET,
            socket.AF_INET6,
        )

    @property
    def local(self) -> str | None:
        """The local address as the trace writes it (worked out once per address)."""
        if self._local_of is not self.last_local:
            self._local_of = self.last_local
            self._local = _shared(format_address(self.family, self.last_local))
        return self._local

    @property
    def remote(self) -> str | None:
        """The remote address as the trace writes it (worked out once per address)."""
        if self._remote_of is not self.last_remote:
            self._remote_of = self.last_remote
            self._remote = format_address(self.family, self.last_remote)
        return self._remote

    def _refresh_addresses(self) -> None:
        """Read the real addresses again after a call that may have changed them."""
        if self.sock is None or self.state is State.CLOSED:
            return
        if self.last_remote is not None and self.transport is Transport.STREAM:
            return  # (a TCP connection's two addresses never change)
        try:
            self.last_local = _shared(self.sock.getsockname())
        except OSError:
            pass
        if self.transport is Transport.DGRAM and self.state is not State.CONNECTED:
            if self._peer_hint is not None:
                self.last_remote = self._peer_hint
            return
        try:
            self.last_remote = self.sock.getpeername()
        except OSError:
            pass
