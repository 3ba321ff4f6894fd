"""The run's wire kept and read by others: the --pcap file (read back by dpkt, and by
tcpdump, which must see just the run's frames), and the host capture's port filter.

Why apart from :mod:`tests.engine.test_wire`: these are the tests an independent reader or
the host's loopback takes part in; the segments themselves are held there.
"""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from sockviz.engine.wire.capture import Capture
from tests.engine.test_wire import HANDSHAKE, IS_ROOT, needs_private, trace, wire


@pytest.mark.skipif(not IS_ROOT, reason="watching the host's loopback needs root")
def test_host_mode_sees_what_the_private_one_does_and_tcpdump_agrees(tmp_path):
    with socket.socket() as probe:  # a port free now, for tcpdump's filter
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    dump, tcpdump = tmp_path / "seen.pcap", shutil.which("tcpdump")
    watcher = None
    if tcpdump:
        # (--immediate-mode: each frame is handed over as it comes, not when a block fills)
        watcher = subprocess.Popen(
            [
                tcpdump,
                "-i",
                "lo",
                "--immediate-mode",
                "-U",
                "-w",
                str(dump),
                "-nn",
                f"tcp port {port}",
            ],
            stderr=subprocess.PIPE,
        )
        assert b"listening on lo" in watcher.stderr.readline()
    lines: list[dict] = []
    try:
        lines, _ = trace(
            "--wire", "host", "--port", str(port), "--pcap", str(tmp_path / "ours.pcap")
        )
    finally:
        if watcher is not None:
            mine = run_ports(lines)
            deadline = time.monotonic() + 10  # until tcpdump has written all it saw
            while len(read_partial(dump, mine)) < 11 and time.monotonic() < deadline:
                time.sleep(0.05)
            watcher.send_signal(signal.SIGINT)
            watcher.wait(10)
    assert wire(lines)[:3] == HANDSHAKE and len(wire(lines)) == 11
    ours = read_pcap(tmp_path / "ours.pcap")
    assert ours == [(r["flags"], r["nbytes"]) for r in lines if r["call"] == "packet"]
    if tcpdump:
        # tcpdump saw just these of the run's connection, in this order. (Its port filter
        # also caught, once, another worker's run: a quit-walk tcp-echo whose listener the
        # kernel had given the same port between the probe's close and this run's bind.)
        assert read_pcap(dump, run_ports(lines)) == ours


def run_ports(lines: list[dict]) -> set[int]:
    """The ports of the run's packet lines (its listener's, and its client's)."""
    return {
        int(r[key].rpartition(":")[2])
        for r in lines
        if r["call"] == "packet"
        for key in ("local", "remote")
        if r[key]
    }


def read_pcap(path: Path, ports: set[int] | None = None) -> list[tuple[str, int]]:
    """(flags, payload bytes) of each TCP frame of a pcap file, read by dpkt (only those
    between two of ``ports``, if given)."""
    dpkt = pytest.importorskip("dpkt")
    names = [
        ("SYN", dpkt.tcp.TH_SYN),
        ("FIN", dpkt.tcp.TH_FIN),
        ("RST", dpkt.tcp.TH_RST),
        ("PSH", dpkt.tcp.TH_PUSH),
        ("ACK", dpkt.tcp.TH_ACK),
    ]
    out = []
    with open(path, "rb") as f:
        for _t, frame in dpkt.pcap.Reader(f):
            ip = dpkt.ethernet.Ethernet(frame).data
            tcp = ip.data
            if isinstance(tcp, dpkt.tcp.TCP) and (
                ports is None or {tcp.sport, tcp.dport} <= ports
            ):  # (payload length from the headers: the
                # file keeps each frame's first bytes only)
                whole = ip.len - ip.hl * 4 if isinstance(ip, dpkt.ip.IP) else ip.plen
                out.append(
                    (",".join(n for n, bit in names if tcp.flags & bit), whole - tcp.off * 4)
                )
    return out


def read_partial(path: Path, ports: set[int] | None = None) -> list[tuple[str, int]]:
    """What a pcap file still being written holds so far."""
    try:
        return read_pcap(path, ports)
    except (OSError, ValueError, EOFError):
        return []
    except Exception as error:  # dpkt's NeedData: a frame half written
        if type(error).__name__ == "NeedData":
            return []
        raise


