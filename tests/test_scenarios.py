"""Each scenario of the library shows its named outcome, on every family it runs on.

Real runs on loopback, in fast mode; the assertions are on what the trace says happened.
"""

from __future__ import annotations

import os

import pytest

from sockviz.engine.kernel import tcp_state as kernel
from sockviz.engine.scenarios import REGISTRY, get
from sockviz.engine.states import Call, State
from tests.conftest import IPV6
from tests.helpers import run_scenario

LINUX = kernel.available()


def families(name: str):
    params = []
    for fam in get(name).families:
        marks = [pytest.mark.skipif(fam == "ipv6" and not IPV6, reason="no IPv6 loopback")]
        params.append(pytest.param(fam, marks=marks))
    return params


def run(name: str, family: str, **options):
    c = run_scenario(get(name, **options), family, timeout=30)
    assert c.finished[-1].outcome == "done", c.finished[-1].reason
    return c


def calls(c, socket=None, call=None):
    return [
        e
        for e in c.calls
        if (socket is None or e.socket == socket) and (call is None or e.call is call)
    ]


def kernel_states(c, socket):
    return [e.kernel for e in c.trace if e.socket == socket and e.kernel]


def test_every_scenario_has_a_test():
    from tests import test_lab  # (the labs on two hosts)

    tested = {
        name.removeprefix("test_").replace("_", "-")
        for name in [*globals(), *vars(test_lab)]
        if name.startswith("test_") and name != "test_every_scenario_has_a_test"
    }
    assert set(REGISTRY) <= tested | {"tcp-echo", "udp-echo"}  # those two: tests/test_trace.py


@pytest.mark.parametrize("family", families("multi-client"))
def test_multi_client(family):
    c = run("multi-client", family)
    accepts = calls(c, call=Call.ACCEPT)
    assert [e.socket for e in accepts] == ["conn-1", "conn-2", "conn-3"]
    assert len({e.local for e in accepts}) == 1  # one local address for all three
    assert len({e.remote for e in accepts}) == 3  # three different client addresses
    listener = calls(c, "server")
    assert all(e.state is State.LISTENING for e in listener[3:-1])
    for i in (1, 2, 3):
        got = calls(c, f"conn-{i}", Call.RECV)[0]
        assert got.data == f"hello from client {i}".encode()


@pytest.mark.parametrize("family", families("backlog-full"))
def test_backlog_full(family):
    c = run("backlog-full", family)
    first = {e.socket: e for e in reversed(calls(c, call=Call.CONNECT))}
    assert {s: e.error for s, e in first.items()} == {
        "client-1": "EINPROGRESS",
        "client-2": "EINPROGRESS",
        "client-3": "EINPROGRESS",
    }
    if LINUX:
        assert first["client-1"].kernel == first["client-2"].kernel == "ESTABLISHED"
        assert first["client-3"].kernel == "SYN_SENT"  # the queue was full: its SYN dropped
        queues = [e.queue for e in c.trace if e.socket == "server" and e.queue]
        assert (2, 1) in queues  # two waiting for a backlog of one
    third = calls(c, "client-3", Call.CONNECT)
    assert [e.error for e in third] == ["EINPROGRESS", "EALREADY", None]
    assert third[-1].state is State.CONNECTED
    assert [e.socket for e in calls(c, call=Call.ACCEPT)] == ["conn-1", "conn-2", "conn-3"]


@pytest.mark.parametrize("family", families("refused"))
def test_refused(family):
    c = run("refused", family)
    (connect,) = calls(c, "client", Call.CONNECT)
    assert connect.error == "ECONNREFUSED" and connect.state is State.CREATED
    assert not calls(c, "server", Call.LISTEN)


@pytest.mark.parametrize("family", families("address-in-use"))
def test_address_in_use(family):
    c = run("address-in-use", family)
    assert [e.error for e in calls(c, "second", Call.BIND)] == ["EADDRINUSE"]
    assert [e.error for e in calls(c, "third", Call.BIND)] == ["EADDRINUSE", None]
    server_port = calls(c, "server", Call.BIND)[0].local
    assert calls(c, "third", Call.BIND)[-1].local == server_port
    if LINUX:
        assert "TIME_WAIT" in kernel_states(c, "conn-1")  # the server's side closed first
        assert "TIME_WAIT" not in kernel_states(c, "client")


@pytest.mark.parametrize("family", families("reset"))
def test_reset(family):
    c = run("reset", family)
    (opt,) = calls(c, "conn-1", Call.SETSOCKOPT)
    assert "SO_LINGER" in opt.args and "struct.pack('ii', 1, 0)" in opt.args
    recv = calls(c, "client", Call.RECV)[-1]
    assert recv.error == "ECONNRESET"
    if LINUX:
        assert "TIME_WAIT" not in kernel_states(c, "conn-1") + kernel_states(c, "client")
        assert calls(c, "conn-1", Call.CLOSE)[0].kernel == "CLOSE"  # gone at once


