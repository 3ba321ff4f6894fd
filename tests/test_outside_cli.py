"""--listen and --connect end to end: sockviz against real outside programs, in processes.

The outside client is curl (or a ``python -c`` client where curl is missing); the outside
server is ``python -m http.server``. Every address is loopback, every wait bounded, and
every process started here is killed and waited for.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import queue
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from sockviz.cli import build_parser, escaped_text, host_port
from sockviz.engine.events import CallEvent, RunFinished
from sockviz.engine.run.gate import Mode
from sockviz.engine.run.outside_peers import resolve
from sockviz.engine.states import Call, Role, State
from sockviz.headless import explain
from sockviz.options import EXIT_FAILED, EXIT_USAGE, from_arguments
from sockviz.peers import outside_endpoint, outside_runner_factory
from tests.helpers import Collector

ENV = {**os.environ, "PYTHONWARNINGS": "ignore"}
CURL = shutil.which("curl")

#: A client for when curl is missing: sends an HTTP request with a body, prints its size.
PY_CLIENT = """
import socket, sys
request = b"POST / HTTP/1.0\\r\\nContent-Length: 5\\r\\n\\r\\nhello"
with socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=3) as s:
    s.sendall(request)
    s.settimeout(float(sys.argv[2]))
    body = b""
    try:
        while chunk := s.recv(4096):
            body += chunk
    except TimeoutError:
        pass
