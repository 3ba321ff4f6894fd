"""Wire facts checked against independent witnesses (issue 23, "Every word true"): who
sent a reset and its numbers, and how many frames a bulk transfer put on the wire each way
(every segment's numbers and retry marks: tests/witness/test_packets.py).

Each run is a real ``sockviz --trace`` process; the witnesses are tshark reading the run's
own ``--pcap`` file, and tcpdump capturing loopback beside a run that keeps no pcap (where
sockviz stops reading frames and counts them instead). Nothing here stands in for the
kernel or the capture.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from tests.conftest import IPV6

ROOT = Path(__file__).resolve().parents[2]
IS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0
FAMILIES = ["ipv4", pytest.param("ipv6", marks=pytest.mark.skipif(not IPV6, reason="no ::1"))]
needs_witness = pytest.mark.skipif(
    not IS_ROOT or not shutil.which("tshark"), reason="needs root (the host's loopback) and tshark"
)


def trace(*args: str) -> list[dict]:
    proc = subprocess.run(
        [sys.executable, "-m", "sockviz", "--trace", *args],
        cwd=ROOT,
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    return [json.loads(line) for line in proc.stdout.splitlines()]


def tshark(pcap: Path, *fields: str, where: str | None = None) -> list[list[str]]:
    """Each frame's ``fields`` as tshark reads them (relative numbers are its default)."""
    proc = subprocess.run(
        [
            "tshark",
            "-r",
            str(pcap),
            "-T",
            "fields",
            *(x for f in fields for x in ("-e", f)),
            *(["-Y", where] if where else []),
        ],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    return [line.split("\t") for line in proc.stdout.splitlines()]


def packet_lines(lines: list[dict]) -> list[dict]:
    return [r for r in lines if r["call"] == "packet"]


def frames_and_lines(lines: list[dict], pcap: Path) -> list[tuple[dict, list[str]]]:
    """Each packet line beside its frame in the pcap (a run with no bulk transfer)."""
    frames = tshark(pcap, "tcp.seq", "tcp.ack", "tcp.flags.ack", "frame.number")
    singles = packet_lines(lines)
    assert len(frames) == len(singles)
    return list(zip(singles, frames, strict=True))


# --- finding 5: the reset nobody's socket sent, and Wireshark's numbers ---------------
@needs_witness
@pytest.mark.parametrize("family", FAMILIES)
def test_refused_reset_is_the_kernels_at_the_port_numbered_as_wireshark(family, tmp_path):
    """connect() to a port where a socket is bound but none listens: the RST is the
    kernel's answer, sent by no socket - its ``from`` is the port's address, not the bound
    socket's name - and its numbers are Wireshark's (Seq=1, Ack=1)."""
    pcap = tmp_path / "refused.pcap"
    lines = trace("--scenario", "refused", "--family", family, "--pcap", str(pcap))
    bound = next(r for r in lines if r["call"] == "bind" and r["socket"] == "server")
    reset = next(r for r in packet_lines(lines) if "RST" in r["flags"])
    assert reset["from"] == reset["local"] == bound["local"]
    assert reset["to"] == reset["socket"] == "client"
    for line, (seq, ack, has_ack, _n) in frames_and_lines(lines, pcap):
        assert line["seq_rel"] == int(seq)
        assert line["ack_rel"] == (int(ack) if has_ack == "1" else None)
    assert (reset["seq_rel"], reset["ack_rel"]) == (1, 1)


# Every segment's relative numbers as tshark shows them, and ``retry`` exactly where tshark
# marks a retransmission under each --drop kind, are tests/witness/test_packets.py's: every
# scenario and lab on both families, field by field, from the same kind of run.


def free_port(family: str) -> int:
    with socket.socket(socket.AF_INET6 if family == "ipv6" else socket.AF_INET) as s:
        s.bind(("::1" if family == "ipv6" else "127.0.0.1", 0))
        return s.getsockname()[1]


needs_tcpdump = pytest.mark.skipif(
    not IS_ROOT or not shutil.which("tcpdump") or not shutil.which("tshark"),
    reason="needs root, tcpdump and tshark",
)


@needs_tcpdump
@pytest.mark.parametrize("family", FAMILIES)
def test_a_bulk_transfers_count_is_what_tcpdump_saw_each_way(family, tmp_path):
    """Without ``--pcap`` sockviz stops reading frames during a bulk transfer; each
    direction's summed ``count`` is still the frames tcpdump, capturing loopback beside the
    run, saw go that way (the lines of single packets aside) - not the kernel's count of
    segments, which counts a loopback frame carrying two segments' worth (GSO) twice."""
    port = free_port(family)
    pcap = tmp_path / "beside.pcap"
    dump = subprocess.Popen(
        [
            "tcpdump",
            "-Z",
            "root",
            "-i",
            "lo",
            "-nn",
            "-s",
            "96",
            "--immediate-mode",
            "-U",
            "-w",
            str(pcap),
            f"tcp port {port}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert "listening on" in dump.stderr.readline()  # (it captures from here on)
        lines = trace("--scenario", "bulk", "--size", "1M", "--family", family, "--port", str(port))
    finally:
        dump.send_signal(signal.SIGINT)
        try:
            dump.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            dump.kill()
            dump.communicate()
    seen = Counter()
    for ip4, ip6, sport, dport in tshark(pcap, "ip.src", "ipv6.src", "tcp.srcport", "tcp.dstport"):
        ip = f"[{ip6}]" if ip6 else ip4
        seen[(f"{ip}:{sport}", f"{ip}:{dport}")] += 1
    one_by_one = Counter((r["local"], r["remote"]) for r in packet_lines(lines))
    sums = [r for r in lines if r["call"] == "packets"]
    assert {r["from"] for r in sums} == {"client", "conn-1"}
    # (a sendall() that returns with bytes still in its buffers ends one sum; what its
    # kernel sends while recv() runs is a second: each way, the sums add up to the frames)
    summed = Counter()
    for line in sums:
        summed[(line["local"], line["remote"])] += line["count"]
    for ends, count in summed.items():
        lines_that_way = sum(1 for r in sums if (r["local"], r["remote"]) == ends)
        # (exact; a sum split in two may leave the frame at the split out: README)
        assert 0 <= (seen[ends] - one_by_one[ends]) - count <= (lines_that_way > 1), (ends, count)
