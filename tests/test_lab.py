"""Two hosts and a link: the built-in labs and every --drop kind, on real kernels.

Each run is ``sockviz --trace`` in a process of its own (two hosts are made while a process
has one thread). What is checked is what the kernels did about the link - the lost
segment, then the sender's kernel sending it again, then the call that waited for it - in
order and in counts; the only times asserted are the kernel's own timers (a SYN's first
retransmission is a second later), never sockviz's speed.
"""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from sockviz.engine.record.trace_format import from_record
from sockviz.engine.record.trace_lines import line as trace_line
from tests.conftest import IPV6
from tests.helpers import two_hosts_here

ROOT = Path(__file__).resolve().parents[1]
FAMILIES = ["ipv4", pytest.param("ipv6", marks=pytest.mark.skipif(not IPV6, reason="no IPv6"))]


def trace(
    *args: str, user: list[str] | None = None, python: str = sys.executable, cwd=ROOT
) -> tuple[list[dict], str]:
    return traces([args], user=user, python=python, cwd=cwd)[0]


def traces(
    runs: list, user: list[str] | None = None, python: str = sys.executable, cwd=ROOT
) -> list[tuple[list[dict], str]]:
    """``sockviz --trace`` with each of ``runs``' arguments, all at once (most of a lab's
    time is a kernel's timer running out: they run out side by side); each run's records
    and stderr."""
    procs = [
        subprocess.Popen(
            [*(user or []), python, "-m", "sockviz", "--trace", *args],
            cwd=cwd,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for args in runs
    ]
    out = []
    for proc in procs:
        try:
            stdout, stderr = proc.communicate(timeout=60)
        finally:
            proc.kill()
        assert proc.returncode == 0, stderr[-2000:]
        lines = stdout.splitlines()
        for text in lines:  # every line reads back as the event it was written from
            assert trace_line(from_record(json.loads(text))) == text
        out.append(([json.loads(text) for text in lines], stderr))
    return out


needs_hosts = pytest.mark.skipif(not two_hosts_here(), reason="two hosts cannot be made here")


def packets(records: list[dict], **match) -> list[dict]:
    return [
        r for r in records if r["call"] == "packet" and all(r.get(k) == v for k, v in match.items())
    ]


def index(records: list[dict], record: dict) -> int:
    return records.index(record)


def call(records: list[dict], socket: str, name: str, n: int = 0) -> dict:
    return [r for r in records if r["socket"] == socket and r["call"] == name][n]


def lost_then_sent_again(records: list[dict], sender: str, flags: str) -> tuple[dict, dict]:
    """The first ``flags`` segment from ``sender``: dropped on the link; and its retry."""
    lost = packets(records, **{"from": sender, "flags": flags})[0]
    assert lost["link"] == "dropped" and lost["retry"] is None
    again = [
        r
        for r in packets(records, **{"from": sender, "flags": flags})
        if r["seq_rel"] == lost["seq_rel"] and r["retry"] is not None
    ]
    assert again and again[0]["link"] == "crossed", "the sender's kernel never sent it again"
    assert index(records, again[0]) > index(records, lost)
    return lost, again[0]


@needs_hosts
@pytest.mark.parametrize("family", FAMILIES)
def test_lost_syn(family):
    check_lost_syn(trace("--scenario", "lost-syn", "--family", family)[0], family)


def check_lost_syn(records: list[dict], family: str) -> None:
    lost, again = lost_then_sent_again(records, "client", "SYN")
    assert again["retry"] >= 0.9  # (the kernel's first SYN retransmission: one second)
    connect = call(records, "client", "connect")
    assert connect["error"] is None and connect["t"] >= lost["t"] + 0.9
    handshake = packets(records)[1:4]
    assert [p["flags"] for p in handshake] == ["SYN", "SYN,ACK", "ACK"]
    local = "10.217.0.2" if family == "ipv4" else "[fd17:217::2]"
    assert connect["local"].startswith(local)


@needs_hosts
@pytest.mark.parametrize("family", FAMILIES)
def test_lost_data(family):
    check_lost_data(trace("--scenario", "lost-data", "--family", family)[0], family)


def check_lost_data(records: list[dict], family: str) -> None:
    lost = packets(records, **{"from": "client", "link": "dropped"})[0]
    assert lost["nbytes"] > 0 and lost["seq_rel"] == 1
    again = [
        p
        for p in packets(records, **{"from": "client"})
        if p["seq_rel"] == 1 and p["nbytes"] and p["retry"] is not None
    ]
    assert again, "the lost data was never sent again"
    recv = call(records, "conn-1", "recv")
    assert recv["nbytes"] == 8192  # (every byte, once the hole was filled)
    assert index(records, recv) > index(records, lost)
    # The server's kernel answered what came after the hole with ACKs that point at it.
    duplicates = [
        p
        for p in packets(records, **{"from": "conn-1", "flags": "ACK"})
        if p["ack_rel"] == 1 and index(records, p) < index(records, again[0])
    ]
    assert duplicates  # (how many before the retry is the kernels' timing)


@needs_hosts
@pytest.mark.parametrize("family", FAMILIES)
def test_lost_fin(family):
    check_lost_fin(trace("--scenario", "lost-fin", "--family", family)[0], family)


def check_lost_fin(records: list[dict], family: str) -> None:
    _lost, again = lost_then_sent_again(records, "client", "FIN,ACK")
    end = call(records, "conn-1", "recv", 1)
    assert end["nbytes"] == 0  # end of stream: once the FIN came again
    assert end["t"] >= again["t"]
    # (right after close() the FIN is lost: FIN_WAIT1, whatever the timing; whether the
    # client is seen in FIN_WAIT2 before TIME_WAIT depends on whether the server's kernel
    # acknowledged the FIN on its own or with its own FIN - not asserted)
    assert call(records, "client", "close")["kernel"] == "FIN_WAIT1"
    states = [r["kernel"] for r in records if r["call"] == "kernel" and r["socket"] == "client"]
    assert states[-1] == "TIME_WAIT"


@needs_hosts
@pytest.mark.parametrize("family", FAMILIES)
def test_simultaneous_close(family):
    check_simultaneous_close(
        trace("--scenario", "simultaneous-close", "--family", family)[0], family
    )


def check_simultaneous_close(records: list[dict], family: str) -> None:
    """Both FINs were on the link at once (each sent before the other arrived), so each
    end went through CLOSING (a kernel read then says so; it is read ten times a second,
    and CLOSING lasts one crossing of the link) to TIME_WAIT, where both kernels end."""
    fins = [r for r in records if r["call"] == "packet" and "FIN" in (r["flags"] or "")]
    assert [f["from"] for f in fins] == ["client", "conn-1"], fins
    first, second = fins
    assert second["t"] < first["t"] + first["delay"]  # (sent before the first had crossed)
    for end in ("client", "conn-1"):
        # (read once the call has returned: under load the other's FIN may have come by then)
        assert call(records, end, "close")["kernel"] in ("FIN_WAIT1", "CLOSING", "TIME_WAIT")
        states = [r["kernel"] for r in records if r["call"] == "kernel" and r["socket"] == end]
        assert states[-1] == "TIME_WAIT" and not {"CLOSE_WAIT", "LAST_ACK"} & set(states)


@needs_hosts
@pytest.mark.parametrize("family", FAMILIES)
def test_mss(family):
    check_mss(trace("--scenario", "mss", "--family", family)[0], family)


def check_mss(records: list[dict], family: str) -> None:
    """Each SYN offers the MTU (1280) less the IP and TCP headers; every data segment is
    at most that less the timestamps' 12 bytes, and the 8 KiB needed some of that size."""
    mss = 1280 - 20 - (20 if family == "ipv4" else 40)
    syns = [r for r in records if r["call"] == "packet" and "SYN" in (r["flags"] or "")]
    assert len(syns) == 2 and all(f"mss={mss}," in s["options"] for s in syns), syns
    data = [r["nbytes"] for r in records if r["call"] == "packet" and r["nbytes"]]
    assert sum(data) == 8192 and max(data) == mss - 12, data
    assert call(records, "conn-1", "recv")["nbytes"] == 8192


@needs_hosts
@pytest.mark.parametrize("family", FAMILIES)
def test_simultaneous_open(family):
    check_simultaneous_open(trace("--scenario", "simultaneous-open", "--family", family)[0], family)


def check_simultaneous_open(records: list[dict], family: str) -> None:
    """Both SYNs were on the link at once; each end answered the other's SYN with a
    SYN,ACK (SYN-RECEIVED: a kernel read at that moment says SYN_RECV, but the kernel is
    read ten times a second - under load it may be read only before and after); both
    connect() calls returned connected, with no listener and no accept()."""
    syns = [r for r in records if r["call"] == "packet" and r["flags"] == "SYN"]
    assert [s["from"] for s in syns] == ["client", "peer"], syns
    first, second = syns
    assert second["t"] < first["t"] + first["delay"]  # (sent before the first had crossed)
    synacks = [r for r in records if r["call"] == "packet" and r["flags"] == "SYN,ACK"]
    assert sorted(s["from"] for s in synacks) == ["client", "peer"], synacks
    assert all(s["t"] >= second["t"] for s in synacks)
    for end in ("client", "peer"):
        assert call(records, end, "connect")["kernel"] == "ESTABLISHED"
        states = [r["kernel"] for r in records if r["call"] == "kernel" and r["socket"] == end]
        assert "LISTEN" not in states, (end, states)
    assert not [r for r in records if r["call"] in ("listen", "accept")]


@needs_hosts
@pytest.mark.parametrize("family", FAMILIES)
def test_slow_link(family):
    check_slow_link(trace("--scenario", "slow-link", "--family", family)[0], family)


def check_slow_link(records: list[dict], family: str) -> None:
    windows = [
        r
        for r in records
        if r["call"] == "kernel" and r["socket"] == "client" and r.get("cwnd") is not None
    ]
    assert windows and windows[0]["cwnd"] == 10  # (Linux's initial window)
    assert max(w["cwnd"] for w in windows) > 10  # slow start: it grew
    assert all(w["rtt"] >= 80 for w in windows)  # 40 ms each way, at least
    sums = [r for r in records if r["call"] == "packets"]
    assert sums and sum(s["nbytes"] for s in sums if s["from"] == "client") == 1 << 20


DROPS = {  # kind: (who sends it, its flags, what a kernel sends again first)
    "syn": ("client", "SYN", {"SYN"}),
    # (both kernels wait about a second: the server's SYN-ACK or the client's SYN comes first)
    "syn-ack": ("server", "SYN,ACK", {"SYN,ACK", "SYN"}),
    "ack": ("client", "ACK", {"SYN,ACK"}),  # the server never heard: it sends SYN-ACK again
    "data": ("client", "PSH,ACK", {"PSH,ACK"}),
    "fin": ("client", "FIN,ACK", {"FIN,ACK"}),
}


@needs_hosts
@pytest.mark.parametrize("family", FAMILIES)
def test_each_drop_kind_and_the_kernel_reaction(family):
    runs = traces([("--drop", kind, "--family", family) for kind in DROPS])
    for kind, (records, _err) in zip(DROPS, runs, strict=False):
        check_drop(records, kind)


def check_drop(records: list[dict], kind: str) -> None:
    sender, flags, again = DROPS[kind]
    dropped = [p for p in packets(records) if p["link"] == "dropped"]
    assert len(dropped) == 1 and dropped[0]["flags"] == flags
    assert dropped[0]["from"] == sender
    retried = [
        p
        for p in packets(records)
        if p["retry"] is not None and index(records, p) > index(records, dropped[0])
    ]
    assert retried and retried[0]["flags"] in again
    assert call(records, "server", "close")["error"] is None  # the run went to its end


@needs_hosts
def test_the_same_seed_loses_the_same_segments():
    """The decision for each segment, lost or not, is the seed's for that segment - its
    sender, flags, relative sequence number, length, and how many times it was sent - so
    every segment both runs carried was lost in both or in neither (the kernels need not
    send the very same segments: an ACK delayed or not, one more retransmission on a loaded
    machine; a running count of packets shifted every decision after such a one)."""
    (first, _), (second, _) = traces([("--link", "loss=20%,seed=11")] * 2)

    def decided(records) -> dict:
        times: dict = {}
        out = {}
        for p in packets(records):
            key = (p["from"], p["flags"], p["seq_rel"], p["nbytes"])
            times[key] = times.get(key, 0) + 1
            out[(*key, times[key])] = p["link"]
        return out

    one, two = decided(first), decided(second)
    both = one.keys() & two.keys()
    assert any(one[k] == "lost" for k in both)
    assert {k: one[k] for k in both} == {k: two[k] for k in both}


@needs_hosts
def test_a_delay_makes_the_handshake_a_round_trip():
    records, _ = trace("--link", "delay=30ms")
    syn, syn_ack, ack = packets(records)[:3]
    assert [syn["flags"], syn_ack["flags"], ack["flags"]] == ["SYN", "SYN,ACK", "ACK"]
    assert all(p["link"] == "crossed" and p["delay"] >= 0.03 for p in (syn, syn_ack, ack))
    flow = [r for r in records if r["call"] == "kernel" and r.get("rtt") is not None]
    assert flow and flow[0]["rtt"] >= 60  # (the kernel's own measure: two crossings)


@needs_hosts
@pytest.mark.parametrize("family", FAMILIES)
def test_congestion(family):
    check_congestion(trace("--scenario", "congestion", "--family", family)[0], family)


def check_congestion(records: list[dict], family: str) -> None:
    """Each congestion control this kernel has was chosen for its own client (the call
    succeeded) and moved the whole size; the link's queue of 20 overflowed under each (its
    kernel sent bytes again, as it counted them); each transfer's sum carries the points of
    its graph, reaching its last byte."""
    from sockviz.engine.scenarios.congestion import available

    size = 512 * 1024
    for i, name in enumerate(available(), 1):
        chose = call(records, name, "setsockopt")
        assert chose["error"] is None and "TCP_CONGESTION" in chose["args"], chose
        assert call(records, name, "sendall")["nbytes"] == size
        sums = [r for r in records if r["call"] == "packets" and r["from"] == name]
        data = max(sums, key=lambda r: r["nbytes"])
        assert data["retransmissions"] > 0, (name, data["retransmissions"])
        # (the link's count of what it lost, and the kernel's of what it sent again: each
        # byte reached the server, so every lost segment was sent again at least once)
        assert 0 < data["lost"] <= data["retransmissions"], (name, data)
        ends = [p[1] + p[2] for p in data["points"] or [] if p[2]]
        assert max(ends) == 1 + size, name
        assert call(records, f"conn-{i}", "recv")["nbytes"] == size


@needs_hosts
@pytest.mark.parametrize("family", FAMILIES)
def test_keepalive(family):
    check_keepalive(trace("--scenario", "keepalive", "--family", family)[0], family)


def check_keepalive(records: list[dict], family: str) -> None:
    """The client's kernel, idle, sent keepalives (no byte, one below what the server had
    acknowledged): the first answered; the link broke at its 6th packet, so the next
    TCP_KEEPCNT (3) went unanswered, then its reset - all lost; recv() failed with
    ETIMEDOUT once the kernel's timers ran out (idle 1 s twice, then 3 x 1 s), and the
    server's kernel still said ESTABLISHED (it heard nothing)."""
    probes = [
        r
        for r in records
        if r["call"] == "packet"
        and r["from"] == "client"
        and r["flags"] == "ACK"
        and r["seq_rel"] == 0
        and not r["nbytes"]
    ]
    assert [p["link"] for p in probes] == ["crossed", "dropped", "dropped", "dropped"], probes
    answer = [
        r
        for r in records
        if r["call"] == "packet"
        and r["from"] == "conn-1"
        and r["seq"] > probes[0]["seq"]
        and r["flags"] == "ACK"
    ]
    assert answer and answer[0]["link"] == "crossed" and answer[0]["seq"] < probes[1]["seq"]
    reset = [r for r in records if r["call"] == "packet" and "RST" in (r["flags"] or "")]
    assert len(reset) == 1 and reset[0]["from"] == "client" and reset[0]["link"] == "dropped"
    waited = call(records, "client", "recv")
    assert waited["error"] == "ETIMEDOUT"
    connected = call(records, "client", "connect")
    assert waited["t"] - connected["t"] >= 4.5  # (1 + 1 s idle, then 3 x 1 s unanswered)
    assert all(b["t"] - a["t"] >= 0.9 for a, b in itertools.pairwise(probes))
    server = call(records, "conn-1", "recv")
    assert server["error"] == "EAGAIN" and server["kernel"] == "ESTABLISHED"


@needs_hosts
@pytest.mark.parametrize("family", FAMILIES)
def test_udp_loss(family):
    check_udp_loss(trace("--scenario", "udp-loss", "--family", family)[0], family)


def check_udp_loss(records: list[dict], family: str) -> None:
    """Every send() succeeded; the link lost the second datagram (the seed's choice) and
    the server read the others, in order, then waited in vain; after the server closed,
    the server host's kernel answered the next datagram with an ICMP port unreachable
    from the port the server had, which crossed back, and the client's recv() failed
    with ECONNREFUSED."""
    sends = [r for r in records if r["socket"] == "client" and r["call"] == "send"]
    assert len(sends) == 5 and all(r["error"] is None for r in sends)
    udp = [r for r in records if r["call"] == "packet" and r["proto"] == "UDP"]
    assert [r["link"] for r in udp] == ["crossed", "lost", "crossed", "crossed", "crossed"]
    got = [r for r in records if r["socket"] == "server" and r["call"] == "recvfrom"]
    assert [r["error"] for r in got] == [None, None, None, "EAGAIN"]
    assert [r["data"] for r in got[:3]] == ["datagram 1", "datagram 3", "datagram 4"]
    (icmp,) = [r for r in records if r["call"] == "packet" and r["proto"] == "ICMP"]
    bound = call(records, "server", "bind")["local"]
    assert icmp["flags"] == "port-unreachable" and icmp["from"] == bound, icmp
    assert icmp["to"] == "client" and icmp["link"] == "crossed"
    assert icmp["seq"] > udp[-1]["seq"] and icmp["remote"] == udp[-1]["local"]
    assert call(records, "client", "recv")["error"] == "ECONNREFUSED"


@needs_hosts
@pytest.mark.parametrize("family", FAMILIES)
def test_path_mtu(family):
    check_path_mtu(trace("--scenario", "path-mtu", "--family", family)[0], family)


def check_path_mtu(records: list[dict], family: str) -> None:
    """The first full-size segments were too big for the router's next hop (1280 bytes)
    and not carried; each got an ICMP error from the router naming 1280 (IPv4
    "fragmentation needed", IPv6 "packet too big"); the client's kernel sent those bytes
    again in segments that fit (1280 less the IP and TCP headers and timestamps), and the
    server got all 8 KiB."""
    ip = 20 if family == "ipv4" else 40
    fits = 1280 - ip - 20 - 12
    tcp = [r for r in records if r["call"] == "packet" and r["proto"] == "TCP" and r["nbytes"]]
    big = [r for r in tcp if r["link"] == "too-big"]
    assert big and all(r["nbytes"] > fits for r in big), big
    icmp = [r for r in records if r["call"] == "packet" and r["proto"] == "ICMP"]
    kind, router = (
        ("frag-needed", "10.217.0.254") if family == "ipv4" else ("too-big", "[fd17:217::fe]")
    )
    assert len(icmp) == len(big)
    assert all(r["flags"] == kind and r["options"] == "mtu=1280" for r in icmp), icmp
    assert all(r["from"].startswith(router + ":") and r["to"] == "client" for r in icmp)
    again = [r for r in tcp if r["retry"] is not None]
    assert again and all(r["nbytes"] <= fits and r["link"] == "crossed" for r in again)
    assert max(r["nbytes"] for r in again) == fits
    assert call(records, "conn-1", "recv")["nbytes"] == 8192


LATE_STAMPS = """
import time
from sockviz.engine.lab import link

_note = link.Link._note


def late(self, *args, **kwargs):
    time.sleep(0.003)  # (the link's thread away between reading a packet and stamping it)
    return _note(self, *args, **kwargs)


link.Link._note = late
"""


@needs_hosts
def test_a_packet_the_link_read_late_is_still_its_calls(tmp_path):
    """On a link a frame is stamped when the link's thread has read it; a call's frames
    count up to the moment the link had taken what its kernel queued. A CI run beside a
    burner had that thread away between reading close()'s FIN and stamping it: the FIN
    came out "the kernel's own". Here every stamp comes 3 ms after its read (a
    ``sitecustomize`` on the run's PYTHONPATH); close()'s FIN is still close()'s."""
    (tmp_path / "sitecustomize.py").write_text(LATE_STAMPS)
    done = subprocess.run(
        [sys.executable, "-m", "sockviz", "--trace", "--scenario", "tcp-echo", "--drop", "fin"],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": f"{tmp_path}{os.pathsep}{ROOT}"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    records = [json.loads(line) for line in done.stdout.splitlines()]
    close = call(records, "client", "close")
    fins = packets(records, socket="client", flags="FIN,ACK")
    assert fins and fins[0]["cause"] == close["seq"], (close, fins[:2])
    assert fins[0]["t"] > close["t"]  # (stamped after the return: the stamps were late)
