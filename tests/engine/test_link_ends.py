"""A link's numbers are finite, a link ends with its run (issue 24, item 3), and its seeded
loss is decided per segment (item 12).

``--link delay=nanms`` passed every range check (NaN compares false), and the link thread
then polled with no wait at all, forever; and a link thread outlived a run that had ended
(done or aborted) until the next ``r`` or quit. Real runs on two hosts, each in a process of
its own (a user namespace is entered by a process with one thread).
"""

from __future__ import annotations

import json
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from sockviz.engine.lab.link import Link, LinkSpec
from tests.engine.test_link import needs_hosts

ROOT = Path(__file__).resolve().parents[2]

NOT_FINITE = (
    "delay=nanms",
    "rate=nanmbit",
    "jitter=nanms",
    "delay=infms",
    "delay=-infms",
    "delay=1e999ms",
    "rate=infkbit",
    "loss=nan%",
    "jitter=NaNs",
)


def sockviz(*args: str, cwd=ROOT) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "sockviz", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def test_a_number_that_is_not_finite_is_refused_in_one_line():
    for text in NOT_FINITE:
        with pytest.raises(ValueError, match="should look like"):
            LinkSpec.parse(text)
    for text in NOT_FINITE[:3]:  # (the command line: exit 2, one line, no run)
        proc = sockviz("--link", text, "--trace")
        assert proc.returncode == 2 and proc.stdout == "", text
        assert proc.stderr.count("\n") == 1 and "should look like" in proc.stderr, text


def test_a_scenario_files_link_that_is_not_finite_is_refused_in_one_line(tmp_path):
    lab = (ROOT / "sockviz/engine/scenarios/lost-data.toml").read_text()
    for key, value in (("delay", "nanms"), ("delay", "infms")):
        path = tmp_path / f"{key}-{value}.toml"
        path.write_text(lab.replace('delay = "20ms"', f'{key} = "{value}"'))
        proc = sockviz("--scenario", str(path), "--trace")
        assert proc.returncode == 2 and proc.stdout == "", value
        assert proc.stderr.count("\n") == 1 and f"{key} should look like" in proc.stderr


ENDS = r'''
import json, threading, time
from sockviz.engine.run.gate import Mode
from sockviz.engine.lab.two_hosts import Hosts
from sockviz.engine.lab.link import Link, LinkSpec
from sockviz.engine.run.runner import Runner
from sockviz.engine.scenarios import get
from sockviz.engine.scenarios.scenario_files import loads

WAITS = """
[scenario]
name = "waits"
summary = "the client waits for bytes that never come"
families = ["ipv4"]

[link]
delay = "1ms"

[[socket]]
name = "server"
role = "listener"

[[socket]]
name = "client"
role = "client"

[[socket]]
name = "conn-1"
role = "connection"

[[step]]
socket = "server"
call = "socket"
explain = "a listener"

[[step]]
socket = "server"
call = "bind"
explain = "its address"

[[step]]
socket = "server"
call = "listen"
explain = "listening"

[[step]]
socket = "client"
call = "socket"
explain = "a client"

[[step]]
socket = "client"
call = "connect"
explain = "connects"

[[step]]
socket = "server"
call = "accept"
new = "conn-1"
explain = "accepted"

[[step]]
socket = "client"
call = "recv"
size = 10
timeout = 0.3
explain = "nothing comes"
"""
out = {}
hosts = Hosts()
for name, scenario in (("done", get("tcp-echo")), ("aborted", loads(WAITS))):
    seen = []
    link = Link(hosts, LinkSpec.parse("delay=1ms"))
    runner = Runner(scenario, seen.append, mode=Mode.FAST, capture=link)
    runner.start()
    deadline = time.monotonic() + 20
    while runner.result is None or not runner.finished:
        assert time.monotonic() < deadline, "the run never ended"
        time.sleep(0.02)
    time.sleep(0.1)
    cpu = time.process_time()
    time.sleep(0.5)
    out[name] = {"outcome": runner.result.outcome,
                 "link_threads": [t.name for t in threading.enumerate()
                                  if t.name == "sockviz-link"],
                 "cpu": time.process_time() - cpu}
    runner.stop(0.5)
hosts.close()
print(json.dumps(out))
'''


