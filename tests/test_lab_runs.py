"""Two hosts and a link, around the labs themselves: bad link options refused in one line,
the labs as an unprivileged user, stopping mid-run, link lines read back, a teacher's own
exercise, and a second run on the same hosts. Each run is a real ``sockviz --trace`` in a
process of its own, as in :mod:`tests.test_lab`.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from sockviz.engine.record.trace_format import from_record
from sockviz.engine.record.trace_lines import line as trace_line
from sockviz.engine.scenarios import REGISTRY
from tests.helpers import copy_for_nobody
from tests.test_lab import (
    DROPS,
    FAMILIES,
    ROOT,
    check_congestion,
    check_drop,
    check_keepalive,
    check_lost_data,
    check_lost_fin,
    check_lost_syn,
    check_mss,
    check_path_mtu,
    check_simultaneous_close,
    check_simultaneous_open,
    check_slow_link,
    check_udp_loss,
    needs_hosts,
    trace,
    traces,
)


def test_bad_link_options_are_refused_in_one_line():
    for args, words in (
        (["--link", "delay=soon"], "delay should look like delay=50ms"),
        (["--drop", "rst"], "expected one of syn, syn-ack, ack, data, fin"),
        (["--link", "delay=5ms", "--family", "unix"], "no link"),
        (["--link", "delay=5ms", "--listen", "0"], "a real peer"),
        (["--hold", "--trace"], "not --trace"),
        (["--drop", "syn", "--scenario", "backlog-full"], "backlog-full runs on loopback only"),
    ):
        proc = subprocess.run(
            [sys.executable, "-m", "sockviz", *args],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        assert proc.returncode == 2, (args, proc.stderr)
        assert words in proc.stderr and proc.stderr.count("\n") == 1, proc.stderr


LABS = {
    "lost-syn": check_lost_syn,
    "lost-data": check_lost_data,
    "lost-fin": check_lost_fin,
    "slow-link": check_slow_link,
    "simultaneous-close": check_simultaneous_close,
    "simultaneous-open": check_simultaneous_open,
    "mss": check_mss,
    "congestion": check_congestion,
    "keepalive": check_keepalive,
    "udp-loss": check_udp_loss,
    "path-mtu": check_path_mtu,
}


@pytest.mark.skipif(
    os.geteuid() != 0 or not shutil.which("setpriv") or not Path("/usr/bin/python3").exists(),
    reason="needs root to become another user, and the system's python3",
)
@pytest.mark.parametrize("family", FAMILIES)
def test_an_unprivileged_user_gets_the_labs_or_one_line_why(family):
    """As uid 65534, every lab and every --drop kind: on two hosts where /dev/net/tun lets
    that user open it (then checked as root's are), else one line saying why and the same
    calls on loopback (the engine is standard library only, so the system's python3 runs
    a copy of it)."""
    nobody = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
    mode = os.stat("/dev/net/tun").st_mode
    open_to_all = bool(mode & stat.S_IROTH and mode & stat.S_IWOTH)
    with tempfile.TemporaryDirectory(dir="/tmp") as place:
        copy = Path(place)
        copy_for_nobody(copy, ROOT)
        runs = [
            (("--scenario", name), check)
            for name, check in LABS.items()
            if open_to_all or REGISTRY[name].link_only is None  # (else refused: below)
        ]
        runs += [
            (("--drop", kind), lambda records, _family, kind=kind: check_drop(records, kind))
            for kind in DROPS
        ]
        done = traces(
            [(*args, "--family", family) for args, _check in runs],
            cwd=copy,
            python="/usr/bin/python3",
            user=nobody,
        )
        for (args, check), (records, err) in zip(runs, done, strict=False):
            closes = [r for r in records if r["call"] == "close"]
            assert closes and all(r["error"] is None for r in closes), args
            if open_to_all:
                check(records, family)
            else:
                assert err == (
                    "sockviz: note: no two hosts here (/dev/net/tun cannot be "
                    "opened (Permission denied): two hosts need it readable and "
                    "writable); the run goes on loopback, with no link\n"
                ), args


STOP = r"""
import json, os, threading, time
from sockviz.engine.run.gate import Mode
from sockviz.engine.lab.two_hosts import Hosts
from sockviz.engine.lab.link import Link, LinkSpec
from sockviz.engine.run.runner import Runner
from sockviz.engine.scenarios import get
before = sorted(os.listdir("/proc/self/fd"))
hosts = Hosts()
seen = []
link = Link(hosts, LinkSpec.parse("delay=20ms", ("syn",)))
runner = Runner(get("lost-syn"), seen.append, mode=Mode.FAST, capture=link)
runner.start()
deadline = time.monotonic() + 5
while not any(getattr(e, "link", None) == "dropped" for e in seen):
    assert time.monotonic() < deadline
    time.sleep(0.01)
started = time.monotonic()
stopped = runner.stop(0.5)
took = time.monotonic() - started
hosts.close()
print(json.dumps({"stopped": stopped, "took": took, "threads": threading.active_count(),
                  "fds_left": sorted(os.listdir("/proc/self/fd")) != before,
                  "outcome": runner.result.outcome}))
"""


@needs_hosts
def test_stopping_mid_run_leaves_no_thread_descriptor_or_device():
    """Stopped while connect() waits out the lost SYN: every thread ends (the link's too),
    and once the hosts are let go no descriptor is left - the namespaces and their devices
    end with the last of them."""
    proc = subprocess.run(
        [sys.executable, "-c", STOP],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    got = json.loads(proc.stdout.splitlines()[-1])
    assert got["stopped"] and got["took"] < 1.0 and got["outcome"] == "stopped"
    assert got["threads"] == 1 and not got["fds_left"]


def test_link_lines_read_back_and_bad_ones_are_refused():
    """The trace's link keys, link lines and TCP_INFO keys: written as the general encoder
    would, read back as the same events; a recording's bad ones named in one line."""
    from sockviz.engine.events import KernelEvent, LinkEvent, Segment
    from sockviz.engine.record.trace_format import TraceFormatError, read_trace, to_record
    from sockviz.engine.states import Role, State

    segment = Segment(
        seq=7,
        t=0.5,
        proto="TCP",
        flags="SYN",
        source="client",
        target="server",
        seq_rel=0,
        ack_rel=None,
        window=64240,
        nbytes=0,
        options="mss=1460",
        cause=None,
        family="AF_INET",
        local="10.217.0.2:40000",
        remote="10.217.0.1:5000",
        link="held",
    )
    released = LinkEvent(
        seq=8,
        t=0.9,
        what="released",
        segment=7,
        source="client",
        target="server",
        flags="SYN",
        family="AF_INET",
        local="10.217.0.2:40000",
        remote="10.217.0.1:5000",
        delay=0.05,
    )
    flow = KernelEvent(
        seq=9,
        t=1.0,
        socket="client",
        role=Role.CLIENT,
        state=State.CONNECTED,
        family="AF_INET",
        type="SOCK_STREAM",
        local="10.217.0.2:40000",
        remote="10.217.0.1:5000",
        sent_total=0,
        recv_total=0,
        kernel="ESTABLISHED",
        previous="ESTABLISHED",
        rtt=100.4,
        cwnd=10,
        retrans=1,
    )
    for event in (segment, released, flow):
        text = trace_line(event)
        assert text == json.dumps(to_record(event))
        assert from_record(json.loads(text)) == event
    good = [json.loads(trace_line(e)) for e in (segment, released)]
    for key, value, words in (
        ("link", "teleported", "crossed, dropped, lost, overflow or held"),
        ("what", "vanished", "released"),
        ("segment", -1, "segment"),
    ):
        record = good[0 if key == "link" else 1] | {key: value}
        lines = [json.dumps(good[0]), json.dumps(record)] if key != "link" else [json.dumps(record)]
        with pytest.raises(TraceFormatError, match=words) as caught:
            read_trace(lines)
        assert "\n" not in str(caught.value)


EXERCISE = """
[scenario]
name = "my-lost-syn"
summary = "the lost SYN, as an exercise"

[link]
delay = "10ms"
drop = ["syn"]

[[socket]]
name = "server"
role = "listener"

[[socket]]
name = "client"
role = "client"

[[step]]
socket = "server"
call = "socket"

[[step]]
socket = "server"
call = "bind"

[[step]]
socket = "server"
call = "listen"

[[step]]
socket = "client"
call = "socket"

[[step]]
socket = "client"
call = "connect"
expect = { state = "connected", min_seconds = SECONDS, retries = 1 }

[[step]]
socket = "client"
call = "close"

[[step]]
socket = "server"
call = "close"
"""


@needs_hosts
def test_a_teacher_writes_the_lost_syn_as_an_exercise(tmp_path):
    """A scenario file with a [link] and what the lost SYN costs as expectations: met, and
    said so; a wrong one is said as unmet (exit 1); a bad value refused with its line."""
    lesson = tmp_path / "lesson.toml"
    lesson.write_text(EXERCISE.replace("SECONDS", "0.9"))
    _records, err = trace("--scenario", str(lesson))
    assert err == "sockviz: the expectation of " + str(lesson) + " met\n"
    lesson.write_text(EXERCISE.replace("SECONDS", "5"))
    proc = subprocess.run(
        [sys.executable, "-m", "sockviz", "--trace", "--scenario", str(lesson)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 1
    assert (
        "expected state connected, at least 5 s, at least 1 sent again, got state connected, 1."
        in proc.stderr
    )
    lesson.write_text(EXERCISE.replace("SECONDS", '"soon"'))
    proc = subprocess.run(
        [sys.executable, "-m", "sockviz", "--trace", "--scenario", str(lesson)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 2 and "line 37: min_seconds = 'soon'" in proc.stderr


AGAIN = r"""
import json, time
from sockviz.engine.run.gate import Mode
from sockviz.engine.lab.two_hosts import Hosts
from sockviz.engine.lab.link import Link, LinkSpec
from sockviz.engine.run.runner import Runner
from sockviz.engine.scenarios import get
hosts = Hosts()
runs = []
for run in range(2):  # (as the TUI's r does: a new run on the same two hosts)
    seen = []
    link = Link(hosts, LinkSpec.parse("delay=5ms", ("fin",)), hold=True)
    runner = Runner(get("tcp-echo"), seen.append, mode=Mode.STEP, capture=link)
    runner.start()
    for _ in range(9):  # five calls, connect(), and its SYN, SYN-ACK and ACK let cross
        deadline = time.monotonic() + 5
        while not (runner.gate.waiting or link.waiting()) and time.monotonic() < deadline:
            time.sleep(0.01)
        runner.step()
        time.sleep(0.05)
    time.sleep(0.2)
    runs.append([[e.flags, e.link] for e in seen if type(e).__name__ == "Segment"]
                + [[e.call.value] for e in seen if type(e).__name__ == "CallEvent"][-1:])
    runner.stop()
print(json.dumps(runs))
"""


@needs_hosts
def test_a_second_run_on_the_same_hosts_is_not_held_up_by_the_first():
    """The TUI's r starts a run on the hosts it has: what the first run's closing left on
    the devices is let through, neither held nor counted for a --drop."""
    proc = subprocess.run(
        [sys.executable, "-c", AGAIN],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    first, second = json.loads(proc.stdout.splitlines()[-1])
    assert first == second
    assert first[:3] == [["SYN", "held"], ["SYN,ACK", "held"], ["ACK", "held"]]
    assert first[-1] == ["connect"]


#: A command run with /dev/net/tun hidden: a mount namespace of its own, a tmpfs over /dev/net.
HIDE_TUN = ["unshare", "-m", "sh", "-c", 'mount -t tmpfs none /dev/net && exec "$@"', "sh"]


@pytest.mark.skipif(
    os.geteuid() != 0 or not shutil.which("unshare"), reason="needs root to hide /dev/net/tun"
)
def test_a_lab_that_needs_two_hosts_is_refused_where_there_are_none():
    """With /dev/net/tun hidden (a mount namespace of its own), a lab whose lesson needs two
    hosts is refused in one line, exit 2; another lab says so and runs on loopback."""
    outcomes = {}
    for name in ("simultaneous-open", "lost-syn"):
        proc = subprocess.run(
            [*HIDE_TUN, sys.executable, "-m", "sockviz", "--trace", "--scenario", name],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        outcomes[name] = proc.returncode, proc.stderr
    code, err = outcomes["simultaneous-open"]
    assert code == 2 and err.count("\n") == 1, err
    assert "simultaneous-open needs two hosts and a link" in err and "/dev/net/tun" in err
    code, err = outcomes["lost-syn"]
    assert code == 0 and "the run goes on loopback, with no link" in err, err
