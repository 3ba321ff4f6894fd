"""TracedSocket on real loopback sockets: one call, one event, the truth in it."""

from __future__ import annotations

import socket
import threading

import pytest

from sockviz.engine.events import CallEvent, KernelEvent
from sockviz.engine.run.runner import FAMILIES
from sockviz.engine.sockets.traced_socket import TracedSocket, Tracer
from sockviz.engine.states import Call, IllegalTransition, Role, State, Transport
from tests.helpers import Collector


@pytest.fixture
def tracer():
    collector = Collector()
    tr = Tracer(collector)
    tr.collector = collector
    yield tr
    tr.stop()
    tr.close_all()
    tr.close()


def make(tracer, name, role, family="ipv4", transport=Transport.STREAM):
    event, ts = TracedSocket.create(tracer, name, role, FAMILIES[family].af, transport)
    assert event.ok, event
    return ts


def tcp_pair(tracer, family):
    """A listener, a connected client and the accepted connection."""
    host = FAMILIES[family].loopback
    listener = make(tracer, "server", Role.LISTENER, family)
    listener.bind((host, 0))
    listener.listen(5)
    client = make(tracer, "client", Role.CLIENT, family)
    client.connect(listener.sock.getsockname()[:2], timeout=2)
    _, conn = listener.accept("conn-1", timeout=2)
    return listener, client, conn


def test_one_event_per_call_in_order(tracer, family):
    listener, _client, conn = tcp_pair(tracer, family)
    calls = [(e.socket, e.call, e.state) for e in tracer.collector.calls]
    assert calls == [
        ("server", Call.SOCKET, State.CREATED),
        ("server", Call.BIND, State.BOUND),
        ("server", Call.LISTEN, State.LISTENING),
        ("client", Call.SOCKET, State.CREATED),
        ("client", Call.CONNECT, State.CONNECTED),
        ("conn-1", Call.ACCEPT, State.CONNECTED),
    ]
    seqs = [e.seq for e in tracer.collector.trace]
    assert seqs == list(range(1, len(seqs) + 1))
    assert listener.state is State.LISTENING
    assert conn.role is Role.CONNECTION and conn.parent == "server"


def test_addresses_are_the_real_ones(tracer, family):
    listener, client, _conn = tcp_pair(tracer, family)
    server_port = listener.sock.getsockname()[1]
    client_port = client.sock.getsockname()[1]
    assert server_port != 0 and client_port != 0
    host = FAMILIES[family].loopback
    fmt = (lambda p: f"[{host}]:{p}") if family == "ipv6" else (lambda p: f"{host}:{p}")
    by_call = {e.call: e for e in tracer.collector.calls}
    assert by_call[Call.BIND].local == fmt(server_port)
    assert by_call[Call.CONNECT].local == fmt(client_port)
    assert by_call[Call.CONNECT].remote == fmt(server_port)
    assert by_call[Call.ACCEPT].local == fmt(server_port)
    assert by_call[Call.ACCEPT].remote == fmt(client_port)
    assert by_call[Call.ACCEPT].parent == "server"
    assert by_call[Call.SOCKET].family == ("AF_INET6" if family == "ipv6" else "AF_INET")


def test_connect_shows_the_implicit_bind(tracer):
    _listener, _client, _conn = tcp_pair(tracer, "ipv4")
    connect = next(e for e in tracer.collector.calls if e.call is Call.CONNECT)
    assert connect.implicit_bind is True
    assert connect.local is not None and not connect.local.endswith(":0")
    bind = next(e for e in tracer.collector.calls if e.call is Call.BIND)
    assert bind.implicit_bind is False


def test_byte_counts_both_ways(tracer, family):
    _, client, conn = tcp_pair(tracer, family)
    client.sendall(b"abc" * 10)
    got = conn.recv(1024, timeout=2)
    conn.send(b"xy")
    back = client.recv(1024, timeout=2)
    assert (got.nbytes, got.data, got.recv_total) == (30, b"abc" * 10, 30)
    assert (back.nbytes, back.data) == (2, b"xy")
    assert (client.sent_total, client.recv_total) == (30, 2)
    assert (conn.sent_total, conn.recv_total) == (2, 30)


def test_sendall_counts_partial_sends(tracer):
    """A payload bigger than the socket buffers takes several send() calls, all counted."""
    _, client, conn = tcp_pair(tracer, "ipv4")
    payload = bytes(range(256)) * 16384  # 4 MiB
    received = bytearray()

    def drain():
        while len(received) < len(payload):
            ev = conn.recv(1 << 20, timeout=5)
            assert ev.ok and ev.nbytes
            received.extend(conn.last_received)

    reader = threading.Thread(target=drain)
    reader.start()
    event = client.sendall(payload, timeout=5)
    reader.join(10)
    assert event.ok and event.nbytes == len(payload) == event.sent_total
    assert event.parts is not None and event.parts > 1
    assert len(event.data) == 4096  # the preview is capped, the count is not
    assert bytes(received) == payload
    assert conn.recv_total == len(payload)


