"""Scenario files (TOML): every example runs for real with its expectations met; a wrong
expectation is caught; a bad file is refused with its line and what was expected there."""

from __future__ import annotations

import json
import pathlib
import subprocess
import sys

import pytest

from sockviz.engine.events import Checked, RunFinished
from sockviz.engine.run.gate import Mode
from sockviz.engine.run.runner import Runner
from sockviz.engine.scenarios import REGISTRY
from sockviz.engine.scenarios.scenario_files import ScenarioFileError, load, loads
from tests.helpers import Collector

ROOT = pathlib.Path(__file__).resolve().parent.parent
EXAMPLES = sorted((ROOT / "examples").glob("*.toml"))
CASES = [(path, family) for path in EXAMPLES for family in load(path).families]


def run(scenario, family: str) -> Collector:
    collector = Collector()
    runner = Runner(scenario, collector, family=family, mode=Mode.FAST)
    runner.start()
    try:
        assert runner.wait(20), "the scenario did not finish"
    finally:
        assert runner.stop()
    return collector


def test_there_are_examples():
    assert len(EXAMPLES) >= 4


@pytest.mark.parametrize(("path", "family"), CASES, ids=[f"{p.stem}-{f}" for p, f in CASES])
def test_every_example_runs_true(path, family):
    scenario = load(path)
    collector = run(scenario, family)
    finished = [e for e in collector.events if isinstance(e, RunFinished)]
    assert finished and finished[-1].outcome == "done", finished
    checks = [e for e in collector.events if isinstance(e, Checked)]
    expected = [s for s in scenario.steps_for(family) if s.expect is not None]
    assert len(checks) == len(expected) > 0
    assert all(c.met for c in checks), [c for c in checks if not c.met]


def test_a_wrong_expectation_is_caught():
    text = (ROOT / "examples" / "echo.toml").read_text()
    wrong = text.replace('data = "ping\\n"', 'data = "ping!\\n"')  # 6 bytes, 5 expected
    assert wrong != text
    collector = run(loads(wrong, "wrong.toml"), "ipv4")
    unmet = [e for e in collector.events if isinstance(e, Checked) and not e.met]
    # the client's send, and then every byte count that followed from it
    assert [(c.socket, c.expected, c.got) for c in unmet] == [
        ("client", "5 bytes", "6 bytes"),
        ("conn-1", "5 bytes", "6 bytes"),
        ("conn-1", "5 bytes", "6 bytes"),
        ("client", "5 bytes", "6 bytes"),
    ]


def test_builtins_defined_as_files_are_in_the_registry():
    for name in ("refused", "reset", "half-close"):
        assert (ROOT / "sockviz" / "engine" / "scenarios" / f"{name}.toml").is_file()
        scenario = REGISTRY[name]
        assert scenario.name == name and scenario.steps
        scenario.validate()


GOOD = """\
[scenario]
name = "tiny"
summary = "a listener that closes"

[[socket]]
name = "server"
role = "listener"

[[step]]
socket = "server"
call = "socket"

[[step]]
socket = "server"
call = "close"
"""

BAD = [
    # (what is changed, the line the error names, words the message must have)
    (('name = "tiny"', 'name = "tiny'), 2, "not valid TOML"),
    (('call = "close"', 'call = "clsoe"'), 15, "expected one of socket, setsockopt"),
    (('call = "close"', 'call = "close"\nadress = "x"'), 16, "unknown key 'adress'"),
    (
        ('socket = "server"\ncall = "close"', 'socket = "srv"\ncall = "close"'),
        14,
        "socket = 'srv': expected one of server",
    ),
    (('call = "close"', 'call = "listen"'), 13, "listen() cannot come here"),
    (
        ('call = "close"', 'call = "close"\nexpect = { state = "gone" }'),
        16,
        "state = 'gone': expected one of created",
    ),
    (
        ('call = "close"', 'call = "close"\n\n[step.expect]\nerror = "OOPS"'),
        18,
        "expected an errno name",
    ),
    (
        ('call = "close"', 'call = "setsockopt"\noption = "SO_NOPE"\nvalue = 1'),
        16,
        "option = 'SO_NOPE'",
    ),
    (('call = "close"', 'call = "listen"\nbacklog = -1'), 16, "backlog must be a whole"),
    (
        ('role = "listener"', 'role = "listener"\ntype = "datagram"'),
        8,
        "a listener is a TCP socket",
    ),
    (('name = "tiny"', 'name = "Tiny One"'), 2, "lower-case letters"),
    (('summary = "a listener that closes"\n', ""), 1, "needs summary"),
]


@pytest.mark.parametrize(("change", "line", "words"), BAD, ids=[b[2] for b in BAD])
def test_bad_files_are_refused_with_the_line(change, line, words):
    old, new = change
    assert old in GOOD
    loads(GOOD)  # the file it breaks is good
    with pytest.raises(ScenarioFileError) as caught:
        loads(GOOD.replace(old, new, 1), "bad.toml")
    assert caught.value.line == line, str(caught.value)
    assert words in str(caught.value) and str(caught.value).startswith(f"bad.toml, line {line}:")


