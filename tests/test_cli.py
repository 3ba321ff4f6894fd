"""The command line: --list, --trace, and one clear line (exit 2) for every bad argument."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

import pytest

from sockviz.cli import main

ENV = {**os.environ, "PYTHONWARNINGS": "ignore"}


def run(*args: str, timeout: float = 20) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "sockviz", *args],
        check=False,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=ENV,
    )


def test_list_one_scenario_a_line(capsys):
    assert main(["--list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    names = [line.split("  ", 1)[0] for line in lines]
    assert names[:2] == ["tcp-echo", "udp-echo"]
    for line in lines:
        name, _, description = line.partition("  ")
        assert name and " " not in name and description.strip()


def test_trace_through_a_real_process():
    proc = run("--trace", "--scenario", "tcp-echo")
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    lines = [json.loads(line) for line in proc.stdout.splitlines()]
    assert lines[0]["call"] == "tcp" and lines[0]["seq"] == 0  # (the kernel's TCP settings)
    assert lines[1]["call"] == "socket" and lines[-1]["call"] == "close"
    assert any(r["kernel"] == "TIME_WAIT" for r in lines)


def test_trace_on_a_chosen_port(capsys):
    with socket.socket() as probe:  # find a port that is free right now
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    assert main(["--trace", "--port", str(port), "--scenario", "udp-echo"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert lines[2]["call"] == "bind" and lines[2]["local"] == f"127.0.0.1:{port}"


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--port", "-1"], "out of range"),
        (["--port", "65536"], "out of range"),
        (["--port", "abc"], "not a port number"),
        (["--scenario", "nope"], "unknown scenario 'nope'"),
        (["--family", "ipx"], "unknown family 'ipx'"),
        (["--frobnicate"], "unrecognized arguments"),
    ],
)
def test_bad_arguments_one_line_exit_2(args, words):
    proc = run("--trace", *args)
    assert proc.returncode == 2
    assert proc.stdout == ""
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and words in lines[0], proc.stderr
    assert lines[0].startswith("sockviz: error:")
    assert "Traceback" not in proc.stderr


def test_port_in_use_one_line_exit_2():
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen(1)
    port = holder.getsockname()[1]
    try:
        proc = run("--trace", "--port", str(port))
    finally:
        holder.close()
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "already in use" in lines[0] and str(port) in lines[0]
    assert "Traceback" not in proc.stderr
    # What did happen is still on stdout: the failed bind, then the socket closed.
    trace = [json.loads(line) for line in proc.stdout.splitlines()]
    assert trace[-2]["call"] == "bind" and trace[-2]["error"] == "EADDRINUSE"
    assert trace[-1]["call"] == "close"


def test_ipv6_unavailable_is_explained():
    """A failure to use ::1 becomes one line naming IPv6 (checked on a real failed bind)."""
    from sockviz.engine.events import RunFinished
    from sockviz.engine.sockets.traced_socket import TracedSocket, Tracer
    from sockviz.engine.states import Role, Transport
    from sockviz.headless import explain

    events = []
    tracer = Tracer(events.append)
    try:
        _, ts = TracedSocket.create(
            tracer, "server", Role.LISTENER, socket.AF_INET6, Transport.STREAM
        )
        failed = ts.bind(("2001:db8::1", 0))  # documentation prefix: never on this machine
    finally:
        tracer.close_all()
        tracer.close()
    assert failed.error == "EADDRNOTAVAIL"
    message, status = explain(RunFinished("aborted", "x", failed), family="ipv6", port=0)
    assert status == 2 and "IPv6 is not available" in message


def test_help_and_version():
    proc = run("--help")
    assert proc.returncode == 0 and "--trace" in proc.stdout and "--scenario" in proc.stdout
    proc = run("--version")
    assert proc.returncode == 0 and proc.stdout.startswith("sockviz ")


def test_trace_into_a_closed_pipe_does_not_crash():
    """`sockviz --trace | head -1`: no traceback, no hang."""
    proc = subprocess.run(
        f"{sys.executable} -m sockviz --trace | head -1",
        shell=True,
        check=False,
        capture_output=True,
        text=True,
        timeout=20,
        env=ENV,
    )
    assert len(proc.stdout.splitlines()) == 1
    assert "Traceback" not in proc.stderr
