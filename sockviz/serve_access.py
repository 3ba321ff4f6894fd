"""Who may use ``--serve``: the addresses it answers as, and its join token.

A browser names the server twice in every request: in ``Host`` (the address it typed) and,
for a WebSocket, in ``Origin`` (the page that opens it). Any web page can make a browser
open a WebSocket anywhere, and a name a stranger controls can be made to point at this
machine (DNS rebinding), so both must be one of the addresses the server listens on. For
``0.0.0.0`` or ``::`` those are this machine's interface addresses, read from the kernel.

On loopback that is all: only this machine's own programs get that far. Bound beyond
loopback (a classroom LAN), anyone on the network can reach the port, so every request must
also carry a one-time token, printed once in the URL the server is joined by
(``http://ADDR:PORT/?token=...``): the first page request brings it in its query, and leaves
it in a cookie for the page's assets; the page's WebSocket URL carries it in its path
(``/ws/TOKEN``: textual-serve's script appends a query of its own to that URL).
"""

from __future__ import annotations

import hmac
import ipaddress
import secrets
import socket
import struct

_LOOPBACK_ORIGIN_HOSTS = ("127.0.0.1", "localhost", "[::1]")


def url_host(host: str) -> str:
    """``host`` as it goes in a URL: an IPv6 literal needs brackets (RFC 3986), or its
    colons would read as a port: ``http://::1:8767`` is no address at all."""
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


def server_url(host: str, port: int) -> str:
    return f"http://{url_host(host)}:{port}"


def _address(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


def is_loopback(host: str) -> bool:
    """Whether serving on ``host`` reaches this machine only."""
    address = _address(host)
    return host.lower() == "localhost" if address is None else address.is_loopback


def is_wildcard(host: str) -> bool:
    address = _address(host)
    return host == "" or (address is not None and address.is_unspecified)


def interface_addresses() -> list[str]:
    """Every IPv4 and IPv6 address of this machine's interfaces, as the kernel lists them
    (an RTM_GETADDR dump on a routing netlink socket: secondary addresses included, which
    older ioctls miss). IPv6 link-local addresses are left out: a URL cannot use them
    without an interface name, which browsers do not take."""
    header, ifaddr = struct.Struct("=IHHII"), struct.Struct("=BBBBI")
    rtm_getaddr, rtm_newaddr, nlmsg_done, nlmsg_error = 22, 20, 3, 2
    request_dump, ifa_address, ifa_local = 0x301, 1, 2  # NLM_F_REQUEST | NLM_F_DUMP
    found: list[str] = []
    with socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, socket.NETLINK_ROUTE) as nl:
        nl.settimeout(2.0)
        nl.bind((0, 0))
        nl.send(
            header.pack(header.size + ifaddr.size, rtm_getaddr, request_dump, 1, 0)
            + ifaddr.pack(socket.AF_UNSPEC, 0, 0, 0, 0)
        )
        while True:
            data, offset = nl.recv(1 << 16), 0
            while offset + header.size <= len(data):
                length, kind = header.unpack_from(data, offset)[:2]
                if kind in (nlmsg_done, nlmsg_error) or length < header.size:
                    return found
                if kind == rtm_newaddr:
                    family = data[offset + header.size]
                    attrs, at = {}, offset + header.size + ifaddr.size
                    while at + 4 <= offset + length:
                        size, attr = struct.unpack_from("=HH", data, at)
                        if size < 4:
                            break
                        attrs[attr] = data[at + 4 : at + size]
                        at += (size + 3) & ~3
                    raw = attrs.get(ifa_local) or attrs.get(ifa_address)
                    if raw and family in (socket.AF_INET, socket.AF_INET6):
                        address = socket.inet_ntop(family, raw)
                        if (
                            family == socket.AF_INET
                            or not ipaddress.ip_address(address).is_link_local
                        ):
                            found.append(address)
                offset += (length + 3) & ~3


def _family_of(host: str) -> int | None:
    """The family a wildcard listens on: asyncio binds ``::`` as IPv6 only."""
    address = _address(host)
    return (
        None if address is None else (socket.AF_INET6 if address.version == 6 else socket.AF_INET)
    )


class Access:
    """The addresses ``--serve`` answers as, the origins that may open a tab, and the join
    token (None on loopback, where none is needed)."""

    def __init__(self, host: str, port: int, token: str | None = None) -> None:
        self.host, self.port = host, port
        self.token = token if token is not None or is_loopback(host) else secrets.token_urlsafe(18)
        self.cookie = f"sockviz-token-{port}"
        """The cookie the page's assets carry the token in (one server per port)."""
        self.addresses = self._listening()
        self.hosts = self._names(self.addresses)

    def _listening(self) -> list[str]:
        """The addresses the server listens on, as a browser could be told them: the one
        given, or for a wildcard this machine's (those of its family), loopback last."""
        if not is_wildcard(self.host):
            return [self.host.strip("[]")]
        try:
            found = interface_addresses()
        except (OSError, AttributeError):  # no routing netlink here (not Linux): the
            # loopback addresses at least
            found = ["127.0.0.1", "::1"]
        family = _family_of(self.host)
        found = [a for a in found if family is None or _family_of(a) == family]
        return sorted(found, key=is_loopback)

    @staticmethod
    def _names(addresses: list[str]) -> frozenset[str]:
        """URL hosts a browser may use: the addresses, and on loopback its other spellings
        (anything listening on those is this machine's already)."""
        names = {url_host(a.lower()) for a in addresses}
        if any(is_loopback(a) for a in addresses):
            names.update(_LOOPBACK_ORIGIN_HOSTS)
        return frozenset(names)

    def authorities(self) -> frozenset[str]:
        """``Host`` values accepted; browsers leave out port 80."""
        ports = (f":{self.port}", "") if self.port == 80 else (f":{self.port}",)
        return frozenset(f"{name}{suffix}" for name in self.hosts for suffix in ports)

    def host_ok(self, host: str | None) -> bool:
        """Whether a request's ``Host`` is one of the server's addresses. For a wildcard an
        unknown one has the interfaces read again (an address may have come since)."""
        if host is None:
            return False
        if host.lower() in self.authorities():
            return True
        if is_wildcard(self.host):
            self.addresses = self._listening()
            self.hosts = self._names(self.addresses)
            return host.lower() in self.authorities()
        return False

    def origin_ok(self, origin: str | None) -> bool:
        """Whether a WebSocket's ``Origin`` is a page of this server (browsers write it in
        lower case). A missing one is refused: every browser sends one, and a client that
        is not a browser can send the right one."""
        if origin is None or not origin.lower().startswith("http://"):
            return False
        return self.host_ok(origin[len("http://") :])

    def token_ok(self, given: str | None) -> bool:
        if self.token is None:
            return True
        return given is not None and hmac.compare_digest(given.encode(), self.token.encode())

    def urls(self, fontsize: int | None = None) -> list[str]:
        """What to open, printed once: with the token in it when one is needed, and the
        page's ``fontsize`` (larger text for a projector) when one is given."""
        query = [] if self.token is None else [f"token={self.token}"]
        if fontsize is not None:
            query.append(f"fontsize={fontsize}")
        tail = "/?" + "&".join(query) if query else ""
        return [server_url(a, self.port) + tail for a in self.addresses]


def allowed_origins(host: str, port: int) -> frozenset[str]:
    """The ``Origin`` values of pages that may open a tab on a server bound to ``host``."""
    access = Access(host, port, token="")
    return frozenset(f"http://{authority}" for authority in access.authorities())
