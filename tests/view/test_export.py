"""Exporting a run's ladder: Mermaid sequenceDiagram and plain text, from real runs."""

from __future__ import annotations

import re
import subprocess
import sys
from dataclasses import replace

from sockviz.engine.events import CallEvent
from sockviz.engine.scenarios import get
from sockviz.view.export import WIDTH, to_mermaid, to_text
from tests.helpers import run_scenario

# Every line a sequenceDiagram of ours may have: words hold no bare ; # < > (Mermaid's
# syntax), only its entity codes (#59; ...).
WORDS = r"(?:[^;#<>%\n]|#\w+;)+"
MERMAID_LINE = re.compile(
    r"^(sequenceDiagram"
    rf"|    title {WORDS}"
    r"|    participant P\d+ as [\w-]+"
    rf"|    Note over P\d+: {WORDS}"
    rf"|    P\d+->>P\d+: {WORDS})$"
)


def test_tcp_echo_as_mermaid():
    events = run_scenario(get("tcp-echo")).trace
    text = to_mermaid(events, "sockviz tcp-echo · ipv4")
    lines = text.splitlines()
    assert lines[0] == "sequenceDiagram"
    assert [line for line in lines if not MERMAID_LINE.match(line)] == []
    ids = dict(re.findall(r"participant (P\d+) as ([\w-]+)", text))
    assert sorted(ids.values()) == ["client", "conn-1", "server"]
    who = {name: pid for pid, name in ids.items()}
    # the handshake goes to the listener, the data to the connection, the echo back
    assert f"    {who['client']}->>{who['server']}: connect() · handshake · ESTABLISHED" in lines
    assert f'    {who["client"]}->>{who["conn-1"]}: sendall 14 B "hello, sockviz"' in lines
    assert f'    {who["conn-1"]}->>{who["client"]}: sendall 14 B "hello, sockviz"' in lines
    assert any("TIME_WAIT" in line and who["client"] in line for line in lines)
    # one line for each call and kernel change, in the run's order
    assert len(lines) == 1 + 1 + 3 + len(events)


def test_udp_echo_as_text():
    events = run_scenario(get("udp-echo")).trace
    lines = to_text(events).splitlines()
    assert lines[0].startswith("client") and lines[0].endswith("server")
    assert all(len(line) <= WIDTH for line in lines)
    sends = [line for line in lines if "sendto 14 B" in line]
    assert sends[0].endswith("▶") and sends[1].startswith("◀")  # there, and back
    assert any(line.endswith("server: recvfrom() → 14 B") for line in lines)


def test_a_peers_bytes_cannot_break_the_diagram():
    events = run_scenario(get("tcp-echo")).trace
    hostile = b"%%{init: {}}%%;#<>\nsequenceDiagram\x1b]2;x\x07"
    events = [
        replace(e, data=hostile) if isinstance(e, CallEvent) and e.data else e for e in events
    ]
    text = to_mermaid(events)
    assert [line for line in text.splitlines() if not MERMAID_LINE.match(line)] == []
    assert "\x1b" not in text and "\x07" not in text and "%%" not in text
    assert to_text(events).count("\x1b") == 0


def sockviz(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "sockviz", *args],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_export_from_the_command_line_and_from_a_replay(tmp_path):
    path = tmp_path / "r.jsonl"
    live = sockviz("--trace", "--export", "mermaid", "--record", str(path))
    assert live.returncode == 0, live.stderr
    assert live.stdout.startswith("sequenceDiagram\n    title sockviz tcp-echo · ipv4\n")
    replayed = sockviz("--replay", str(path), "--trace", "--export", "mermaid")
    assert replayed.stdout == live.stdout
    text = sockviz("--replay", str(path), "--trace", "--export", "text")
    assert text.returncode == 0 and "client" in text.stdout.splitlines()[1]
    refused = sockviz("--export", "text")
    assert refused.returncode == 2 and "--export needs --trace" in refused.stderr