@needs_private
def test_pcap_is_read_back_by_an_independent_reader(tmp_path):
    lines, _ = trace("--wire", "private", "--pcap", str(tmp_path / "run.pcap"))
    assert read_pcap(tmp_path / "run.pcap") == [
        (r["flags"], r["nbytes"]) for r in lines if r["call"] == "packet"
    ]
    if shutil.which("tcpdump"):
        proc = subprocess.run(
            ["tcpdump", "-nn", "-r", str(tmp_path / "run.pcap")],
            check=True,
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert len(proc.stdout.splitlines()) == len(wire(lines))
    again = subprocess.run(
        [
            sys.executable,
            "-m",
            "sockviz",
            "--trace",
            "--wire",
            "private",
            "--pcap",
            str(tmp_path / "run.pcap"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert again.returncode == 2 and "--overwrite" in again.stderr


@needs_private
def test_a_bulk_transfer_kept_in_a_pcap_is_read_frame_by_frame(tmp_path):
    """With --pcap every frame is kept, so each is read (slower, as complete): the sums are
    of what was captured, and the pcap file holds every one of them."""
    lines, _ = trace(
        "--wire",
        "private",
        "--scenario",
        "bulk",
        "--size",
        "4M",
        "--pcap",
        str(tmp_path / "bulk.pcap"),
    )
    sums = [r for r in lines if r["call"] == "packets"]
    data = [r for r in sums if r["from"] == "client"]
    sent = sum(r["nbytes"] for r in data)
    assert all(r["flags"] == "PSH,ACK" for r in data)
    # (every byte; more only where the kernel sent some again, and then counted so)
    assert sent >= 4 << 20 and (sent > 4 << 20) == any(r["retransmissions"] for r in data)
    frames = read_pcap(tmp_path / "bulk.pcap")
    singles = [r for r in lines if r["call"] == "packet"]
    assert len(frames) == len(singles) + sum(r["count"] for r in sums)
    # (the frames carried the data and only the data: what the lines say, no more)
    assert sum(n for _flags, n in frames) == sent + sum(r["nbytes"] for r in singles) + sum(
        r["nbytes"] for r in sums if r["from"] != "client"
    )


@pytest.mark.skipif(not IS_ROOT, reason="watching the host's loopback needs root")
def test_the_capture_takes_only_the_runs_ports():
    """On this machine's loopback other programs talk too: once the run's ports are known,
    the kernel's filter keeps their frames out of the capture (and out of its ring)."""
    with (
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as ours,
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as theirs,
    ):
        ours.bind(("127.0.0.1", 0))
        theirs.bind(("127.0.0.1", 0))
        port = ours.getsockname()[1]
        capture = Capture()
        try:
            capture.watch_ports({port})
            capture.read()  # (what the ring took before the filter: other tests' traffic)
            for _ in range(3):
                theirs.sendto(b"not ours", theirs.getsockname())
            ours.sendto(b"ours", ours.getsockname())
            deadline = time.monotonic() + 2
            frames = []
            while not frames and time.monotonic() < deadline:
                frames = capture.read()
                time.sleep(0.01)
        finally:
            capture.close()
    assert [(f.dst[1], f.nbytes) for f in frames] == [(port, 4)]


def udp_port_free_for_tcp_too() -> tuple[socket.socket, int]:
    """A UDP socket bound to a port whose number is free for TCP too (for the run's
    server), the kernel's pick; a few tries, as other tests take ports meanwhile."""
    for _ in range(50):
        theirs = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        theirs.bind(("127.0.0.1", 0))
        port = theirs.getsockname()[1]
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
                return theirs, port
            except OSError:
                theirs.close()
    pytest.fail("no UDP port whose number was free for TCP in 50 tries")


@pytest.mark.skipif(not IS_ROOT, reason="watching the host's loopback needs root")
def test_another_programs_udp_on_the_number_of_the_runs_tcp_port_is_not_the_runs():
    """TCP and UDP number their ports apart: a program's datagrams to and from UDP port P
    while the run's server listens on TCP port P cross the capture's port filter, and must
    not be named the server's (a CI run saw ``server -> server UDP 4 B`` in backlog-full,
    another test's datagram)."""
    theirs, port = udp_port_free_for_tcp_too()
    with theirs, socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
        sender.bind(("127.0.0.1", 0))
        done = threading.Event()

        def chatter() -> None:
            while not done.wait(0.002):
                sender.sendto(b"not!", ("127.0.0.1", port))
                theirs.sendto(b"nor!", sender.getsockname())

        talking = threading.Thread(target=chatter)
        talking.start()
        try:
            lines, _ = trace("--scenario", "tcp-echo", "--wire", "host", "--port", str(port))
        finally:
            done.set()
            talking.join()
    packets = [r for r in lines if r["call"] == "packet"]
    assert packets and all(r["proto"] == "TCP" for r in packets), [
        (r["from"], r["to"], r["proto"], r["nbytes"]) for r in packets if r["proto"] != "TCP"
    ]
    assert wire(lines)[:3] == HANDSHAKE
