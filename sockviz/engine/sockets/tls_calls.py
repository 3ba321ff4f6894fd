"""TLS over a traced socket: Python's ``ssl`` on the same connected TCP socket, each call
one event - ``wrap_socket()``, ``do_handshake()``, and then ``sendall()``/``recv()``, which
write and read TLS records while the program sees only plaintext.

Why apart from :mod:`sockviz.engine.sockets.traced_socket`: an ``SSLSocket`` on a socket the
engine keeps non-blocking asks to wait in its own words (``SSLWantReadError``: a whole record
has not come yet) where a plain socket says ``EAGAIN``, and a call may have to write before
it can read (the handshake). The waits are the traced socket's (:meth:`TracedSocket._wait`):
poll() on the socket and the wake-up pipe, so stopping a run ends them. A wait that runs out
of time reports ``EAGAIN``, as a plain call does. Standard library only (``ssl``).
"""

from __future__ import annotations

import errno
import os
import socket
import ssl
import time
from collections.abc import Callable
from functools import partial

from sockviz.engine.events import PREVIEW_CAP, CallEvent
from sockviz.engine.sockets.call_words import bytes_arg
from sockviz.engine.sockets.traced_socket import TracedSocket
from sockviz.engine.sockets.tracer import READ, WRITE
from sockviz.engine.states import Call, Role

#: What a TLS socket's next call needs before it can go on: ssl's exception -> poll's event.
WANTS: dict[type[ssl.SSLError], int] = {ssl.SSLWantReadError: READ, ssl.SSLWantWriteError: WRITE}


#: What ssl's "want" exceptions say (OpenSSL's words).
WANT_WORDS: dict[type[ssl.SSLError], str] = {
    ssl.SSLWantReadError: "The operation did not complete (read)",
    ssl.SSLWantWriteError: "The operation did not complete (write)",
}


def is_tls(ts: TracedSocket) -> bool:
    """Whether ``ts`` carries TLS now (``wrap_socket()`` was made on it)."""
    return isinstance(ts.sock, ssl.SSLSocket)


def wrap(
    ts: TracedSocket, context: ssl.SSLContext, hostname: str | None, step: int | None = None
) -> CallEvent:
    """``context.wrap_socket(sock, ...)``: TLS on the connected socket - the server side on a
    connection from ``accept()``, the client side (checking the server's certificate names
    ``hostname``) on a client. No byte moves yet (``do_handshake_on_connect=False``)."""
    server = ts.role is Role.CONNECTION
    args = "server_side=True" if server else f"server_hostname={hostname!r}"
    after, sock = ts.begin_call(Call.WRAP)
    with ts.tracer.lock:
        try:
            wrapped = context.wrap_socket(
                sock,
                server_side=server,
                server_hostname=None if server else hostname,
                do_handshake_on_connect=False,
            )
        except (OSError, ValueError) as err:
            return ts.emit(Call.WRAP, args, step=step, error=_oserror(err))
        ts.sock = wrapped
        return ts.emit(Call.WRAP, args, step=step, after=after)


def handshake(ts: TracedSocket, step: int | None = None, timeout: float | None = None) -> CallEvent:
    """``do_handshake()``: write this side's records, read the peer's, until both ends hold
    the keys - the client's first records (ClientHello) go before it waits, so the wait is
    for the peer's answer."""
    after, sock = ts.begin_call(Call.HANDSHAKE)
    assert isinstance(sock, ssl.SSLSocket)  # (wrap_socket() came first: the lifecycle's order)
    error = _until_done(ts, sock, sock.do_handshake, timeout, first=False)
    with ts.tracer.lock:
        return ts.emit(Call.HANDSHAKE, "", step=step, error=error, after=None if error else after)


def sendall(
    ts: TracedSocket, data: bytes, step: int | None = None, timeout: float | None = None
) -> CallEvent:
    """``sendall(data)`` on a TLS socket: the plaintext goes out as records (the event's bytes
    are the plaintext the program gave; the wire shows the records)."""
    after, sock = ts.begin_call(Call.SENDALL)
    view = memoryview(data)
    sent = parts = 0
    error: OSError | None = None
    while sent < len(view) or parts == 0:
        rest = view[sent:]
        taken: list[int] = []
        error = _until_done(ts, sock, partial(_send, sock, rest, taken), timeout, first=parts == 0)
        if error is not None:
            break
        parts += 1
        sent += taken[0]
        ts.sent_total += taken[0]
    with ts.tracer.lock:
        return ts.emit(
            Call.SENDALL,
            bytes_arg(data),
            step=step,
            after=None if error else after,
            error=error,
            nbytes=sent,
            data=bytes(view[: min(sent, PREVIEW_CAP)]),
            parts=parts,
        )