@pytest.mark.parametrize("family", families("broken-pipe"))
def test_broken_pipe(family):
    c = run("broken-pipe", family)
    sends = calls(c, "client", Call.SEND)
    assert [(e.nbytes, e.error) for e in sends] == [(5, None), (None, "EPIPE")]
    assert sends[-1].sent_total == 5


@pytest.mark.parametrize("family", families("half-close"))
def test_half_close(family):
    c = run("half-close", family)
    (shut,) = calls(c, "client", Call.SHUTDOWN)
    assert shut.state is State.HALF_CLOSED and shut.args == "socket.SHUT_WR"
    server_reads = [e.nbytes for e in calls(c, "conn-1", Call.RECV)]
    assert server_reads == [17, 0]  # the request, then end of stream
    reply = calls(c, "client", Call.RECV)[0]
    assert reply.data == b"the reply" and reply.state is State.HALF_CLOSED
    if LINUX and family != "unix":  # Unix sockets have no TCP states
        assert shut.kernel == "FIN_WAIT2"
        assert "CLOSE_WAIT" in kernel_states(c, "conn-1")
        assert kernel_states(c, "client")[-1] == "TIME_WAIT"


@pytest.mark.parametrize("closer", ["client", "server"])
@pytest.mark.parametrize("family", families("time-wait"))
def test_time_wait(family, closer):
    c = run("time-wait", family, closer=closer)
    first = "client" if closer == "client" else "conn-1"
    other = "conn-1" if closer == "client" else "client"
    closes = calls(c, call=Call.CLOSE)
    assert closes[0].socket == first
    if LINUX:
        assert "TIME_WAIT" in kernel_states(c, first)
        assert "TIME_WAIT" not in kernel_states(c, other)
        assert "CLOSE_WAIT" in kernel_states(c, other)


@pytest.mark.parametrize("family", families("message-boundaries"))
def test_message_boundaries(family):
    c = run("message-boundaries", family)
    assert [e.data for e in calls(c, "client", Call.SEND)] == [b"one;", b"two;", b"three;"]
    tcp = calls(c, "conn-1", Call.RECV)[0]
    assert tcp.data == b"one;two;three;"  # one recv, all three sends merged
    udp = [e.data for e in calls(c, "udp-server", Call.RECVFROM)]
    assert udp == [b"one;", b"two;", b"three;"]  # one datagram each


@pytest.mark.parametrize("family", families("bulk"))
def test_bulk(family):
    size = 8 * 1024 * 1024
    from sockviz.engine.run.gate import Mode
    from sockviz.engine.run.runner import Runner
    from tests.helpers import Collector

    c = Collector()
    runner = Runner(get("bulk"), c, family=family, mode=Mode.FAST, size=size)
    runner.start()
    try:
        assert runner.wait(30)
    finally:
        runner.stop()
    sent = calls(c, "client", Call.SENDALL)[0]
    got = calls(c, "conn-1", Call.RECV)[0]
    assert sent.nbytes == got.nbytes == size
    assert sent.parts >= 1 and got.parts > 1 and sent.partial is not None
    assert sent.seq < got.seq  # the pair always reports sender first
    progress = [e for e in c.events if type(e).__name__ == "Progress"]
    assert progress and progress[-1].done == size
    assert calls(c, "conn-1", Call.RECV)[-1].nbytes == 0  # then end of stream


@pytest.mark.parametrize("family", families("nagle"))
def test_nagle(family):
    """Both requests come whole; the first - two small writes under Nagle, to a connection
    made interactive - waits for the server's delayed ACK (at least Linux's 40 ms minimum,
    the kernel's own timer) before its second piece leaves; where the wire is watched, that
    piece leaves right after the ACK."""
    c = run("nagle", family)
    reads = [r for r in calls(c, "conn-1", Call.RECV) if r.parts]
    assert [r.nbytes for r in reads] == [18, 18]
    sends = calls(c, "client", Call.SEND)
    assert reads[0].t - sends[2].t >= 0.035
    segments = [s for s in c.events if type(s).__name__ == "Segment"]
    if segments:
        body = next(s for s in segments if s.source == "client" and s.nbytes == 13)
        ack = [s for s in segments if s.source == "conn-1" and s.seq < body.seq][-1]
        assert ack.ack_rel == body.seq_rel and body.t - ack.t < 0.005
        assert ack.t - sends[1].t >= 0.035  # (delayed: the kernel's timer)