@needs_hosts
def test_the_link_thread_ends_with_its_run_done_or_aborted():
    """After a run that went to its end and after one that failed (a recv() that timed
    out), with the runner not stopped yet (the TUI keeps it until r or q): no link thread
    is left, and the process uses no CPU while it waits."""
    proc = subprocess.run(
        [sys.executable, "-c", ENDS],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    got = json.loads(proc.stdout.splitlines()[-1])
    assert got["done"]["outcome"] == "done" and got["aborted"]["outcome"] == "aborted"
    for end in ("done", "aborted"):
        assert got[end]["link_threads"] == [], end
        assert got[end]["cpu"] < 0.25, end  # (half a second of waiting, not of spinning)


# --- seeded loss: decided per segment (issue 24, item 12) ----------------------------
def tcp(side: str, seq: int, flags: int, payload: bytes = b"", isn: int = 0) -> bytes:
    """An IPv4 TCP segment as a TUN device hands it over (checksums left at 0: the link
    does not read them)."""
    client, server = bytes([10, 217, 0, 2]), bytes([10, 217, 0, 1])
    src, dst, ports = (
        (client, server, (40000, 5000)) if side == "client" else (server, client, (5000, 40000))
    )
    header = struct.pack("!HHIIBBHHH", *ports, (isn + seq) % 2**32, 0, 5 << 4, flags, 65535, 0, 0)
    ip = struct.pack(
        "!BBHHHBBH4s4s", 0x45, 0, 20 + len(header) + len(payload), 0, 0, 64, 6, 0, src, dst
    )
    return ip + header + payload


def decisions(packets: list[tuple[str, bytes]]) -> list[str]:
    """What a real :class:`Link` (its thread not started) does with each packet, in order."""
    link = Link(None, LinkSpec.parse("loss=30%,seed=11"))
    for side, packet in packets:
        link._carry(side, packet, 0.0)
    return [what for _t, _side, _kind, what in link.log]


def test_an_extra_retransmission_does_not_shift_later_loss_decisions():
    """The same seed, the same segments - one run with the kernel sending the first data
    segment once more (as a loaded machine's kernel may) and other initial sequence numbers:
    every segment both runs carried gets the same decision; a decision drawn from a running
    count of packets shifted every one after the extra one."""

    def run(extra: bool, isn: int) -> dict:
        SYN, ACK, PSH = 0x02, 0x10, 0x18
        packets = [
            ("client", tcp("client", 0, SYN, isn=isn)),
            ("server", tcp("server", 0, SYN | ACK, isn=isn * 7)),
            ("client", tcp("client", 1, ACK, isn=isn)),
        ]
        data = [("client", tcp("client", 1 + 100 * n, PSH, bytes(100), isn=isn)) for n in range(40)]
        acks = [("server", tcp("server", 1, ACK, isn=isn * 7)) for _ in range(40)]
        packets += [p for pair in zip(data, acks, strict=True) for p in pair]
        if extra:
            packets.insert(4, data[0])
        seen: dict = {}
        out = {}
        for (side, packet), what in zip(packets, decisions(packets), strict=False):
            start = isn if side == "client" else isn * 7
            key = (
                side,
                packet[33],
                len(packet),
                (struct.unpack_from("!I", packet, 24)[0] - start) % 2**32,
            )
            seen[key] = seen.get(key, 0) + 1
            out[(*key, seen[key])] = what
        return out

    first, second = run(False, 1000), run(True, 3_000_000_000)
    both = first.keys() & second.keys()
    assert len(both) == len(first) and "lost" in first.values()
    assert {k: first[k] for k in both} == {k: second[k] for k in both}


def test_a_link_spec_made_without_parse_is_finite_too():
    for key in ("delay", "jitter", "loss", "rate"):
        with pytest.raises(ValueError, match="finite numbers"):
            LinkSpec(**{key: float("nan")})
