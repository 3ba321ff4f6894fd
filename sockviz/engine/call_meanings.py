"""Words for what happened: the Python line, the C call behind it, why the state changed.

Plain functions of events and steps, standard library only, so the TUI, an export or a
quiz can all say the same thing the same way.
"""

from __future__ import annotations

from sockviz.engine.events import CallEvent, TcpSettings
from sockviz.engine.kernel.tcp_settings import fin_timeout_words
from sockviz.engine.states import Call, State


def variable(name: str) -> str:
    """The Python variable a socket would live in: ``conn-1`` -> ``conn_1``."""
    return name.replace("-", "_")


def python_line(socket: str, call: Call, args: str | None, parent: str | None = None) -> str:
    """The line of Python that makes the call, as a learner would write it."""
    var = variable(socket)
    args = args or ""
    if call is Call.SOCKET:
        return f"{var} = socket.socket({args})"
    if call is Call.ACCEPT:
        listener = variable(parent) if parent else var
        target = var if parent else "conn"
        return f"{target}, address = {listener}.accept()"
    if call is Call.RECV:
        return f"data = {var}.recv({args})"
    if call is Call.RECVFROM:
        return f"data, address = {var}.recvfrom({args})"
    if call in (Call.SEND,):
        return f"sent = {var}.send({args})"
    if call is Call.SELECT:
        names = args.replace("-", "_")
        return f"readable, writable, _ = select.select({names})"
    if call is Call.WRAP:
        side = "server" if "server_side" in args else "client"
        return f"{var} = {side}_context.wrap_socket({var}, {args}, do_handshake_on_connect=False)"
    return f"{var}.{call.value}({args})"


_C_CALLS = {
    Call.SOCKET: "socket(domain, type, 0)",
    Call.SETSOCKOPT: "setsockopt(fd, level, name, &value, len)",
    Call.BIND: "bind(fd, &addr, len)",
    Call.LISTEN: "listen(fd, backlog)",
    Call.ACCEPT: "accept4(fd, &peer, &len, SOCK_CLOEXEC)",
    Call.CONNECT: "connect(fd, &addr, len)",
    Call.SEND: "send(fd, buf, n, 0)",
    Call.SENDALL: "send(fd, buf, n, 0) until all sent",
    Call.RECV: "recv(fd, buf, size, 0)",
    Call.SENDTO: "sendto(fd, buf, n, 0, &addr, len)",
    Call.RECVFROM: "recvfrom(fd, buf, size, 0, &peer, &len)",
    Call.SHUTDOWN: "shutdown(fd, how)",
    Call.CLOSE: "close(fd)",
    Call.SETBLOCKING: "ioctl(fd, FIONBIO, &on)  (in C often fcntl(fd, F_SETFL, O_NONBLOCK))",
    Call.SELECT: "select(nfds, &readfds, &writefds, NULL, &timeout)",
    Call.WRAP: "ssl = SSL_new(ctx); SSL_set_fd(ssl, fd)  (OpenSSL, under Python's ssl)",
    Call.HANDSHAKE: "SSL_do_handshake(ssl)  (send() and recv() of TLS records under it)",
}


def c_call(call: Call) -> str:
    """The C library call behind a Python socket method."""
    return _C_CALLS[call]


def state_reason(event: CallEvent, before: State | None) -> str:
    """Why the lifecycle state is what it is after this call, in one sentence."""
    after = event.state
    if event.error:
        kept = f"stays {after.value}" if after else "was never created"
        return f"The call failed ({event.error}: {event.error_text}), so the socket {kept}."
    call = event.call
    local, remote = event.local or "?", event.remote or "?"
    if call is Call.SOCKET:
        return "A new socket starts out created: it exists, but has no address yet."
    if call is Call.BIND:
        return f"bind() gave it the address {local}, so it is bound: peers know where to find it."
    if call is Call.LISTEN:
        return f"listen() made it a listener: the kernel now accepts connections to {local} for it."
    if call is Call.ACCEPT:
        return (
            f"accept() returned a new socket, born connected: {local} ↔ {remote}. "
            f"The listener {event.parent} stays listening."
        )
    if call is Call.CONNECT:
        bound = (
            f" The kernel bound it to {local} on the way (an ephemeral port)."
            if event.implicit_bind
            else ""
        )
        return f"connect() linked it to {remote}, so it is connected.{bound}"
    if call is Call.SENDTO and event.implicit_bind:
        return f"The first sendto() made the kernel bind it to {local}, so it is now bound."
    if call is Call.SHUTDOWN:
        return shutdown_reason(event.args)
    if call is Call.CLOSE:
        return "close() released the descriptor: the socket is closed for good."
    if call is Call.SETBLOCKING:
        state = after.value if after else "—"
        return (
            "setblocking(False) made it non-blocking: a call that would wait fails at once "
            f"(EAGAIN; connect(): EINPROGRESS). The state is unchanged: {state}."
        )
    if call is Call.SELECT:
        ready = ", ".join(event.ready or ()) or "none: it waited its whole timeout"
        return (
            "select() changes no socket: it waited until the kernel had one of them ready "
            f"(a read that would not wait, or a write). Ready: {ready}."
        )
    if call is Call.WRAP:
        return (
            "wrap_socket() put TLS (OpenSSL, through Python's ssl) over the connected socket: "
            "no byte has moved, and the kernel's socket is as it was - CONNECTED."
        )
    if call is Call.HANDSHAKE:
        return (
            "do_handshake() wrote and read TLS records over the connection until both ends held "
            "the same keys; to the kernel they were bytes like any others, so the state is "
            "unchanged: CONNECTED."
        )
    if call is Call.RECV and event.nbytes == 0:
        return "0 bytes means the peer closed its side: end of stream. The state is unchanged."
    if call in (Call.SEND, Call.SENDALL, Call.SENDTO, Call.RECV, Call.RECVFROM):
        n = event.nbytes or 0
        word = "sent" if call in (Call.SEND, Call.SENDALL, Call.SENDTO) else "received"
        return f"{n} byte{'s' if n != 1 else ''} {word}; moving data does not change the state."
    if before is not None and after is before:
        return f"The state is unchanged: {after.value}."
    return f"{before.value if before else '—'} → {after.value if after else '—'}."


