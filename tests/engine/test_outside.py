"""Real outside peers: ListenRunner and ConnectRunner against plain Python sockets.

The peer in each test is an ordinary socket in the test (a client that connects, an echo
server thread), standing for curl or a real server; every address is loopback, every
wait bounded.
"""

from __future__ import annotations

import socket
import threading
import time

import pytest

from sockviz.engine.events import RunFinished, StepPending
from sockviz.engine.run.connect_runner import ConnectRunner
from sockviz.engine.run.gate import Mode
from sockviz.engine.run.listen_runner import ListenRunner
from sockviz.engine.run.outside_peers import (
    ResolveError,
    connect_scenario,
    listen_scenario,
    resolve,
)
from sockviz.engine.states import Role, State
from tests.helpers import Collector, engine_threads, open_fds

LOOPBACK = {"ipv4": "127.0.0.1", "ipv6": "::1"}
AF = {"ipv4": socket.AF_INET, "ipv6": socket.AF_INET6}


def _port_of(collector: Collector) -> int:
    bind = next(e for e in collector.calls if e.call.value == "bind")
    return int(bind.local.rsplit(":", 1)[1])


def _calls(collector: Collector, name: str) -> list[tuple]:
    return [(e.call.value, e.nbytes, e.error) for e in collector.calls if e.socket == name]


def _closed(collector: Collector, name: str):
    return lambda c: any(e.socket == name and e.call.value == "close" for e in c.calls)


def _listening(c: Collector) -> bool:
    return any(e.call.value == "listen" for e in c.calls)


@pytest.fixture
def census():
    """No engine thread and no descriptor may outlive a test's runner."""
    before = open_fds()
    yield
    deadline = time.monotonic() + 2
    while engine_threads() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert engine_threads() == []
    assert open_fds() - before == set()


class Server:
    """A small real TCP server thread: ``handler(conn)`` for each of ``count`` clients."""

    def __init__(self, handler, count: int = 1) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.sock.settimeout(5)
        self.port = self.sock.getsockname()[1]
        self.handler = handler
        self.count = count
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        for _ in range(self.count):
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                conn.settimeout(5)
                try:
                    self.handler(conn)
                except OSError:
                    pass

    def close(self) -> None:
        self.sock.close()
        self.thread.join(5)


# --- resolving ------------------------------------------------------------------------------
def test_resolve_defaults_to_the_loopback_of_the_family():
    assert resolve(None, 0, "ipv4").ip == "127.0.0.1"
    assert resolve(None, 8080, "ipv6").address == ("::1", 8080)
    assert resolve(None, 0).loopback


def test_resolve_names_and_addresses():
    assert resolve("localhost", 80).family.name in ("ipv4", "ipv6")
    assert resolve("localhost", 80).loopback
    assert resolve("::1", 80).family.name == "ipv6"  # the address decides its family
    assert not resolve("192.0.2.1", 80).loopback  # only resolved: nothing is sent there
    assert str(resolve("::1", 80)) == "[::1]:80"


def test_resolve_an_unknown_host_is_one_clear_error():
    with pytest.raises(ResolveError, match=r"cannot resolve host 'nosuchhost\.invalid'"):
        resolve("nosuchhost.invalid", 80)
    with pytest.raises(ResolveError, match="not unix"):
        resolve(None, 0, "unix")


def test_the_scenarios_describe_the_run_and_validate():
    listen = listen_scenario(resolve(None, 0))
    connect = connect_scenario(resolve(None, 80))
    assert (listen.name, connect.name) == ("listen", "connect")
    assert listen.steps == () and listen.sockets == ()
    assert listen.summary and "\n" not in listen.summary
    assert "127.0.0.1:80" in connect.summary


# --- ListenRunner ---------------------------------------------------------------------------
def test_listener_shows_a_plain_client(family, census):
    collector = Collector()
    runner = ListenRunner(collector, LOOPBACK[family], 0, family)
    runner.start()
    try:
        assert collector.wait_for(_listening)
        port = _port_of(collector)
        payload = b"hello\x00\xff sockviz\r\n"
        with socket.socket(AF[family], socket.SOCK_STREAM) as client:
            client.settimeout(5)
            client.connect((LOOPBACK[family], port))
            client.sendall(payload)
        assert collector.wait_for(_closed(collector, "conn-1"))
    finally:
        assert runner.stop()
    server = [e.call.value for e in collector.calls if e.socket == "server"]
    assert server == ["socket", "setsockopt", "bind", "listen", "close"]
    conn = [e for e in collector.calls if e.socket == "conn-1"]
    assert conn[0].call.value == "accept"
    assert conn[0].parent == "server" and conn[0].role is Role.CONNECTION
    reads = [e for e in conn if e.call.value == "recv"]
    assert b"".join(e.data for e in reads) == payload  # exactly those bytes
    assert sum(e.nbytes for e in reads) == len(payload)
    assert reads[-1].nbytes == 0  # end of stream
    assert [e.call.value for e in conn][-1] == "close"
    assert all(ts.state is State.CLOSED for ts in runner.tracer.sockets)
    assert runner.result == RunFinished("stopped")
    assert collector.finished == [RunFinished("stopped")]


