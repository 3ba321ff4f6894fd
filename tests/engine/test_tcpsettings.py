"""The kernel's TCP settings a run reads at its start (issue 23, findings 13 and 15): read in
the run's own network, carried as a ``"call": "tcp"`` line that a recording keeps, refused
when malformed, and the words made from them held to what this kernel really does - a real
SYN retried five times on a link, timed by the kernel, against the schedule the words state.
"""

from __future__ import annotations

import json
import re
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from sockviz.engine.events import LinkStatus, TcpSettings
from sockviz.engine.kernel import tcp_settings as tcpsettings
from sockviz.engine.record.recordings import RecordingError, read_recording
from sockviz.engine.record.trace_format import from_record, read_trace, to_record
from sockviz.engine.record.trace_lines import line
from sockviz.engine.scenarios import get
from sockviz.view import linkview
from sockviz.view.fold import apply
from sockviz.view.run_view import RunView

ROOT = Path(__file__).resolve().parents[2]


def sockviz_trace(*args: str) -> tuple[list[dict], str]:
    proc = subprocess.run(
        [sys.executable, "-m", "sockviz", "--trace", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    return [json.loads(text) for text in proc.stdout.splitlines()], proc.stderr


def test_the_settings_read_are_the_kernels_as_sysctl_says_them():
    read = dict(tcpsettings.read()[0].values)
    for name in tcpsettings.NAMES:
        proc = subprocess.run(
            ["sysctl", "-n", f"net.ipv4.{name}"], capture_output=True, text=True, timeout=10
        )
        expected = " ".join(proc.stdout.split()) if proc.returncode == 0 else None
        assert read[name] == expected, name


def test_the_congestion_control_named_is_the_one_a_real_socket_gets():
    """Finding 15: the name the words use is what getsockopt(TCP_CONGESTION) says of a real
    socket made in this network."""
    with socket.socket() as s:
        real = s.getsockopt(socket.IPPROTO_TCP, socket.TCP_CONGESTION, 16)
    assert (
        dict(tcpsettings.read()[0].values)["tcp_congestion_control"] == real.rstrip(b"\0").decode()
    )


def test_a_trace_starts_with_the_settings_line_and_it_reads_back():
    records, _err = sockviz_trace("--scenario", "udp-echo")
    first = records[0]
    assert (first["call"], first["seq"], first["host"]) == ("tcp", 0, None)
    assert records[1]["seq"] == 1  # (the run's own numbering is unchanged)
    event = from_record(first)
    assert isinstance(event, TcpSettings)
    assert line(event) == json.dumps(first) == json.dumps(to_record(event))
    assert dict(event.values) == dict(tcpsettings.read()[0].values)


def recording(tmp_path, lines: list[str]) -> str:
    path = tmp_path / "run.jsonl"
    head = json.dumps(
        {
            "sockviz-recording": 1,
            "scenario": "udp-echo",
            "family": "ipv4",
            "closer": None,
            "size": None,
        }
    )
    path.write_text("\n".join([head, *lines]) + "\n")
    return str(path)


def test_a_recording_keeps_the_settings_and_an_old_one_without_them_says_unknown(tmp_path):
    records, _err = sockviz_trace("--scenario", "udp-echo")
    lines = [json.dumps(r) for r in records]
    kept = read_recording(recording(tmp_path, lines))
    assert isinstance(kept.events[0], TcpSettings)
    old = read_recording(recording(tmp_path, lines[1:]))  # (before the line was written)
    view = RunView(get("udp-echo"))
    for n, event in enumerate(old.events):
        apply(view, event, float(n))
    assert view.tcp == {}
    assert "Not known" in tcpsettings.lines(view.tcp)[0]
    assert "not known" in tcpsettings.syn_words(None)


@pytest.mark.parametrize(
    ("change", "why"),
    [
        ({"seq": 3}, "seq = 3"),
        ({"settings": {"tcp_syn_retries": "6; rm -rf"}}, "settings.tcp_syn_retries"),
        ({"settings": {"Bad Name": "1"}}, "settings = 'Bad Name'"),
        ({"settings": "bbr"}, "settings = 'bbr'"),
        ({"host": "router"}, "host = 'router'"),
        ({"socket": "client"}, "null on a tcp line"),
    ],
)
def test_a_bad_settings_line_is_refused_with_its_line_number(tmp_path, change, why):
    good = line(TcpSettings(None, (("tcp_syn_retries", "6"),)))
    bad = json.dumps({**json.loads(good), **change})
    with pytest.raises(RecordingError) as caught:
        read_recording(recording(tmp_path, [bad]))
    assert caught.value.line == 2 and why in caught.value.reason


def test_the_syn_schedule_and_words_are_what_this_kernel_does_on_a_link():
    """Finding 13: five SYNs lost on a link; the kernel's own retry times (the packet lines'
    ``retry``) are the schedule the words state from the run's settings - 1 s apart for
    tcp_syn_linear_timeouts + 1 retries here, not "doubling each time"."""
    records, err = sockviz_trace(
        "--drop", "syn", "--drop", "syn:2", "--drop", "syn:3", "--drop", "syn:4", "--drop", "syn:5"
    )
    if "no two hosts here" in err:
        pytest.skip("two hosts cannot be made here")
    events = read_trace([json.dumps(r) for r in records])
    hosts = {e.host: e for e in events if isinstance(e, TcpSettings)}
    assert set(hosts) == {"client", "server"}
    client = hosts["client"]
    retries = [
        r["retry"]
        for r in records
        if r["call"] == "packet" and r["flags"] == "SYN" and r["retry"] is not None
    ]
    assert len(retries) == 5
    schedule = tcpsettings.syn_schedule(
        tcpsettings.number(client, "tcp_syn_linear_timeouts") or 0,
        tcpsettings.number(client, "tcp_syn_retries"),
    )
    assert [round(r) for r in retries] == [round(s) for s in schedule[:5]]
    assert all(abs(r - s) < 0.25 for r, s in zip(retries, schedule, strict=False))
    view = RunView(get("tcp-echo"))
    apply(view, LinkStatus("drop syn", "10.217.0.1", "10.217.0.2"), 0.0)
    for n, event in enumerate(events):
        apply(view, event, float(n))
    said = linkview.link_story(view.link, 0, None)
    assert "doubling each time" not in said
    stated = re.search(r"the wait: ([0-9 s,.]+) after the first sending", said).group(1)
    assert [float(x) for x in re.findall(r"([0-9.]+) s", stated)][:5] == [round(r) for r in retries]
    assert f"tcp_syn_retries = {tcpsettings.number(client, 'tcp_syn_retries')}" in said
    # (a scenario's fixed text cannot know the machine: it names the setting, as measured)
    assert "tcp_syn_linear_timeouts" in get("backlog-full").about
    assert "retries (after 1 s, 3 s, 7 s" not in get("backlog-full").about


FIN_WAIT2_PROBE = r"""
import json, re, socket, subprocess, time
open("/proc/sys/net/ipv4/tcp_fin_timeout", "w").write("7")
subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
from sockviz.engine.kernel import tcp_settings as tcpsettings
from sockviz.engine.call_meanings import kernel_meaning
l = socket.socket(); l.bind(("127.0.0.1", 0)); l.listen()
c = socket.create_connection(l.getsockname(), timeout=2); a, _ = l.accept()
c.close(); time.sleep(0.1)
ss = subprocess.run(["ss", "-tanoH", "state", "fin-wait-2"], capture_output=True,
                    text=True).stdout
print(json.dumps({"timer": float(re.search(r"timewait,([0-9.]+)", ss).group(1)),
                  "read": dict(tcpsettings.read()[0].values)["tcp_fin_timeout"],
                  "said": kernel_meaning("FIN_WAIT2", tcpsettings.read()[0])}))
"""


@pytest.mark.skipif(
    not shutil.which("unshare") or not shutil.which("ss"), reason="needs unshare and ss"
)
def test_the_settings_are_read_in_the_runs_own_network_and_fin_wait2_says_its_timeout():
    """In a network of its own with tcp_fin_timeout = 7 (this machine's is not), the
    reading is 7, ss shows the orphaned FIN_WAIT2's timer under 7 s, and the words say 7 s."""
    proc = subprocess.run(
        ["unshare", "-n", sys.executable, "-c", FIN_WAIT2_PROBE],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
    )
    if proc.returncode != 0:
        pytest.skip(f"no network namespace here: {proc.stderr.strip()[-200:]}")
    seen = json.loads(proc.stdout)
    assert seen["read"] == "7" and 0 < seen["timer"] <= 7
    assert "tcp_fin_timeout = 7 s" in seen["said"]
