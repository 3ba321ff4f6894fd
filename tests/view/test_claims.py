"""Every claim sockviz makes about TCP, held to what this kernel does (issue 23, findings 14-17).

Each test first makes the kernel show the behaviour with real sockets (or a real lab run,
with tshark on its capture as the witness), then checks that the words sockviz says about it
state exactly that - not a textbook rule this kernel does not follow.
"""

from __future__ import annotations

import errno
import json
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from sockviz.engine.call_meanings import errno_help, kernel_meaning, shutdown_reason
from sockviz.engine.events import LinkStatus, Segment, TcpSettings
from sockviz.engine.record.trace_format import read_trace
from sockviz.engine.scenarios import get
from sockviz.view import linkview
from sockviz.view.fold import apply
from sockviz.view.run_view import RunView

ROOT = Path(__file__).resolve().parents[2]


def explain_of(scenario: str, socket_name: str, call: str) -> str:
    return next(
        s.explain for s in get(scenario).steps if s.socket == socket_name and s.call.value == call
    )


def listener(reuse: bool = False, backlog: int = 5) -> socket.socket:
    s = socket.socket()
    if reuse:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", 0))
    s.listen(backlog)
    return s


def admitted(backlog: int) -> int:
    """Connections the kernel finishes for ``listen(backlog)`` with nobody accepting."""
    with listener(backlog=backlog) as lst:
        clients = []
        try:
            for _ in range(backlog + 4):
                c = socket.socket()
                c.setblocking(False)
                c.connect_ex(lst.getsockname())
                clients.append(c)
            time.sleep(0.3)
            lst.setblocking(False)
            n = 0
            while True:
                try:
                    lst.accept()[0].close()
                except BlockingIOError:
                    return n
                n += 1
        finally:
            for c in clients:
                c.close()


def test_listen_admits_one_more_than_the_backlog_and_the_words_say_so():
    """Finding 17: listen(5) queues 6 here (listen(1): 2), not "up to 5"."""
    assert admitted(1) == 2
    six = admitted(5)
    said = explain_of("tcp-echo", "server", "listen")
    assert "up to 5" not in said and f"{six} for listen(5)" in said


def time_wait_port(reuse: bool) -> int:
    """A port held only by a TIME_WAIT connection whose listener had ``reuse`` or not: the
    server side closes first; every socket is closed."""
    with listener(reuse) as lst:
        port = lst.getsockname()[1]
        client = socket.create_connection(("127.0.0.1", port), timeout=2)
        conn, _ = lst.accept()
        conn.close()
        client.settimeout(2)
        assert client.recv(10) == b""
        client.close()
    time.sleep(0.05)
    return port


def bind_result(port: int, reuse: bool) -> int:
    with socket.socket() as s:
        if reuse:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError as exc:
            return exc.errno
        return 0


def test_so_reuseaddr_over_time_wait_needs_it_on_both_sides_and_the_words_say_so():
    """Finding 17: a restarted listener with SO_REUSEADDR still gets EADDRINUSE when the
    TIME_WAIT on its port was left by a listener made without it."""
    assert bind_result(time_wait_port(reuse=False), reuse=True) == errno.EADDRINUSE
    assert bind_result(time_wait_port(reuse=True), reuse=True) == 0
    for said in (
        explain_of("tcp-echo", "server", "setsockopt"),
        explain_of("time-wait", "server", "setsockopt"),
        get("address-in-use").about,
    ):
        assert "had it set too" in said or "had SO_REUSEADDR too" in said, said


def test_eaddrinuse_can_come_from_a_time_wait_with_no_socket_and_the_words_say_so():
    """Finding 17: no socket of ours holds the port, the kernel's TIME_WAIT does."""
    port = time_wait_port(reuse=False)
    out = subprocess.run(
        ["ss", "-tanH", "state", "time-wait", f"sport = :{port}"],
        capture_output=True,
        text=True,
        timeout=10,
    ).stdout
    assert out.strip(), "no TIME_WAIT seen by ss"
    assert bind_result(port, reuse=False) == errno.EADDRINUSE
    assert "TIME_WAIT" in errno_help("EADDRINUSE")
    assert "Another socket already holds" not in errno_help("EADDRINUSE")


def test_a_non_blocking_connect_returns_einprogress_at_once_and_the_words_say_so():
    with listener() as lst, socket.socket() as c:
        c.setblocking(False)
        assert c.connect_ex(lst.getsockname()) == errno.EINPROGRESS
    said = errno_help("EINPROGRESS")
    assert "non-blocking" in said and "stopped waiting" not in said


def test_recvfrom_with_a_small_buffer_truncates_and_the_words_say_so():
    """Finding 17: a datagram can arrive in part (its first bytes), the rest discarded."""
    with (
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as a,
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as b,
    ):
        a.bind(("127.0.0.1", 0))
        a.settimeout(2)
        b.sendto(b"x" * 100, a.getsockname())
        b.sendto(b"next", a.getsockname())
        assert a.recvfrom(10)[0] == b"x" * 10
        assert a.recvfrom(100)[0] == b"next"  # (the other 90 bytes are gone)
    about = get("message-boundaries").about
    assert "never part" not in about and "MSG_TRUNC" in about