def test_listener_takes_several_clients_each_its_own_connection(census):
    collector = Collector()
    runner = ListenRunner(collector, "127.0.0.1", 0)
    runner.start()
    try:
        assert collector.wait_for(_listening)
        port = _port_of(collector)
        first = socket.create_connection(("127.0.0.1", port), timeout=5)
        second = socket.create_connection(("127.0.0.1", port), timeout=5)
        with first, second:
            second.sendall(b"two")
            first.sendall(b"one")
            assert collector.wait_for(
                lambda c: sum(e.nbytes or 0 for e in c.calls if e.call.value == "recv") == 6
            )
        assert collector.wait_for(_closed(collector, "conn-2"))
        assert collector.wait_for(_closed(collector, "conn-1"))
    finally:
        assert runner.stop()
    got = {
        name: b"".join(
            e.data or b"" for e in collector.calls if e.socket == name and e.call.value == "recv"
        )
        for name in ("conn-1", "conn-2")
    }
    assert sorted(got.values()) == [b"one", b"two"]


def test_listener_replies_and_half_closes(census):
    collector = Collector()
    reply = b"HTTP/1.0 200 OK\r\n\r\nhi\n"
    runner = ListenRunner(collector, "127.0.0.1", 0, reply=reply)
    runner.start()
    try:
        assert collector.wait_for(_listening)
        with socket.create_connection(("127.0.0.1", _port_of(collector)), timeout=5) as client:
            client.sendall(b"GET / HTTP/1.0\r\n\r\n")
            answer = b""
            while chunk := client.recv(1024):
                answer += chunk
        assert answer == reply
        assert collector.wait_for(_closed(collector, "conn-1"))
    finally:
        assert runner.stop()
    assert _calls(collector, "conn-1") == [
        ("accept", None, None),
        ("recv", 18, None),
        ("sendall", len(reply), None),
        ("shutdown", None, None),
        ("recv", 0, None),
        ("close", None, None),
    ]


def test_stop_while_waiting_in_accept_is_prompt_and_clean(census):
    collector = Collector()
    runner = ListenRunner(collector, "127.0.0.1", 0)
    runner.start()
    assert collector.wait_for(_listening)
    time.sleep(0.1)  # it is now in poll(), waiting for a client
    started = time.monotonic()
    assert runner.stop()
    assert time.monotonic() - started < 0.5
    assert runner.finished and runner.result.outcome == "stopped"
    assert [e.call.value for e in collector.calls][-1] == "close"


def test_step_mode_makes_one_call_per_step(census):
    collector = Collector()
    runner = ListenRunner(collector, "127.0.0.1", 0, mode=Mode.STEP)
    runner.start()
    try:
        for expected in ("socket", "setsockopt", "bind", "listen"):
            assert collector.wait_for(lambda c: len(c.pending) == len(c.calls) + 1)
            assert collector.pending[-1].call.value == expected
            runner.step()
            assert collector.wait_for(
                lambda c, expected=expected: c.calls and c.calls[-1].call.value == expected
            )
        assert runner.next_step == 4 and runner.total_steps == 0
        assert [e.step for e in collector.calls] == [0, 1, 2, 3]
        assert all(isinstance(p, StepPending) and p.actor == "server" for p in collector.pending)
    finally:
        assert runner.stop()  # from a wait in the gate, too


def test_bind_in_use_aborts_with_the_bind_event(census):
    holder = socket.create_server(("127.0.0.1", 0))
    try:
        port = holder.getsockname()[1]
        collector = Collector()
        runner = ListenRunner(collector, "127.0.0.1", port)
        runner.start()
        try:
            assert runner.wait(5)
        finally:
            assert runner.stop()
    finally:
        holder.close()
    result = runner.result
    assert result.outcome == "aborted"
    assert result.failed.call.value == "bind" and result.failed.error == "EADDRINUSE"
    assert "EADDRINUSE" in result.reason
    assert collector.calls[-1].call.value == "close"  # the failed listener is closed too


def test_listener_has_no_message_to_send():
    runner = ListenRunner(Collector(), "127.0.0.1", 0)
    with pytest.raises(ValueError, match="--reply"):
        runner.queue_message(b"hello")
    assert runner.stop()