def test_a_file_with_no_steps_says_what_it_needs():
    with pytest.raises(ScenarioFileError, match="no \\[\\[step\\]\\] tables"):
        loads(GOOD.split("[[step]]")[0], "empty.toml")


def sockviz(*args: str, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "sockviz", *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=cwd,
        check=False,
    )


def test_the_command_line_refuses_a_bad_file_in_one_line(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text(GOOD.replace('call = "close"', 'call = "clsoe"'))
    done = sockviz("--trace", "--scenario", str(bad))
    assert done.returncode == 2 and not done.stdout
    assert done.stderr.count("\n") == 1 and f"{bad}, line 15:" in done.stderr
    missing = sockviz("--trace", "--scenario", str(tmp_path / "none.toml"))
    assert missing.returncode == 2 and "cannot read it" in missing.stderr


def test_the_command_line_runs_a_file_and_reports_unmet_expectations(tmp_path):
    done = sockviz("--trace", "--scenario", str(ROOT / "examples" / "echo.toml"))
    assert done.returncode == 0 and "all 12 expectations" in done.stderr
    assert {json.loads(line)["call"] for line in done.stdout.splitlines()} >= {"accept", "recv"}
    wrong = tmp_path / "wrong.toml"
    wrong.write_text(
        (ROOT / "examples" / "echo.toml")
        .read_text()
        .replace("expect = { bytes = 0 }", "expect = { bytes = 3 }")
    )
    done = sockviz("--trace", "--scenario", str(wrong))
    assert done.returncode == 1
    assert (
        "expectation not met: step 13 (conn-1.recv): expected 3 bytes, got 0 bytes" in done.stderr
    )


def test_record_and_replay_a_scenario_file(tmp_path):
    recording = tmp_path / "run.jsonl"
    example = ROOT / "examples" / "udp-echo.toml"
    done = sockviz("--trace", "--scenario", str(example), "--record", str(recording))
    assert done.returncode == 0
    assert json.loads(recording.read_text().splitlines()[0])["scenario"] == str(example)
    again = sockviz("--replay", str(recording), "--trace")
    assert again.returncode == 0, again.stderr
    assert again.stdout == done.stdout


def test_a_file_chooses_a_congestion_control_by_name(tmp_path):
    """setsockopt(TCP_CONGESTION) takes a name in a scenario file; the run makes the real
    call (a name this kernel lacks: ENOENT, the kernel's answer, as the step expects)."""
    text = (ROOT / "examples" / "echo.toml").read_text()
    first = text.index(
        "[[step]]", text.index('call = "socket"', text.index('socket = "client"') - 40)
    )
    choose = (
        '[[step]]\nsocket = "client"\ncall = "setsockopt"\noption = "TCP_CONGESTION"\n'
        'value = "reno"\nexplain = "Reno paces this client."\n\n'
        '[[step]]\nsocket = "client"\ncall = "setsockopt"\noption = "TCP_CONGESTION"\n'
        'value = "nosuchcc"\nexpect = { error = "ENOENT" }\nexplain = "No such."\n\n'
    )
    after = text.index("[[step]]", first + 1)  # (after the client's socket())
    path = tmp_path / "cc.toml"
    path.write_text(text[:after] + choose + text[after:])
    done = sockviz("--trace", "--scenario", str(path))
    assert done.returncode == 0, done.stderr
    calls = [json.loads(line) for line in done.stdout.splitlines()]
    chose = [c for c in calls if c["call"] == "setsockopt" and c["socket"] == "client"]
    assert "b'reno'" in chose[0]["args"] and chose[0]["error"] is None
    assert chose[1]["error"] == "ENOENT"


def test_then_makes_the_next_call_on_the_same_key_and_must_be_the_same_actors(tmp_path):
    """then = true: two sends back to back (one StepPending says it is made with the one
    before); then before another actor's step is refused in one line."""
    text = (ROOT / "examples" / "echo.toml").read_text()
    send = 'call = "sendall"\ndata = "ping\\n"\n'
    assert send in text
    twice = text.replace(
        send,
        'call = "sendall"\ndata = "pi"\nthen = true\nexplain = "First half."\n\n'
        '[[step]]\nsocket = "client"\ncall = "sendall"\ndata = "ng\\n"\n',
        1,
    ).replace("expect = { bytes = 5 }", "", 1)
    path = tmp_path / "then.toml"
    path.write_text(twice)
    done = sockviz("--trace", "--scenario", str(path))
    assert done.returncode == 0, done.stderr
    sends = [json.loads(line) for line in done.stdout.splitlines()]
    assert [r["nbytes"] for r in sends if r["call"] == "sendall" and r["socket"] == "client"][
        :2
    ] == [
        2,
        3,
    ]
    wrong = tmp_path / "wrong.toml"
    wrong.write_text(text.replace("expect = { bytes = 5 }", "then = true", 1))
    done = sockviz("--trace", "--scenario", str(wrong))
    assert done.returncode == 2 and len(done.stderr.splitlines()) == 1, done.stderr
    assert "'then' needs a next step made by the same actor" in done.stderr