def test_shutdown_rdwr_ends_both_directions_and_the_words_say_so():
    with listener() as lst, socket.create_connection(lst.getsockname(), timeout=2) as c:
        conn, _ = lst.accept()
        with conn:
            c.shutdown(socket.SHUT_RDWR)
            with pytest.raises(BrokenPipeError):
                c.send(b"x")
            c.settimeout(2)
            assert c.recv(10) == b""  # (at once: no waiting for the peer)
    said = shutdown_reason("socket.SHUT_RDWR")
    assert "both directions" in said and "one direction" not in said


def test_a_partial_send_comes_of_a_non_blocking_socket_and_the_words_say_so():
    with listener() as lst, socket.create_connection(lst.getsockname(), timeout=2) as c:
        conn, _ = lst.accept()
        with conn:
            c.setblocking(False)
            offered = 64 << 20
            assert c.send(bytes(offered)) < offered
    assert "non-blocking" in get("bulk").about


TIME_WAIT_PROBE = r"""
import socket, subprocess, time
open("/proc/sys/net/ipv4/tcp_fin_timeout", "w").write("5")
subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
l = socket.socket(); l.bind(("127.0.0.1", 0)); l.listen()
c = socket.create_connection(l.getsockname(), timeout=2); a, _ = l.accept()
c.close(); time.sleep(0.05); a.close(); time.sleep(0.05)
print(subprocess.run(["ss", "-tanoH", "state", "time-wait"], capture_output=True,
                     text=True).stdout)
"""


@pytest.mark.skipif(
    not shutil.which("unshare") or not shutil.which("ss"), reason="needs unshare and ss"
)
def test_time_wait_lasts_sixty_seconds_whatever_tcp_fin_timeout_says():
    """Finding 16: in a network of its own with tcp_fin_timeout = 5, ss shows the TIME_WAIT
    timer at about 60 s: Linux's fixed TCP_TIMEWAIT_LEN; and the words give both of its
    reasons."""
    proc = subprocess.run(
        ["unshare", "-n", sys.executable, "-c", TIME_WAIT_PROBE],
        capture_output=True,
        text=True,
        timeout=30,
    )
    if proc.returncode != 0:
        pytest.skip(f"no network namespace here: {proc.stderr.strip()[-200:]}")
    timer = proc.stdout.split("timewait,")[1].split("sec")[0]
    assert 55 <= float(timer) <= 60, proc.stdout
    said = kernel_meaning("TIME_WAIT")
    assert "60 s" in said and "FIN again" in said and "late segments" in said
    about = get("time-wait").about
    assert "not tcp_fin_timeout" in about and "2 MSL" in about and "CLOSING" in about


def test_help_says_where_the_kernel_state_comes_from_first():
    """Finding 17: a closed socket's state is asked of netlink first; /proc is the fallback."""
    from sockviz.app.screens.help import READING

    text = " ".join(READING)
    assert "netlink" in text
    assert text.index("netlink") < text.index("/proc/net/tcp")


def test_a_bulk_on_a_link_names_the_kernels_congestion_control():
    """Finding 15: the transfer's words name the algorithm from the run's settings, never
    "slow start" for a kernel that does not do it."""
    with socket.socket() as s:
        name = s.getsockopt(socket.IPPROTO_TCP, socket.TCP_CONGESTION, 16).rstrip(b"\0")
    name = name.decode()
    bulk = Segment(
        seq=20,
        t=0.5,
        proto="TCP",
        flags="ACK",
        source="client",
        target="conn-1",
        seq_rel=1,
        ack_rel=1,
        window=502,
        nbytes=1 << 20,
        options=None,
        cause=None,
        family="AF_INET",
        local="10.217.0.2:40000",
        remote="10.217.0.1:5000",
        count=700,
        largest=1448,
        retransmissions=0,
        is_sum=True,
        link="crossed",
        delay=0.04,
    )
    view = RunView(get("slow-link"))
    apply(view, LinkStatus("delay 40 ms", "10.217.0.1", "10.217.0.2"), 0.0)
    apply(view, TcpSettings("client", (("tcp_congestion_control", name),)), 0.0)
    apply(view, bulk, 1.0)
    said = linkview.link_story(view.link, 0, None)
    assert f"congestion control, {name}" in said.lower() or name.upper() in said
    for text in (
        get("slow-link").about,
        get("slow-link").summary,
        *(s.explain for s in get("slow-link").steps),
    ):
        assert "(slow start)" not in text and ": slow start" not in text


