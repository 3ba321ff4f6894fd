"""The wire: the real segments of each scenario, captured as they crossed - in a private
network of the run's own (any user), and on this machine's loopback (as root) - the same
every run, and the same as tcpdump sees.

Each run is a real ``sockviz --trace`` process (a private network can only be entered by a
process with one thread: the command line's own way in).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from sockviz.engine.record.trace_format import TraceFormatError, read_trace
from tests.conftest import IPV6
from tests.helpers import on_loopback

ROOT = Path(__file__).resolve().parents[2]
IS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0


def trace(*args: str, python: str = sys.executable, cwd=None) -> tuple[list[dict], str]:
    proc = subprocess.run(
        [python, "-m", "sockviz", "--trace", *args],
        check=False,
        capture_output=True,
        text=True,
        timeout=90,
        cwd=cwd,
    )
    assert proc.returncode == 0, proc.stderr
    return [json.loads(line) for line in proc.stdout.splitlines()], proc.stderr


def wire(lines: list[dict]) -> list[tuple]:
    """What must be the same every run: who to whom, flags, relative numbers, bytes (an
    address - no socket of the run's - as ``ADDR``: its port is the run's)."""
    return [
        (
            *("ADDR" if ":" in r[key] else r[key] for key in ("from", "to")),
            r["flags"] or r["proto"],
            r["seq_rel"],
            r["ack_rel"],
            r["nbytes"],
        )
        for r in lines
        if r["call"] == "packet"
    ]


def private_supported() -> bool:
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            ("from sockviz.engine.lab.namespaces import enter_private; enter_private()"),
        ],
        check=False,
        capture_output=True,
    )
    return proc.returncode == 0


needs_private = pytest.mark.skipif(not private_supported(), reason="no user namespaces here")
FAMILIES = ["ipv4", pytest.param("ipv6", marks=pytest.mark.skipif(not IPV6, reason="no ::1"))]

MODES = [
    pytest.param("private", marks=needs_private),
    pytest.param("host", marks=pytest.mark.skipif(not IS_ROOT, reason="needs root")),
]

HANDSHAKE = [
    ("client", "server", "SYN", 0, None, 0),
    ("server", "client", "SYN,ACK", 0, 1, 0),
    ("client", "server", "ACK", 1, 1, 0),
]


def both_modes(*args: str) -> list[list[dict]]:
    """The run's trace in a private network, and on this machine's loopback (as root; else
    a second private run)."""
    if not private_supported():
        pytest.skip("no user namespaces here")
    return [
        trace("--wire", mode, *args)[0] for mode in ("private", "host" if IS_ROOT else "private")
    ]


@pytest.mark.parametrize("family", FAMILIES)
def test_tcp_echo_handshake_data_and_both_fins(family):
    for lines in both_modes("--family", family):
        segments = wire(lines)
        assert segments == [
            *HANDSHAKE,
            ("client", "conn-1", "PSH,ACK", 1, 1, 14),
            ("conn-1", "client", "ACK", 1, 15, 0),
            ("conn-1", "client", "PSH,ACK", 1, 15, 14),
            ("client", "conn-1", "ACK", 15, 15, 0),
            ("client", "conn-1", "FIN,ACK", 15, 15, 0),
            ("conn-1", "client", "ACK", 15, 16, 0),
            ("conn-1", "client", "FIN,ACK", 15, 16, 0),
            ("client", "conn-1", "ACK", 16, 16, 0),
        ]
        by_seq = {r["seq"]: r for r in lines}
        connect = next(r for r in lines if r["call"] == "connect")
        causes = {
            r["cause"] for r in lines if r["call"] == "packet" and r["flags"] in ("SYN", "SYN,ACK")
        }
        assert causes == {connect["seq"]}  # the handshake is under the connect() that made it
        accept = next(r for r in lines if r["call"] == "accept")
        assert not any(r.get("cause") == accept["seq"] for r in lines)  # accept sends nothing
        syn = next(r for r in lines if r.get("flags") == "SYN")
        assert "mss=" in syn["options"] and "wscale=" in syn["options"]
        assert by_seq[syn["seq"]]["socket"] == "client"


LESSONS = {
    "refused": [
        ("client", "ADDR", "SYN", 0, None, 0),
        ("ADDR", "client", "RST,ACK", 1, 1, 0),
    ],  # (the kernel: none listens)
    "reset": [("conn-1", "client", "RST,ACK", 1, 15, 0)],
    "half-close": [
        ("client", "conn-1", "FIN,ACK", 18, 1, 0),
        ("conn-1", "client", "PSH,ACK", 1, 19, 9),
        ("conn-1", "client", "FIN,ACK", 10, 19, 0),
    ],
    "backlog-full": [
        ("client-3", "server", "SYN", 0, None, 0),
        ("client-3", "server", "SYN", 0, None, 0),
    ],
    "message-boundaries": [
        ("client", "conn-1", "PSH,ACK", 1, 1, 4),
        ("client", "conn-1", "PSH,ACK", 5, 1, 4),
        ("client", "conn-1", "PSH,ACK", 9, 1, 6),
        ("udp-client", "udp-server", "UDP", None, None, 4),
        ("udp-client", "udp-server", "UDP", None, None, 4),
        ("udp-client", "udp-server", "UDP", None, None, 6),
    ],
    "udp-echo": [
        ("client", "server", "UDP", None, None, 14),
        ("server", "client", "UDP", None, None, 14),
    ],
}


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("scenario", sorted(LESSONS))
def test_each_lesson_is_on_the_wire_the_same_in_every_mode(scenario, family):
    """The segments each scenario's lesson is about, in order (other segments between), on
    IPv4 and IPv6, watched in a private network and on this machine's loopback - and who
    sent what to whom, flags, relative numbers and bytes the same in both."""
    first, again = (wire(lines) for lines in both_modes("--scenario", scenario, "--family", family))
    assert first == again
    segments = iter(first)
    for wanted in LESSONS[scenario]:
        assert any(segment == wanted for segment in segments), (scenario, wanted)


@pytest.mark.parametrize("scenario", sorted(set(on_loopback()) - set(LESSONS) - {"tcp-echo"}))
def test_the_same_segments_every_run_in_every_mode(scenario):
    """The other scenarios: the same segments in a private network and on this machine's
    loopback (as root; else in two private runs)."""
    args = ("--scenario", scenario, *(["--size", "1M"] if scenario == "bulk" else []))
    runs = both_modes(*args)
    if scenario == "tls":  # (see bare_ack)
        runs = [[line for line in run if line.get("retry") is None] for run in runs]
    first, again = (wire(lines) for lines in runs)
    if scenario == "tls":
        first, again = ([s for s in run if not bare_ack(s)] for run in (first, again))
    assert first == again and first


def bare_ack(segment: tuple) -> bool:
    """A bare ACK: after a TLS handshake each end has answered data with data at once, so
    its kernel holds ACKs back (a delayed ACK) - one goes alone if the next call is later
    than the delayed-ACK timeout (40 ms at least), else it rides on the next segment. On a
    loaded machine a step took longer once (1 burner run in 5: an extra ACK of the client's
    Finished). For the same reason a segment can be sent again: with one segment in flight
    and its ACK held back, the sender's loss probe (~200 ms) fired once under load and sent
    the client's 36-byte record twice (a line with ``retry``, left out with the bare ACKs).
    Every first sending of bytes, a SYN or a FIN must still be the same."""
    return segment[2] == "ACK" and segment[5] == 0


@pytest.mark.skipif(
    not IS_ROOT
    or not shutil.which("setpriv")
    or not private_supported()
    or not os.path.exists("/usr/bin/python3"),
    reason="needs root to become another user, setpriv and user namespaces",
)
def test_an_unprivileged_user_sees_the_same_segments():
    """As uid 65534 (nobody), --wire auto cannot watch the host's loopback, so it watches a
    private network of its own: the same segments."""
    with tempfile.TemporaryDirectory(dir="/tmp") as place:  # (a place nobody can read)
        copy = Path(place)
        shutil.copytree(
            ROOT / "sockviz", copy / "sockviz", ignore=shutil.ignore_patterns("__pycache__")
        )
        for path in [copy, *copy.rglob("*")]:
            os.chmod(path, 0o755 if path.is_dir() else 0o644)
        proc = subprocess.run(
            [
                "setpriv",
                "--reuid=65534",
                "--regid=65534",
                "--clear-groups",
                "/usr/bin/python3",
                "-B",
                "-m",
                "sockviz",
                "--trace",
            ],
            cwd=copy,
            check=False,
            capture_output=True,
            text=True,
            timeout=90,
        )
    assert proc.returncode == 0, proc.stderr
    lines = [json.loads(line) for line in proc.stdout.splitlines()]
    assert wire(lines) == wire(trace("--wire", "private")[0])
    assert proc.stderr == ""  # (auto found its way without a word)


def test_off_watches_nothing_and_a_replay_keeps_the_recorded_wire(tmp_path):
    lines, _ = trace("--wire", "off")
    assert not wire(lines)
    if not private_supported():
        return
    recorded = tmp_path / "r.jsonl"
    live, _ = trace("--wire", "private", "--record", str(recorded))
    replayed, _ = trace("--replay", str(recorded))
    assert replayed == live and wire(replayed)


def test_wire_options_misused_are_one_line(tmp_path):
    (tmp_path / "there.pcap").write_bytes(b"")
    for args, words in (
        (["--serve", "--pcap", "x.pcap"], "--serve starts many"),
        (["--listen", "0", "--pcap", "x.pcap"], "use tcpdump"),
        (["--trace", "--pcap", "x", "--wire", "off"], "needs the wire"),
        (["--trace", "--pcap", "x", "--family", "unix"], "have no wire"),
        (["--trace", "--pcap", "there.pcap"], "exists already"),
        (["--trace", "--listen", "0", "--wire", "private"], "private cannot"),
    ):
        proc = subprocess.run(
            [sys.executable, "-m", "sockviz", *args],
            check=False,
            capture_output=True,
            text=True,
            timeout=30,
            cwd=tmp_path,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        assert proc.returncode == 2 and words in proc.stderr, (args, proc.stderr)
        assert len(proc.stderr.splitlines()) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["there.pcap"]  # nothing written


@pytest.mark.parametrize("mode", MODES)
def test_a_bulk_transfer_is_summed_not_drawn_one_by_one(mode):
    """Its tens of thousands of segments are counted by the kernel at both ends (the
    capture would slow the transfer by a tenth): one line each way."""
    lines, _ = trace("--wire", mode, "--scenario", "bulk", "--size", "16M")
    sums = [r for r in lines if r["call"] == "packets"]
    calls = {r["seq"]: r for r in lines if r["call"] in ("sendall", "recv")}
    data, acks = sums
    # (counted, not read: the frames' flags and sizes were seen by nobody, and say so)
    assert (data["from"], data["to"], data["flags"], data["largest"]) == (
        "client",
        "conn-1",
        None,
        None,
    )
    # every byte, once - and any more are the kernel's sending again (a tail-loss probe on
    # a loaded loopback: a clean-clone run had 17,435,226 B), counted as such
    assert data["nbytes"] >= 16 << 20
    assert (data["nbytes"] > 16 << 20) == (data["retransmissions"] > 0)
    assert data["count"] >= (16 << 20) // 65535
    assert calls[data["cause"]]["call"] == "sendall"
    assert (acks["from"], acks["to"], acks["nbytes"], acks["largest"]) == ("conn-1", "client", 0, 0)
    assert acks["count"] > 0 and calls[acks["cause"]]["call"] == "recv"
    singles = [r for r in lines if r["call"] == "packet"]
    assert len(singles) < 20  # the handshake and the teardown, one by one


def test_packet_lines_from_a_file_are_checked_like_every_other(tmp_path):
    good = (
        '{"seq": 1, "t": 0.1, "socket": "client", "role": "client", "call": "socket", '
        '"state": "created", "family": "AF_INET", "type": "SOCK_STREAM", "local": null, '
        '"remote": null, "sent_total": 0, "recv_total": 0, "nbytes": null, '
        '"error": null, "kernel": null}'
    )
    packet = {
        "seq": 2,
        "t": 0.2,
        "socket": "client",
        "role": None,
        "call": "packet",
        "state": None,
        "family": "AF_INET",
        "type": "SOCK_STREAM",
        "local": "127.0.0.1:5000",
        "remote": "127.0.0.1:6000",
        "sent_total": None,
        "recv_total": None,
        "nbytes": 0,
        "error": None,
        "kernel": None,
        "proto": "TCP",
        "flags": "SYN",
        "from": "client",
        "to": "server",
        "seq_rel": 0,
        "ack_rel": None,
        "window": 65495,
        "options": "mss=65495",
        "cause": 1,
    }
    assert len(read_trace([good, json.dumps(packet)])) == 2
    for change, words in (
        ({"flags": "SYN,\x1b[2J"}, "flags"),
        ({"cause": 9}, "cause = 9"),
        ({"from": "x\x07"}, "from"),
        ({"options": "a" * 200}, "options"),
        ({"proto": "SCTP"}, "proto"),
        ({"seq_rel": -1}, "seq_rel"),
        ({"local": "::1:80"}, "local"),
        ({"args": "x"}, "args"),
    ):
        with pytest.raises(TraceFormatError, match=r"line 2") as caught:
            read_trace([good, json.dumps({**packet, **change})])
        assert words in str(caught.value)
    summed = {
        **packet,
        "call": "packets",
        "count": 3,
        "largest": 10,
        "retransmissions": 0,
        "nbytes": 30,
    }
    assert read_trace([good, json.dumps(summed)])[1].summed
    with pytest.raises(TraceFormatError, match="count"):
        read_trace([good, json.dumps({**summed, "count": "3"})])


def without_user_namespaces(*args: str) -> subprocess.CompletedProcess:
    """``sockviz ARGS`` in a user namespace of its own whose limit of user namespaces is 0
    (as where an administrator turned them off), without CAP_NET_RAW on this machine's
    network."""
    if not shutil.which("unshare"):
        pytest.skip("needs unshare(1)")
    script = 'echo 0 > /proc/sys/user/max_user_namespaces && exec "$0" -m sockviz "$@"'
    proc = subprocess.run(
        ["unshare", "--user", "--map-root-user", "sh", "-c", script, sys.executable, *args],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    if proc.returncode not in (0, 2) or "sockviz" not in proc.stderr + proc.stdout:
        pytest.skip(f"cannot make such a namespace here: {proc.stderr.strip()[:100]}")
    return proc


def test_auto_says_why_where_user_namespaces_are_off():
    """auto can watch nothing there: it says why in one line and the run completes, every
    call made."""
    proc = without_user_namespaces("--trace")
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.startswith("sockviz: note: the wire is not watched (")
    assert "user namespaces" in proc.stderr and len(proc.stderr.splitlines()) == 1
    lines = [json.loads(line) for line in proc.stdout.splitlines()]
    assert not wire(lines) and sum(r["call"] == "close" for r in lines) == 3


@pytest.mark.parametrize(
    "args",
    [
        ("--wire", "private"),
        ("--wire", "host"),
        ("--wire", "private", "--trace"),
        ("--wire", "host", "--trace"),
    ],
)
def test_a_wire_asked_for_by_name_that_cannot_be_had_is_one_line(args):
    """In the TUI too, before anything starts (the engine process would only find out
    later)."""
    proc = without_user_namespaces(*args)
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.startswith(f"sockviz: error: --wire {args[1]}: ")
    assert len(proc.stderr.splitlines()) == 1


def test_an_outside_peer_without_the_privilege_goes_on_without_the_wire():
    """A real peer lives in this machine's network: only its loopback will do, which needs
    CAP_NET_RAW there. Without it: one note, and the run as before."""
    with socket.create_server(("127.0.0.1", 0)) as server:
        port = server.getsockname()[1]
        proc = without_user_namespaces(
            "--connect", f"127.0.0.1:{port}", "--send", "hi", "--trace", "--timeout", "0.5"
        )
        peer, _ = server.accept()
        assert peer.recv(10) == b"hi"
        peer.close()
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.startswith("sockviz: note: the wire is not watched: ")
    assert "CAP_NET_RAW" in proc.stderr and len(proc.stderr.splitlines()) == 1
    lines = [json.loads(line) for line in proc.stdout.splitlines()]
    assert [r["call"] for r in lines][:3] == ["socket", "connect", "sendall"]
    assert not wire(lines)