sys.stdout.write(str(len(request)) + "\\n" + body.partition(b"\\r\\n\\r\\n")[2].decode())
"""


class Process:
    """A child process whose stdout lines arrive in a queue (so no read can hang)."""

    def __init__(self, *argv: str, cwd: str | None = None) -> None:
        self.proc = subprocess.Popen(
            argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV, cwd=cwd
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            self.lines.put(line)

    def wait_line(self, predicate, timeout: float = 5.0) -> str:
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"no such line within {timeout} s; seen: {self.seen!r}")
            try:
                line = self.lines.get(timeout=remaining)
            except queue.Empty:
                continue
            self.seen.append(line)
            if predicate(line):
                return line

    def finish(self, sig: int | None = None, timeout: float = 5.0) -> tuple[int, str, str]:
        """Send ``sig`` (if any), wait; the exit status, the rest of stdout and stderr."""
        if sig is not None:
            self.proc.send_signal(sig)
        self.proc.wait(timeout)
        self._reader.join(timeout)
        while not self.lines.empty():
            self.seen.append(self.lines.get())
        return self.proc.returncode, "".join(self.seen), self.proc.stderr.read()

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(5)
        for stream in (self.proc.stdout, self.proc.stderr):
            stream.close()


def sockviz(*args: str) -> Process:
    return Process(sys.executable, "-m", "sockviz", *args)


def run(*args: str, timeout: float = 15) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "sockviz", *args],
        check=False,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=ENV,
    )


def client(port: int, body_file: str, wait: float) -> tuple[str, int]:
    """The outside client: what it received, and how many bytes its request had."""
    if CURL:
        proc = subprocess.run(
            [
                CURL,
                "-s",
                "-m",
                str(wait),
                "-o",
                body_file,
                "-w",
                "%{size_request}",
                "--data",
                "hello",
                f"http://127.0.0.1:{port}/",
            ],
            check=False,
            capture_output=True,
            text=True,
            timeout=wait + 10,
        )
        body = Path(body_file).read_text() if Path(body_file).exists() else ""
        return body, int(proc.stdout)
    proc = subprocess.run(
        [sys.executable, "-c", PY_CLIENT, str(port), str(wait)],
        check=False,
        capture_output=True,
        text=True,
        timeout=wait + 10,
    )
    size, _, body = proc.stdout.partition("\n")
    return body, int(size)


IS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0


def _records(text: str) -> list[dict]:
    """The calls and kernel changes of a trace (its packet lines: :func:`_packets`)."""
    return [r for r in _all(text) if not r["call"].startswith("packet")]


def _all(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def _packets(text: str) -> list[tuple]:
    """(from, to, flags, cause) of each packet line."""
    return [
        (r["from"], r["to"], r["flags"], r["cause"]) for r in _all(text) if r["call"] == "packet"
    ]


def _listening_port(proc: Process) -> int:
    line = proc.wait_line(lambda line: '"call": "bind"' in line)
    return int(json.loads(line)["local"].rsplit(":", 1)[1])


def _assert_every_socket_closed(records: list[dict]) -> None:
    names = {r["socket"] for r in records}
    closed = {r["socket"] for r in records if r["call"] == "close" and r["error"] is None}
    assert names == closed
    assert records[-1]["call"] in ("close", "kernel")


# --- (a) --listen with an outside client ----------------------------------------------------
def test_listen_shows_exactly_the_bytes_the_client_sent(tmp_path):
    proc = sockviz("--listen", "127.0.0.1:0", "--trace")
    try:
        port = _listening_port(proc)
        _body, sent = client(port, str(tmp_path / "body"), wait=1)  # no answer: it gives up
        proc.wait_line(lambda line: '"socket": "conn-1"' in line and '"call": "close"' in line)
        status, out, err = proc.finish(signal.SIGTERM)
    finally:
        proc.kill()
    assert status == 0, err
    assert err == ""
    records = _records(out)
    assert [r["call"] for r in records if r["socket"] == "server"][:4] == [
        "socket",
        "setsockopt",
        "bind",
        "listen",
    ]
    received = sum(r["nbytes"] for r in records if r["call"] == "recv" and r["nbytes"])
    assert received == sent > 0
    assert any(r["call"] == "accept" and r["socket"] == "conn-1" for r in records)
    _assert_every_socket_closed(records)


def test_listen_reply_answers_the_client_and_ctrl_c_ends_cleanly(tmp_path):
    proc = sockviz("--listen", "0", "--reply", r"HTTP/1.0 200 OK\r\n\r\nhi\n", "--trace")
    try:
        port = _listening_port(proc)
        body, sent = client(port, str(tmp_path / "body"), wait=3)
        proc.wait_line(lambda line: '"socket": "conn-1"' in line and '"call": "close"' in line)
        status, out, err = proc.finish(signal.SIGINT)
    finally:
        proc.kill()
    assert body == "hi\n"
    assert status == 0, err
    records = _records(out)
    assert records[1]["call"] == "setsockopt" and records[2]["local"].startswith("127.0.0.1:")
    assert sum(r["nbytes"] for r in records if r["call"] == "recv" and r["nbytes"]) == sent
    conn = [r for r in records if r["socket"] == "conn-1" and r["call"] != "kernel"]
    assert [r["call"] for r in conn][:4] == ["accept", "recv", "sendall", "shutdown"]
    assert [(r["call"], r["nbytes"]) for r in conn][-2:] == [("recv", 0), ("close", None)]
    _assert_every_socket_closed(records)
    if IS_ROOT:  # the wire, watched on this machine's loopback (a real peer lives there)
        wire = _packets(out)
        peer = wire[0][0]
        # The handshake, before accept() (no call's doing: the kernel answered the peer
        # while the listener waited), to the listener: conn-1 is not made until accept().
        assert wire[:3] == [
            (peer, "server", "SYN", None),
            ("server", peer, "SYN,ACK", None),
            (peer, "server", "ACK", None),
        ]
        records_all = _all(out)
        accept = next(r["seq"] for r in records_all if r["call"] == "accept")
        handshake = [r["seq"] for r in records_all if r["call"] == "packet"][:3]
        assert max(handshake) < accept
        assert (peer, "conn-1", "FIN,ACK", None) in wire or any(
            w[:3] == ("conn-1", peer, "FIN,ACK") for w in wire
        )


# --- (b) --connect to an outside server ------------------------------------------------------
def test_connect_shows_the_response_of_python_http_server(tmp_path):
    (tmp_path / "index.html").write_text("hello from http.server\n")
    server = Process(
        sys.executable, "-u", "-m", "http.server", "0", "--bind", "127.0.0.1", cwd=str(tmp_path)
    )
    try:
        first = server.wait_line(lambda line: "port" in line)
        port = int(first.split(" port ", 1)[1].split()[0])
        proc = run("--connect", f"127.0.0.1:{port}", "--send", r"GET / HTTP/1.0\r\n\r\n", "--trace")
    finally:
        server.kill()
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    records = _records(proc.stdout)
    assert [r["call"] for r in records if r["call"] != "kernel"][:3] == [
        "socket",
        "connect",
        "sendall",
    ]
    reads = [r for r in records if r["call"] == "recv"]
    assert reads[0]["data"].startswith("HTTP/1.0 200")
    assert sum(r["nbytes"] for r in reads) > 0
    assert reads[-1]["nbytes"] == 0  # the server closed: end of stream
    _assert_every_socket_closed(records)


# --- (c) errors: one line on stderr, exit 2, never a traceback -------------------------------
@pytest.fixture
def refused_port():
    """A port bound but not listening, held for the test: connecting to it is refused."""
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    yield holder.getsockname()[1]
    holder.close()


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--connect", "nosuchhost.invalid:80"], "cannot resolve host 'nosuchhost.invalid'"),
        (["--listen", "70000"], "out of range"),
        (["--listen", "abc"], "not a port number"),
        (["--listen", "::1:80"], "in brackets"),
        (["--connect", "127.0.0.1:0"], "port 0 cannot be connected to"),
        (["--connect", "127.0.0.1:80", "--send", r"bad\q"], r"\q is not an escape"),
        (["--connect", "127.0.0.1:80", "--send", "x\\"], "lone backslash"),
        (["--listen", "0", "--connect", "127.0.0.1:80"], "cannot be used together"),
        (["--listen", "0", "--scenario", "tcp-echo"], "leave out --scenario"),
        (["--send", "x"], "--send needs --connect"),
        (["--listen", "0", "--family", "unix"], "ipv4 or ipv6"),
        (["--connect", "127.0.0.1:80", "--timeout", "0"], "out of range"),
        (["--listen", "0", "--port", "8080"], "give the port with --listen"),
        (["--connect", "127.0.0.1:80", "--reply", "x"], "--reply applies to --listen"),
    ],
)
def test_bad_outside_arguments_one_line_exit_2(args, words):
    proc = run(*args, "--trace")
    assert proc.returncode == 2
    assert proc.stdout == ""
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and words in lines[0], proc.stderr
    assert lines[0].startswith("sockviz: error:")
    assert "Traceback" not in proc.stderr


def test_refused_connect_one_line_exit_2(refused_port):
    proc = run("--connect", f"127.0.0.1:{refused_port}", "--send", "hi", "--trace")
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "ECONNREFUSED" in lines[0], proc.stderr
    assert lines[0].startswith("sockviz: error: connection refused")
    records = _records(proc.stdout)  # the failed connect is still shown, and the close
    assert [r["call"] for r in records] == ["socket", "connect", "close"]


def test_listen_on_a_port_in_use_one_line_exit_2():
    holder = socket.create_server(("127.0.0.1", 0))
    try:
        proc = run("--listen", f"127.0.0.1:{holder.getsockname()[1]}", "--trace")
    finally:
        holder.close()
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "EADDRINUSE" in lines[0], proc.stderr


# --- the pieces, in process ------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("8080", (None, 8080)),
        ("localhost:0", ("localhost", 0)),
        ("[::1]:8080", ("::1", 8080)),
        ("0.0.0.0:80", ("0.0.0.0", 80)),
        (":65535", (None, 65535)),
    ],
)
def test_host_port(text, expected):
    assert host_port(text) == expected


@pytest.mark.parametrize(
    "text", ["", "x", "80x", "-1", "65536", "[::1]", "[]:80", "a b:80", "1:2:3", "+80"]
)
def test_host_port_refuses(text):
    with pytest.raises(argparse.ArgumentTypeError):
        host_port(text)


def test_escaped_text():
    assert escaped_text(r"GET / HTTP/1.0\r\n\r\n") == b"GET / HTTP/1.0\r\n\r\n"
    assert escaped_text(r"a\tb\\c\x00\xFF") == b"a\tb\\c\x00\xff"
    assert escaped_text("caf\u00e9") == "caf\u00e9".encode()
    for bad in (r"\q", r"\x4", r"\xzz", "\\"):
        with pytest.raises(argparse.ArgumentTypeError):
            escaped_text(bad)


def test_listening_beyond_loopback_warns_once():
    args = from_arguments(build_parser().parse_args(["--listen", "192.0.2.1:0"]))  # never bound
    err = io.StringIO()
    endpoint = outside_endpoint(args, err)
    assert not endpoint.loopback
    lines = err.getvalue().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("sockviz: warning:") and "reachable from other machines" in lines[0]
    quiet = io.StringIO()
    outside_endpoint(from_arguments(build_parser().parse_args(["--listen", "0"])), quiet)
    assert quiet.getvalue() == ""


def test_the_runner_factory_has_the_apps_signature():
    args = from_arguments(build_parser().parse_args(["--listen", "127.0.0.1:0", "--reply", "ok"]))
    factory = outside_runner_factory(args)
    assert factory.scenario.name == "listen"
    collector = Collector()
    runner = factory(factory.scenario, collector, family="ipv4", port=0, mode=Mode.FAST, pace=1.0)
    assert runner.reply == b"ok" and runner.steps == [] and runner.total_steps == 0
    runner.start()
    try:
        assert collector.wait_for(lambda c: any(e.call.value == "listen" for e in c.calls))
    finally:
        assert runner.stop()
    assert runner.result == RunFinished("stopped")

    args = from_arguments(
        build_parser().parse_args(["--connect", "localhost:9", "--send", r"hi\n"])
    )
    factory = outside_runner_factory(args)
    runner = factory(None, Collector(), family="ipv4", port=0, mode=Mode.STEP, pace=1.0)
    assert factory.scenario.name == "connect" and runner.send == b"hi\n"
    assert runner.idle is None  # in the TUI it reads until the server closes
    assert runner.stop()


def test_outside_peer_usage_errors_in_process(capsys):
    from sockviz.cli import main

    assert main(["--listen", "0", "--connect", "80"]) == EXIT_USAGE
    assert "cannot be used together" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("call", "error", "words", "status"),
    [
        (Call.CONNECT, "ECONNREFUSED", "connection refused by 127.0.0.1:8080", EXIT_USAGE),
        (Call.CONNECT, "EINPROGRESS", "no answer from 127.0.0.1:8080 within 5 s", EXIT_USAGE),
        (Call.CONNECT, "ETIMEDOUT", "--timeout", EXIT_USAGE),
        (Call.CONNECT, "EHOSTUNREACH", "cannot be reached", EXIT_USAGE),
        (Call.CONNECT, "ENETUNREACH", "cannot be reached", EXIT_USAGE),
        (Call.BIND, "EADDRINUSE", "port 8080 is already in use on 127.0.0.1", EXIT_USAGE),
        (Call.BIND, "EACCES", "needs special privileges", EXIT_USAGE),
        (Call.BIND, "EADDRNOTAVAIL", "not an address of this machine", EXIT_USAGE),
        (Call.SENDALL, "EPIPE", "the run stopped early", EXIT_FAILED),
    ],
)
def test_each_failure_is_explained_in_one_line(call, error, words, status):
    """The errors no loopback test can provoke (timeouts, unreachable hosts) read well too."""
    event = CallEvent(
        seq=2,
        t=0.1,
        socket="client",
        role=Role.CLIENT,
        call=call,
        state=State.CREATED,
        family="AF_INET",
        type="SOCK_STREAM",
        local=None,
        remote=None,
        nbytes=None,
        sent_total=0,
        recv_total=0,
        error=error,
        error_text="words",
        args="('127.0.0.1', 8080)",
    )
    result = RunFinished("aborted", f"client.{call.value}(...) failed: {error}", event)
    endpoint = resolve("127.0.0.1", 8080)
    message, got = explain(
        result,
        family=endpoint.family.name,
        port=endpoint.port,
        host=endpoint.ip,
        where=str(endpoint),
        timeout=5.0,
    )
    assert words in message and got == status
    assert "\n" not in message
