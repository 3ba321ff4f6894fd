"""The trace's packet lines against a capture sockviz did not make: ``tcpdump -i lo``
running beside each loopback run (its server on a port chosen here, so the capture takes
that run's packets only), read by tshark.

The same comparison as ``test_packets`` - but the pcap is tcpdump's, not sockviz's own
``--pcap``, so a frame sockviz's capture missed, or one it made up, shows. And without
``--pcap`` a bulk transfer's lines are the kernel's counters (``TCP_INFO``), not frames
read: here they are held against the frames tcpdump counted.

On lo a frame is taken twice: as it leaves (the copy sockviz keeps, stamped then) and as
loopback queues it to be received (the copy libpcap keeps, stamped then, typically half a
microsecond later). Between the two the sender's CPU may be taken by an interrupt or the
hypervisor: a line's ``t`` may be up to :data:`SENT_BEFORE` before tcpdump's stamp of its
frame (measured here: at most 0.18 ms in 24,000 frames idle or beside a CPU burner, once
1.07 ms in a CI run beside one), never after it by more than ``test_packets.SLACK``.
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

#: How long before tcpdump's stamp of a frame sockviz's own may be (see the docstring).
SENT_BEFORE = 0.003


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
    with scratch() as place, ThreadPoolExecutor(WORKERS) as pool:
        done = list(
            pool.map(lambda job: beside_tcpdump(job[1], Path(place), job[0]), enumerate(runs()))
        )
        problems = []
        for run in done:
            problems += [f"[{run.name}] {p}" for p in compare(run, frames(run.pcap), SENT_BEFORE)]
    no_mismatch(problems)