def shutdown_reason(args: str | None) -> str:
    """What a shutdown() ended, from the ``how`` it was given (its args)."""
    how = (args or "").replace("socket.", "")
    if "SHUT_RDWR" in how:
        return (
            "shutdown(SHUT_RDWR) ended both directions: no more sending (on TCP a FIN "
            "goes out) and recv() no longer waits (it returns what has arrived, then 0); "
            "the descriptor stays open until close()."
        )
    if "SHUT_RD" in how:
        return (
            "shutdown(SHUT_RD) ended our receiving as the program sees it: recv() returns "
            "what has arrived, then 0 instead of waiting (Linux still takes in what the "
            "peer sends, and tells it nothing). We can still send."
        )
    if "SHUT_WR" in how:
        return (
            "shutdown(SHUT_WR) ended our sending (on TCP a FIN goes out); we can still "
            "receive. The socket is half-closed."
        )
    return f"shutdown({args or ''}) ended the direction it names."


_KERNEL_MEANING = {
    "LISTEN": "waiting for connection requests",
    "SYN_SENT": "SYN sent, waiting for the server's SYN-ACK",
    "SYN_RECV": "SYN received, SYN-ACK sent, waiting for the final ACK",
    "ESTABLISHED": "the connection is open both ways",
    "FIN_WAIT1": "we sent FIN, waiting for it to be acknowledged",
    "FIN_WAIT2": (
        "our FIN was acknowledged; waiting for the peer's FIN (once its program "
        "has closed it, at most net.ipv4.tcp_fin_timeout: help shows this run's)"
    ),
    "CLOSE_WAIT": "the peer sent FIN; waiting for this program to close",
    "LAST_ACK": "we sent our FIN after the peer's; waiting for the last ACK",
    "TIME_WAIT": (
        "closed first; Linux keeps the connection a fixed 60 s (TCP_TIMEWAIT_LEN) "
        "to ACK the peer's FIN again if our last ACK is lost, and so late segments "
        "die out"
    ),
    "CLOSING": "both sides sent FIN at once; waiting for the ACK (both then go TIME_WAIT)",
    "CLOSE": "no connection: the kernel holds no TCP state for it",
}


def kernel_meaning(state: str | None, settings: TcpSettings | None = None) -> str:
    """What a kernel TCP state means, in a few words; with the run's kernel settings
    (:class:`~sockviz.engine.events.TcpSettings`), FIN_WAIT2's says its tcp_fin_timeout."""
    if state is None:
        return "no kernel TCP state (UDP, or not Linux)"
    if state == "FIN_WAIT2" and settings is not None:
        return (
            f"our FIN was acknowledged; waiting for the peer's FIN ({fin_timeout_words(settings)})"
        )
    return _KERNEL_MEANING.get(state, state)


_ERRNO_HELP = {
    "ECONNREFUSED": "Nothing is listening at that address: the peer's kernel answered with RST.",
    "EADDRINUSE": (
        "This address and port are taken: by another socket, or by a connection "
        "the kernel still keeps in TIME_WAIT after its socket was closed."
    ),
    "EADDRNOTAVAIL": "That address is not one of this machine's.",
    "EAFNOSUPPORT": "This machine does not support that address family.",
    "ECONNRESET": "The peer reset the connection (RST): it closed abruptly.",
    "EPIPE": "The connection is closed for writing: the peer has gone, or we shut it down.",
    "ENOTCONN": "The socket is not connected.",
    "EAGAIN": "Nothing was ready: the call would have had to wait.",
    "EINPROGRESS": (
        "A non-blocking connect() returns at once: the SYN is sent and the "
        "handshake goes on in the kernel without the program."
    ),
    "ETIMEDOUT": "The peer did not answer in time.",
    "EACCES": "Ports below 1024 need special privileges.",
    "EHOSTUNREACH": "There is no route to that host.",
    "ENETUNREACH": "There is no route to that network.",
}


#: Where a datagram socket's error means something else than a stream socket's.
_DGRAM_HELP = {
    "ECONNREFUSED": (
        "Nothing is listening at that address: its host's kernel answered a datagram with "
        "ICMP port unreachable, and this socket, connected, is told on its next call."
    ),
}


def errno_help(name: str | None, kind: str | None = None) -> str:
    """A plain explanation of an errno name (``kind``: the socket's type, ``SOCK_DGRAM``
    or ``SOCK_STREAM``), or an empty string."""
    if kind == "SOCK_DGRAM" and name in _DGRAM_HELP:
        return _DGRAM_HELP[name]
    return _ERRNO_HELP.get(name or "", "")