def test_refused_connect_is_an_event_not_a_crash(tracer, family):
    host = FAMILIES[family].loopback
    # A socket bound but not listening: connecting to it is refused, and nobody can
    # take the port meanwhile.
    holder = socket.socket(FAMILIES[family].af, socket.SOCK_STREAM)
    holder.bind((host, 0))
    try:
        client = make(tracer, "client", Role.CLIENT, family)
        event = client.connect(holder.getsockname()[:2], timeout=2)
    finally:
        holder.close()
    assert event.error == "ECONNREFUSED"
    assert event.error_text == "Connection refused"
    assert event.state is State.CREATED and client.state is State.CREATED
    assert event.implicit_bind is False


def test_address_in_use(tracer):
    listener = make(tracer, "server", Role.LISTENER)
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    port = listener.sock.getsockname()[1]
    second = make(tracer, "client", Role.CLIENT)
    event = second.bind(("127.0.0.1", port))
    assert event.error == "EADDRINUSE" and event.state is State.CREATED


def test_illegal_call_raises_before_any_system_call(tracer):
    client = make(tracer, "client", Role.CLIENT)
    before = len(tracer.collector.events)
    with pytest.raises(IllegalTransition):
        client.listen(5)
    with pytest.raises(IllegalTransition):
        client.recv(10)
    assert len(tracer.collector.events) == before
    client.close()
    with pytest.raises(IllegalTransition):
        client.close()


def test_recv_of_zero_bytes_is_end_of_stream(tracer):
    _, client, conn = tcp_pair(tracer, "ipv4")
    client.close()
    event = conn.recv(100, timeout=2)
    assert event.ok and event.nbytes == 0 and event.kernel == "CLOSE_WAIT"


def test_shutdown_half_closes(tracer):
    _, client, conn = tcp_pair(tracer, "ipv4")
    event = client.shutdown(socket.SHUT_WR)
    assert event.state is State.HALF_CLOSED and event.args == "socket.SHUT_WR"
    assert event.kernel == "FIN_WAIT2"
    eof = conn.recv(100, timeout=2)
    assert eof.nbytes == 0
    conn.sendall(b"still here")
    reply = client.recv(100, timeout=2)
    assert reply.data == b"still here"  # the other direction still works


def test_udp_datagrams(tracer, family):
    host = FAMILIES[family].loopback
    server = make(tracer, "server", Role.SERVER, family, Transport.DGRAM)
    server.bind((host, 0))
    client = make(tracer, "client", Role.CLIENT, family, Transport.DGRAM)
    address = server.sock.getsockname()[:2]
    sent = client.sendto(b"one", address)
    assert sent.implicit_bind and sent.state is State.BOUND and sent.nbytes == 3
    got = server.recvfrom(100, timeout=2)
    assert got.data == b"one" and got.remote == sent.local.replace("[::]", f"[{host}]").replace(
        "0.0.0.0", host
    )
    assert got.kernel is None  # no kernel TCP state for UDP
    assert server.last_peer[1] == client.sock.getsockname()[1]


def test_setsockopt_names_the_option(tracer):
    listener = make(tracer, "server", Role.LISTENER)
    event = listener.setsockopt("SOL_SOCKET", "SO_REUSEADDR", 1)
    assert event.ok and event.args == "socket.SOL_SOCKET, socket.SO_REUSEADDR, 1"
    assert listener.sock.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR) == 1
    with pytest.raises(ValueError):
        listener.setsockopt("SOL_SOCKET", "SO_NOT_A_THING", 1)


def test_accept_with_nothing_queued_times_out_as_a_real_eagain(tracer):
    """When the wait runs out, the call is still made for real and reports EAGAIN."""
    listener = make(tracer, "server", Role.LISTENER)
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    event, conn = listener.accept("conn-1", timeout=0.05)
    assert conn is None and event.error == "EAGAIN" and event.socket == "server"


def test_kernel_states_after_close(tracer):
    """The side that closes first ends in TIME_WAIT, read from /proc after close."""
    _, client, conn = tcp_pair(tracer, "ipv4")
    closed = client.close()
    assert closed.kernel == "FIN_WAIT2"
    conn.recv(10, timeout=2)
    conn.close()
    changes = [e for e in tracer.collector.events if isinstance(e, KernelEvent)]
    last = {e.socket: e for e in changes}
    assert last["client"].kernel == "TIME_WAIT" and last["client"].source == "proc"
    assert 0 < last["client"].timer <= 60
    assert last["conn-1"].kernel == "CLOSE_WAIT" and last["conn-1"].previous == "ESTABLISHED"
    assert all(isinstance(e, (CallEvent, KernelEvent)) for e in tracer.collector.trace)
