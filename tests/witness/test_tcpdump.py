"""The trace's packet lines against a capture sockviz did not make: ``tcpdump -i lo``
running beside each loopback run (its server on a port chosen here, so the capture takes
that run's packets only), read by tshark.

The same comparison as ``test_packets`` - but the pcap is tcpdump's, not sockviz's own
``--pcap``, so a frame sockviz's capture missed, or one it made up, shows. And without
``--pcap`` a bulk transfer's lines are the kernel's counters (``TCP_INFO``), not frames
read: here they are held against the frames tcpdump counted.

On lo a frame is taken twice: as it leaves (the copy sockviz keeps, stamped then) and as it
is received (the copy libpcap keeps). Unless some socket on the machine asked the kernel for
timestamps (``SO_TIMESTAMPNS``), the received copy is stamped only when the receive softirq
reaches it - for a delayed ACK sent from a timer, under load, up to 4 ms later (ksoftirqd's
turn: two CI runs beside a CPU burner). So the test holds such a socket open while it runs:
the kernel then stamps the received copy when loopback queues it, in the sender's own send
(measured: typically 2 us after sockviz's stamp, at most 0.2 ms in 3,200 frames beside three
burners). A line's ``t`` may still be up to :data:`SENT_BEFORE` before tcpdump's stamp (an
interrupt, or the hypervisor taking the CPU, between the two: a clean-clone CI run beside a
burner measured 4.0 ms, backlog-full's SYN sent again from its timer), never after it by more
than ``test_packets.SLACK``; and so a ``retry`` gap may differ by that much too.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from sockviz.engine.scenarios import REGISTRY
from tests.witness.test_packets import compare
from tests.witness.witnesses import ROOT, WORKERS, Run, frames, need, no_mismatch, scratch

#: Linux's socket option asking for a received datagram's time (asm-generic/socket.h).
SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)

#: How long before tcpdump's stamp of a frame sockviz's own may be (see the docstring).
SENT_BEFORE = 0.010


def runs() -> list[tuple[str, ...]]:
    out = []
    for name, scenario in REGISTRY.items():
        if scenario.link is not None:
            continue
        base = ("--scenario", name, "--family", "ipv4", "--wire", "host")
        if name == "bulk":
            out += [(*base, "--size", "256K"), (*base, "--size", "8M")]
        elif name == "time-wait":
            out += [(*base, "--closer", "client"), (*base, "--closer", "server")]
        else:
            out.append(base)
    return out


def free_port() -> int:
    with socket.socket() as s, socket.socket(type=socket.SOCK_DGRAM) as u:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        u.bind(("127.0.0.1", port))  # (free for UDP too)
        return port


def beside_tcpdump(args: tuple[str, ...], place: Path, n: int) -> Run:
    """One run with tcpdump watching its port on lo from before its first call."""
    for _attempt in range(5):
        try:
            port = free_port()
            break
        except OSError:
            continue
    pcap = place / f"dump{n}.pcap"
    dump = subprocess.Popen(
        [
            "tcpdump",
            "-i",
            "lo",
            "-n",
            "-U",
            "--immediate-mode",
            "-s",
            "256",
            "-w",
            str(pcap),
            f"tcp port {port} or udp port {port}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        started = dump.stderr.readline()  # "listening on lo ..." once it captures
        assert "listening" in started, started
        proc = subprocess.run(
            [sys.executable, "-m", "sockviz", "--trace", *args, "--port", str(port)],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        time.sleep(0.2)  # (the last frames through tcpdump's buffer)
    finally:
        dump.send_signal(signal.SIGINT)
        try:
            dump.wait(10)
        finally:
            dump.kill()
    assert proc.returncode == 0, f"{args}: {proc.stderr[-2000:]}"
    records = [json.loads(line) for line in proc.stdout.splitlines()]
    return Run((*args, "--port", str(port)), records, proc.stderr, pcap)


@need("tcpdump", "tshark")
@pytest.mark.skipif(os.geteuid() != 0, reason="tcpdump on lo needs root")
def test_every_packet_line_is_a_frame_tcpdump_saw():
    with (
        scratch() as place,
        ThreadPoolExecutor(WORKERS) as pool,
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as stamps,
    ):
        # (the kernel stamps every frame as it is queued from now on: see the docstring)
        stamps.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        done = list(
            pool.map(lambda job: beside_tcpdump(job[1], Path(place), job[0]), enumerate(runs()))
        )
        problems = []
        for run in done:
            problems += [f"[{run.name}] {p}" for p in compare(run, frames(run.pcap), SENT_BEFORE)]
    no_mismatch(problems)