def recv(
    ts: TracedSocket, bufsize: int, step: int | None = None, timeout: float | None = None
) -> CallEvent:
    """``recv(bufsize)`` on a TLS socket: the plaintext of the next records (a record is
    taken whole: TLS checks it before it gives back a byte); b"" when the peer closed."""
    after, sock = ts.begin_call(Call.RECV)
    assert isinstance(sock, ssl.SSLSocket)
    if not sock.pending():  # (plaintext already decrypted and held: no wait for the socket)
        ts._wait(sock, READ, timeout)
    got: list[bytes] = []
    error = _until_done(ts, sock, lambda: got.append(sock.recv(bufsize)), timeout, first=False)
    with ts.tracer.lock:
        if error is not None:
            return ts.emit(Call.RECV, repr(bufsize), step=step, error=error)
        chunk = got[0]
        ts.recv_total += len(chunk)
        ts.last_received = chunk
        return ts.emit(
            Call.RECV, repr(bufsize), step=step, after=after, nbytes=len(chunk), data=chunk
        )


def _send(sock: socket.socket, data: memoryview, taken: list[int]) -> None:
    """One send() on the TLS socket; what it took, put in ``taken``."""
    taken.append(sock.send(data))


def _until_done(
    ts: TracedSocket,
    sock: ssl.SSLSocket | socket.socket,
    attempt: Callable[[], object],
    timeout: float | None,
    first: bool,
) -> OSError | None:
    """Make ``attempt`` (one ssl call) until it returns: after each "want to read/write",
    wait for the socket (``first``: the first wait begins the call, as a plain call's
    does). The error it ends with (None: it succeeded); ``EAGAIN`` once ``timeout`` has run
    out or at once on a non-blocking socket, as a plain call says."""
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        with ts.tracer.lock:
            try:
                attempt()
                return None
            except (ssl.SSLWantReadError, ssl.SSLWantWriteError) as want:
                if ts.nonblocking:  # (the program's own non-blocking socket: ssl's answer)
                    return TlsError(type(want).__name__, WANT_WORDS[type(want)])
                needed = WANTS[type(want)]
            except (OSError, ValueError) as err:
                return _oserror(err)
        left = None if deadline is None else deadline - time.monotonic()
        if left is not None and left <= 0:
            return BlockingIOError(errno.EAGAIN, os.strerror(errno.EAGAIN))
        ts._wait(sock, needed, left, first=first)
        first = False


def _oserror(err: Exception) -> OSError:
    """An ssl failure as the OSError the event carries: its own name where it has no errno
    of the kernel's (an ``SSLError``'s ``errno`` is OpenSSL's code, not one of errno's)."""
    if isinstance(err, ssl.SSLCertVerificationError):
        return TlsError(type(err).__name__, f"{err.reason}: {err.verify_message}")
    if isinstance(err, ssl.SSLError):
        return TlsError(type(err).__name__, str(err.reason or err))
    if isinstance(err, OSError):
        return err
    return TlsError(type(err).__name__, str(err))


class TlsError(OSError):
    """A TLS failure (``name``: ssl's, such as ``SSLCertVerificationError``), with no errno."""

    def __init__(self, name: str, text: str) -> None:
        super().__init__(None, text)
        self.tls_name = name


#: The calls made here on a TLS socket (any other goes to the plain socket: close, shutdown,
#: setsockopt).
TLS_CALLS = (Call.WRAP, Call.HANDSHAKE, Call.SENDALL, Call.RECV)


def takes(ts: TracedSocket, call: Call) -> bool:
    """Whether ``call`` on ``ts`` is made here: TLS's own calls, and data calls once it is
    wrapped."""
    return call in (Call.WRAP, Call.HANDSHAKE) or (call in TLS_CALLS and is_tls(ts))


def perform(
    ts: TracedSocket, call: Call, args: tuple[object, ...], step: int, timeout: float | None
) -> CallEvent:
    """One step's TLS call (``args`` as the runner resolved them: for ``wrap_socket`` the
    scenario's (context, server name))."""
    if call is Call.WRAP:
        pair = args[0]  # (the scenario's (context, server name))
        assert isinstance(pair, tuple) and isinstance(pair[0], ssl.SSLContext)
        return wrap(ts, pair[0], None if pair[1] is None else str(pair[1]), step=step)
    if call is Call.HANDSHAKE:
        return handshake(ts, step=step, timeout=timeout)
    if call is Call.SENDALL:
        return sendall(ts, args[0], step=step, timeout=timeout)  # type: ignore[arg-type]
    return recv(ts, args[0], step=step, timeout=timeout)  # type: ignore[arg-type]