@pytest.mark.skipif(not shutil.which("tshark"), reason="needs tshark")
def test_lost_data_says_the_sacks_it_saw_not_a_duplicate_ack_count(tmp_path):
    """Finding 14: the retransmission of the lost segment came after the server's SACKs
    (tshark on the run's pcap is the witness); the words say so, with the RTT the kernel
    measured, and count no duplicate ACKs."""
    pcap = tmp_path / "run.pcap"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "sockviz",
            "--trace",
            "--scenario",
            "lost-data",
            "--pcap",
            str(pcap),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    if "no two hosts here" in proc.stderr:
        pytest.skip("two hosts cannot be made here")
    assert proc.returncode == 0, proc.stderr[-2000:]
    fields = subprocess.run(
        [
            "tshark",
            "-r",
            str(pcap),
            "-T",
            "fields",
            "-e",
            "frame.time_relative",
            "-e",
            "tcp.options.sack_le",
            "-e",
            "tcp.analysis.retransmission",
            "-e",
            "tcp.analysis.fast_retransmission",
            "-e",
            "tcp.analysis.out_of_order",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout.splitlines()
    rows = [f.split("\t") for f in fields]
    sacks = [float(r[0]) for r in rows if r[1]]
    # (tshark's own heuristic calls the segment sent again soon after the first "out of
    # order" rather than a retransmission when it comes within its guess of the RTT)
    again = [float(r[0]) for r in rows if r[2] or r[3] or r[4]]
    assert sacks and again and min(sacks) < again[0]
    events = read_trace(proc.stdout.splitlines())
    view = RunView(get("lost-data"))
    status = LinkStatus("delay 20 ms", "10.217.0.1", "10.217.0.2")
    apply(view, status, 0.0)
    for n, event in enumerate(events):
        apply(view, event, float(n))
    said = linkview.link_story(view.link, 0, None)
    retry = next(e for e in events if isinstance(e, Segment) and e.retry and e.nbytes)
    assert f"again, {linkview.seconds(retry.retry)} after the first" in said
    assert "with SACK blocks had shown the hole" in said
    assert "duplicate ACK" not in said and "fast retransmit" not in said
    rtt = view.link.rtts["client"]
    assert f"measured was {linkview.milliseconds(rtt)}" in said
    assert json.loads(proc.stdout.splitlines()[0])["call"] == "tcp"


@pytest.mark.skipif(not shutil.which("tshark"), reason="needs tshark")
def test_a_lone_lost_segment_is_said_sent_again_by_a_timer_with_no_sack_seen(tmp_path):
    """Finding 14, the other case: tcp-echo's one data segment lost; nothing after it can be
    SACKed (tshark: no SACK block before the retransmission), so the words say a timer ran
    out, and how long after the first sending."""
    pcap = tmp_path / "run.pcap"
    proc = subprocess.run(
        [sys.executable, "-m", "sockviz", "--trace", "--drop", "data", "--pcap", str(pcap)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    if "no two hosts here" in proc.stderr:
        pytest.skip("two hosts cannot be made here")
    assert proc.returncode == 0, proc.stderr[-2000:]
    rows = [
        f.split("\t")
        for f in subprocess.run(
            [
                "tshark",
                "-r",
                str(pcap),
                "-T",
                "fields",
                "-e",
                "frame.time_relative",
                "-e",
                "tcp.options.sack_le",
                "-e",
                "tcp.analysis.retransmission",
            ],
            capture_output=True,
            text=True,
            timeout=60,
        ).stdout.splitlines()
    ]
    again = [float(r[0]) for r in rows if r[2]]
    assert again and not any(r[1] for r in rows if float(r[0]) < again[0])
    events = read_trace(proc.stdout.splitlines())
    view = RunView(get("tcp-echo"))
    apply(view, LinkStatus("drop data", "10.217.0.1", "10.217.0.2"), 0.0)
    for n, event in enumerate(events):
        apply(view, event, float(n))
    said = linkview.link_story(view.link, 0, None)
    retry = next(e for e in events if isinstance(e, Segment) and e.retry and e.nbytes)
    assert f"again, {linkview.seconds(retry.retry)} after the first, with no SACK" in said
    assert "a timer ran out" in said and "duplicate ACK" not in said


def test_a_connected_udp_socket_refused_is_told_by_icmp_and_the_words_say_so():
    """On loopback, a datagram to a port where nothing listens: the kernel answers with
    ICMP port unreachable, and the connected socket's next call fails with ECONNREFUSED -
    the words name ICMP for a datagram socket, the RST only for a stream one."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as gone:
        gone.bind(("127.0.0.1", 0))
        port = gone.getsockname()[1]
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        udp.connect(("127.0.0.1", port))
        udp.send(b"anyone?")
        udp.settimeout(2)
        try:
            udp.recv(16)
        except ConnectionRefusedError as refused:
            assert refused.errno == errno.ECONNREFUSED
        else:
            raise AssertionError("recv() returned: something listened")
    said = errno_help("ECONNREFUSED", "SOCK_DGRAM")
    assert "ICMP port unreachable" in said and "RST" not in said
    assert "RST" in errno_help("ECONNREFUSED", "SOCK_STREAM")
