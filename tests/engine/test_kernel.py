"""The kernel view: /proc parsing, TCP_INFO on held sockets, and a quiet None off Linux."""

from __future__ import annotations

import socket
import sys

import pytest

from sockviz.engine.kernel import tcp_state as kernel
from sockviz.engine.scenarios import get
from tests.helpers import run_scenario

linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux only")

# Real lines as the kernel prints them (little-endian host).
V4_TIME_WAIT = (
    "   1: 0100007F:A3C4 0100007F:1388 06 00000000:00000000 03:00001770 00000000"
    "     0        0 0 3 0000000000000000"
)
V6_LISTEN = (
    "   0: 00000000000000000000000001000000:1388 00000000000000000000000000000000:0000 0A "
    "00000000:00000000 00:00000000 00000000     0        0 12345 1 0000000000000000 100 0 0 10 0"
)


@pytest.mark.skipif(sys.byteorder != "little", reason="sample lines are little-endian")
def test_parse_proc_lines():
    tw = kernel.parse_proc_line(V4_TIME_WAIT)
    assert tw.local == ("127.0.0.1", 0xA3C4) and tw.remote == ("127.0.0.1", 5000)
    assert tw.state == "TIME_WAIT" and tw.inode == 0
    assert tw.timer == pytest.approx(0x1770 / kernel._CLOCK_TICKS)
    ls = kernel.parse_proc_line(V6_LISTEN)
    assert ls.local == ("::1", 5000) and ls.remote == ("::", 0)
    assert ls.state == "LISTEN" and ls.timer is None and ls.inode == 12345
    assert kernel.parse_proc_line("  sl  local_address rem_address   st ...") is None
    assert kernel.parse_proc_line("garbage") is None


def test_closed_state_matching():
    entries = [kernel.parse_proc_line(V4_TIME_WAIT)]
    assert kernel.closed_state(("127.0.0.1", 0xA3C4), ("127.0.0.1", 5000), entries)[0] == (
        "TIME_WAIT"
    )
    assert kernel.closed_state(("127.0.0.1", 1), ("127.0.0.1", 5000), entries) == ("CLOSE", None)


@linux_only
def test_held_state_of_real_sockets():
    listener = socket.create_server(("127.0.0.1", 0))
    try:
        assert kernel.held_state(listener) == "LISTEN"
        client = socket.create_connection(listener.getsockname())
        conn, _ = listener.accept()
        assert kernel.held_state(client) == "ESTABLISHED"
        assert kernel.held_state(conn) == "ESTABLISHED"
        fresh = socket.socket()
        assert kernel.held_state(fresh) == "CLOSE"
        udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        assert kernel.held_state(udp) is None
        for s in (client, conn, fresh, udp):
            s.close()
    finally:
        listener.close()


@linux_only
def test_time_wait_is_found_in_proc_after_close():
    listener = socket.create_server(("127.0.0.1", 0))
    client = socket.create_connection(listener.getsockname())
    conn, _ = listener.accept()
    local, remote = client.getsockname(), client.getpeername()
    client.close()
    conn.close()
    listener.close()
    state, timer = kernel.closed_state(local, remote, kernel.read_proc())
    assert state == "TIME_WAIT" and 0 < timer <= 60


def test_off_linux_the_kernel_view_is_null(monkeypatch):
    """Elsewhere than Linux nothing is read and every kernel field is None, never a crash."""
    monkeypatch.setattr(kernel, "_IS_LINUX", False)
    assert kernel.available() is False
    with socket.socket() as s:
        assert kernel.held_state(s) is None
    assert kernel.read_proc() == []
    events = run_scenario(get("tcp-echo")).trace
    assert events and all(e.kernel is None for e in events)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc/net/tcp is Linux's")
def test_read_proc_sees_every_socket_past_the_first_page():
    """The kernel hands /proc/net/tcp out a page (~4 KiB, ~27 sockets) per read: a reader
    that stops at the first short read would miss the rest."""
    listeners = [socket.create_server(("127.0.0.1", 0)) for _ in range(100)]
    try:
        ports = {s.getsockname()[1] for s in listeners}
        seen = {e.local[1] for e in kernel.read_proc(("tcp",)) if e.state == "LISTEN"}
        assert ports <= seen
    finally:
        for s in listeners:
            s.close()