@pytest.mark.parametrize("family", families("nonblocking"))
def test_nonblocking(family):
    """Each call that would wait fails at once instead (EAGAIN, EINPROGRESS); each select()
    names the socket ready - the client writable once connected, the listener with a
    connection waiting, the connection with bytes and then at end of stream - and every
    call after it on that socket succeeds without waiting."""
    c = run("nonblocking", family)
    assert [e.error for e in calls(c, call=Call.SETBLOCKING)] == [None, None, None]
    assert calls(c, "server", Call.ACCEPT)[0].error == "EAGAIN"
    connects = calls(c, "client", Call.CONNECT)
    assert [e.error for e in connects] == ["EINPROGRESS", None]
    assert [e.ready for e in calls(c, call=Call.SELECT)] == [
        ("client:w",),
        ("server",),
        ("conn-1",),
        ("conn-1",),
    ]
    reads = calls(c, "conn-1", Call.RECV)
    assert [(e.error, e.nbytes) for e in reads] == [("EAGAIN", None), (None, 17), (None, 0)]


@pytest.mark.parametrize("family", families("zero-window"))
def test_zero_window(family):
    """The calls (the segments are test_flow_control's, against tshark): send() takes part
    of 64 KiB and says how much; the wait for another client fails with EAGAIN after about
    a second; the server's reads get every byte the send took, then the end of stream."""
    c = run("zero-window", family)
    (sent,) = calls(c, "client", Call.SEND)
    assert 0 < sent.nbytes < 64 * 1024
    waited = calls(c, "server", Call.ACCEPT)[-1]
    assert waited.error == "EAGAIN"
    reads = calls(c, "conn-1", Call.RECV)
    assert sum(r.nbytes for r in reads) == sent.nbytes and reads[-1].parts
    before = next(e for e in c.calls if e.seq < waited.seq and e.call is Call.SEND)
    assert waited.t - before.t >= 0.9  # (the second the receiver does not read)


@pytest.mark.parametrize("family", families("tls"))
def test_tls(family):
    """The handshake in four non-blocking calls - each side's first wants to read
    (SSLWantReadError), each side's second ends it; recv() returns the plaintext the other
    side's sendall() gave; where the wire is watched, the records are named in order: the
    ClientHello, the ServerHello with ChangeCipherSpec and encrypted records after it, the
    client's ChangeCipherSpec and Finished (encrypted), one record per message."""
    c = run("tls", family)
    shakes = calls(c, call=Call.HANDSHAKE)
    assert [(e.socket, e.error) for e in shakes] == [
        ("client", "SSLWantReadError"),
        ("conn-1", "SSLWantReadError"),
        ("client", None),
        ("conn-1", None),
    ]
    assert all(e.state is State.CONNECTED for e in shakes)
    assert [e.data for e in calls(c, call=Call.RECV)] == [b"hello over TLS"] * 2 + [b""]
    checked = [e for e in c.events if type(e).__name__ == "Checked"]
    assert len(checked) == 6 and all(e.met for e in checked)
    segments = [s for s in c.events if type(s).__name__ == "Segment" and s.tls]
    if segments:
        named = [(s.source, s.tls) for s in segments]
        assert named[0] == ("client", ("ClientHello",))
        source, flight = named[1]
        assert source == "conn-1" and flight[:3] == (
            "ServerHello",
            "ChangeCipherSpec",
            "ApplicationData",
        )
        assert named[2] == ("client", ("ChangeCipherSpec", "ApplicationData"))
        assert named[3:] == [("client", ("ApplicationData",)), ("conn-1", ("ApplicationData",))]
        # (each record's segment is caused by the call that wrote it)
        by_seq = {e.seq: e for e in c.calls}
        assert [by_seq[s.cause].call for s in segments] == [Call.HANDSHAKE] * 3 + [Call.SENDALL] * 2


@pytest.mark.parametrize("family", families("websocket"))
def test_websocket(family):
    c = run("websocket", family)
    client_sends = [e.data for e in calls(c, "client", Call.SENDALL)]
    server_sends = [e.data for e in calls(c, "conn-1", Call.SENDALL)]
    assert client_sends[0].startswith(b"GET /chat HTTP/1.1\r\n")
    assert b"upgrade: websocket" in client_sends[0].lower()
    assert server_sends[0].startswith(b"HTTP/1.1 101 ")
    text = client_sends[1]
    assert text[0] == 0x81 and text[1] & 0x80  # FIN + text opcode; masked
    assert server_sends[1][0] == 0x81 and not server_sends[1][1] & 0x80  # not masked
    assert server_sends[1].endswith(b"echo: hello, websocket")
    assert client_sends[2][0] == 0x88 and server_sends[2][0] == 0x88  # close frames
    if LINUX:
        assert "TIME_WAIT" in kernel_states(c, "conn-1")


def test_unix_socket_files_are_removed():
    before = set(os.listdir("/tmp")) if os.path.isdir("/tmp") else set()
    c = run("tcp-echo", "unix")
    bind = calls(c, "server", Call.BIND)[0]
    assert bind.local.endswith("/server.sock") and bind.family == "AF_UNIX"
    assert not os.path.exists(bind.local)
    assert all(e.kernel is None for e in c.trace)
    assert not any(n.startswith("sockviz-") for n in set(os.listdir("/tmp")) - before)
