"""Issue 23, finding 19: options that silently dropped things. The command line's link
settings merge with a scenario's ``[link]`` key by key (the command line wins per key), a
``--drop`` that can never match the run is refused up front (one line, exit 2), and one
that could but did not happen is said at the end of the run. Checked on real two-host runs
(the link's own packet lines), not on what the options meant."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from sockviz.cli import build_parser
from sockviz.engine import scenarios
from sockviz.options import check, from_arguments, link_of
from tests.helpers import two_hosts_here

ROOT = Path(__file__).resolve().parents[1]


def sockviz(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "sockviz", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


needs_hosts = pytest.mark.skipif(not two_hosts_here(), reason="two hosts cannot be made here")


def options(*args: str):
    return check(from_arguments(build_parser().parse_args([*args, "--trace"])))


def link_packets(stdout: str) -> list[dict]:
    records = [json.loads(line) for line in stdout.splitlines()]
    return [r for r in records if r["call"] == "packet" and r.get("link") is not None]


@needs_hosts
def test_a_drop_on_the_command_line_keeps_the_scenarios_delay():
    """`--scenario lost-data --drop data:5`: the scenario's 20 ms stays; the fifth data
    segment, not the first, is the one lost - as the link's own lines show."""
    proc = sockviz("--trace", "--scenario", "lost-data", "--drop", "data:5")
    assert proc.returncode in (0, 1), proc.stderr  # (1: the file's own expectation unmet)
    packets = link_packets(proc.stdout)
    crossed = [p for p in packets if p["link"] == "crossed"]
    dropped = [p for p in packets if p["link"] == "dropped"]
    assert crossed and min(p["delay"] for p in crossed) >= 0.02, sorted(
        {p["delay"] for p in crossed}
    )
    assert len(dropped) == 1 and dropped[0]["nbytes"] > 0
    data = [p for p in packets if p["nbytes"] > 0 and p["retry"] is None]
    assert data.index(dropped[0]) == 4  # the fifth data segment sent for the first time


@needs_hosts
def test_a_link_on_a_lab_keeps_its_drop_and_says_what_the_link_does():
    """Issue 24, item 11: `--scenario lost-syn --link delay=30ms` keeps the lab's lost SYN
    (the run meets its expectation: exit 0), and one line says the link the run used -
    the table's drop and the command line's delay."""
    proc = sockviz("--trace", "--scenario", "lost-syn", "--link", "delay=30ms")
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == (
        "sockviz: note: the link: delay 30 ms · drop syn (lost-syn's "
        "[link], with --link delay=30ms laid over it key by key)\n"
    )
    packets = link_packets(proc.stdout)
    assert packets[0]["flags"] == "SYN" and packets[0]["link"] == "dropped"
    assert min(p["delay"] for p in packets if p["link"] == "crossed") >= 0.03


def test_link_keys_merge_one_by_one_and_the_command_line_wins():
    from sockviz.engine.scenarios.linktable import merge_link
    from sockviz.options import command_link

    assert link_of(options("--scenario", "lost-data", "--drop", "data:5")) == (
        "delay=20ms",
        ("data:5",),
        False,
    )
    assert link_of(options("--scenario", "lost-syn", "--link", "delay=100ms,loss=1%")) == (
        "delay=100ms,loss=1%",
        ("syn",),
        False,
    )
    assert link_of(options("--scenario", "slow-link", "--link", "delay=5ms")) == (
        "delay=5ms,rate=8mbit",
        (),
        False,
    )
    # The TUI keeps only what the command line said, and lays it over each scenario it
    # runs: lost-data's delay does not follow the user to tcp-echo.
    given = command_link(options("--scenario", "lost-data", "--drop", "data:5"))
    assert given == ("", ("data:5",), False)
    assert merge_link(given, scenarios.get("tcp-echo").link) == ("", ("data:5",), False)
    assert merge_link(given, scenarios.get("lost-fin").link) == ("delay=20ms", ("data:5",), False)
    assert merge_link(None, scenarios.get("lost-fin").link) == scenarios.get("lost-fin").link


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (("--scenario", "udp-echo", "--drop", "data"), "udp-echo sends UDP datagrams only"),
        (("--scenario", "udp-echo", "--drop", "syn"), "udp-echo sends UDP datagrams only"),
        (("--scenario", "refused", "--drop", "syn-ack"), "refused's connect() is meant to fail"),
        (("--scenario", "refused", "--drop", "fin"), "refused's connect() is meant to fail"),
        (("--scenario", "refused", "--drop", "data:2"), "no data segment"),
    ],
)
def test_a_drop_that_can_never_match_is_refused_up_front(args, words):
    proc = sockviz("--trace", *args)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.count("\n") == 1 and words in proc.stderr, proc.stderr
    assert proc.stdout == ""  # nothing ran


@needs_hosts
def test_a_drop_that_did_not_happen_is_said_at_the_end():
    """tcp-echo has two data segments: a ninety-ninth is never there to lose."""
    proc = sockviz("--trace", "--drop", "data:99", "--drop", "syn")
    assert proc.returncode == 0, proc.stderr
    packets = link_packets(proc.stdout)
    data = [p for p in packets if p["nbytes"] > 0]
    assert [p["flags"] for p in packets if p["link"] == "dropped"] == ["SYN"]
    lines = [line for line in proc.stderr.splitlines() if "never happened" in line]
    assert lines == [
        f"sockviz: note: --drop data:99 never happened: the link saw "
        f"{len(data)} data segments in this run"
    ], proc.stderr


@needs_hosts
def test_a_drop_that_happened_says_nothing():
    proc = sockviz("--trace", "--scenario", "lost-fin")
    assert "never happened" not in proc.stderr
    assert [
        p["flags"] for p in link_packets(proc.stdout) if p["link"] == "dropped"
    ] and proc.returncode == 0, proc.stderr


def test_serve_refuses_what_every_tab_would_refuse():
    """--serve checks the link once, before serving, as the TUI and --trace do."""
    for args, words in (
        (("--link", "delay=soon"), "delay should look like delay=50ms"),
        (("--scenario", "udp-echo", "--drop", "data"), "udp-echo sends UDP datagrams only"),
    ):
        proc = sockviz("--serve", "--port", "65432", *args)  # (refused before it binds)
        assert proc.returncode == 2, proc.stderr
        assert proc.stderr.count("\n") == 1 and words in proc.stderr, proc.stderr