# --- ConnectRunner --------------------------------------------------------------------------
def test_connect_sends_and_reads_until_the_server_closes(census):
    def echo(conn):
        data = b""
        while not data.endswith(b"\n"):
            data += conn.recv(100)
        conn.sendall(b"echo: " + data)

    server = Server(echo)
    collector = Collector()
    runner = ConnectRunner(collector, "127.0.0.1", server.port, send=b"ping\n", timeout=3)
    try:
        runner.start()
        assert runner.wait(5)
    finally:
        assert runner.stop()
        server.close()
    assert runner.result == RunFinished("done")
    calls = [e for e in collector.calls if e.socket == "client"]
    assert [e.call.value for e in calls][:3] == ["socket", "connect", "sendall"]
    assert calls[1].implicit_bind and calls[1].remote == f"127.0.0.1:{server.port}"
    assert calls[2].nbytes == 5 and calls[2].data == b"ping\n"
    reads = [e for e in calls if e.call.value == "recv"]
    assert b"".join(e.data for e in reads) == b"echo: ping\n"
    assert reads[-1].nbytes == 0 and reads[-1].error is None
    assert calls[-1].call.value == "close"


def test_connect_stops_reading_when_the_server_goes_quiet(census):
    release = threading.Event()

    def quiet(conn):
        conn.sendall(b"hi")
        release.wait(5)  # and then nothing, without closing

    server = Server(quiet)
    collector = Collector()
    runner = ConnectRunner(collector, "127.0.0.1", server.port, timeout=0.3)
    try:
        runner.start()
        assert runner.wait(5)
    finally:
        release.set()
        assert runner.stop()
        server.close()
    assert runner.result == RunFinished("done")
    assert _calls(collector, "client") == [
        ("socket", None, None),
        ("connect", None, None),
        ("recv", 2, None),
        ("recv", None, "EAGAIN"),  # idle: the recv is made, finds nothing, reading stops
        ("close", None, None),
    ]


def test_connect_sends_queued_messages_while_connected(census):
    def echo_lines(conn):
        while data := conn.recv(100):
            conn.sendall(data)
            if b"bye" in data:
                return

    server = Server(echo_lines)
    collector = Collector()
    runner = ConnectRunner(collector, "127.0.0.1", server.port, idle=None)
    with pytest.raises(ValueError, match="not connected"):
        runner.queue_message(b"too early")
    try:
        runner.start()
        assert collector.wait_for(lambda c: any(e.call.value == "connect" for e in c.calls))
        with pytest.raises(ValueError, match="empty"):
            runner.queue_message(b"")
        assert isinstance(runner.queue_message(b"one\r\n"), int)
        assert collector.wait_for(
            lambda c: any(e.call.value == "recv" and e.data == b"one\r\n" for e in c.calls)
        )
        runner.queue_message(b"bye")
        assert runner.wait(5)
        with pytest.raises(ValueError, match="closed"):
            runner.queue_message(b"too late")
    finally:
        assert runner.stop()
        server.close()
    sends = [e.data for e in collector.calls if e.call.value == "sendall"]
    assert sends == [b"one\r\n", b"bye"]
    assert runner.result == RunFinished("done")


def test_stop_while_the_client_waits_for_the_server(census):
    release = threading.Event()
    server = Server(lambda conn: release.wait(5))
    collector = Collector()
    runner = ConnectRunner(collector, "127.0.0.1", server.port, idle=None)
    try:
        runner.start()
        assert collector.wait_for(lambda c: any(e.call.value == "connect" for e in c.calls))
        time.sleep(0.1)
        started = time.monotonic()
        assert runner.stop()
        assert time.monotonic() - started < 0.5
    finally:
        release.set()
        runner.stop()
        server.close()
    assert runner.result.outcome == "stopped"
    assert collector.calls[-1].call.value == "close"


def test_refused_connect_aborts_with_econnrefused(census):
    holder = socket.socket()  # bound, never listening: a port nothing answers on
    holder.bind(("127.0.0.1", 0))
    try:
        collector = Collector()
        runner = ConnectRunner(collector, "127.0.0.1", holder.getsockname()[1], send=b"x")
        try:
            runner.start()
            assert runner.wait(5)
        finally:
            assert runner.stop()
    finally:
        holder.close()
    result = runner.result
    assert result.outcome == "aborted"
    assert result.failed.call.value == "connect" and result.failed.error == "ECONNREFUSED"
    assert [e.call.value for e in collector.calls] == ["socket", "connect", "close"]
    with pytest.raises(ValueError):
        runner.queue_message(b"late")


def test_connect_refuses_port_zero_and_bad_timeouts():
    with pytest.raises(ValueError, match="port 0"):
        ConnectRunner(Collector(), "127.0.0.1", 0)
    with pytest.raises(ValueError, match="timeout"):
        ConnectRunner(Collector(), "127.0.0.1", 80, timeout=0)
