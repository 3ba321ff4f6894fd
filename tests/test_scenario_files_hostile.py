"""Scenario files are untrusted: whatever a file holds, it loads with every number inside
what its call takes, or ``--scenario FILE`` refuses it before anything runs - exit status 2
and one line naming the file, the line and what was expected. Never a traceback, a hang or
unbounded memory. Real files in tmp_path, read by load() and by the command line."""

from __future__ import annotations

import math
import os
import pathlib
import re
import stat
import subprocess
import sys

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sockviz.engine.events import RunFinished
from sockviz.engine.run.gate import Mode
from sockviz.engine.run.runner import Runner
from sockviz.engine.scenarios.scenario_files import ScenarioFileError, load, loads
from sockviz.engine.scenarios.scenario_types import Scenario
from sockviz.engine.states import Call
from tests.helpers import Collector
from tests.test_scenario_files import GOOD

ROOT = pathlib.Path(__file__).resolve().parent.parent
SOURCES = sorted(
    [
        *(ROOT / "examples").glob("*.toml"),
        *(ROOT / "sockviz" / "engine" / "scenarios").glob("*.toml"),
    ]
)

# What a scenario may hold, written out here rather than imported: what the calls take.
C_INT = (-(2**31), 2**31 - 1)
MIB = 1 << 20
NAME = re.compile(r"[a-z0-9][a-z0-9-]{0,23}\Z")
UNSHOWABLE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069]")


# The limit is set by the child's own Python before it becomes sockviz (an exec keeps it):
# a preexec_fn would run Python in the forked child of this threaded process.
AT_MOST_A_GIBIBYTE = (
    "import os, resource, sys\n"
    "resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))\n"
    "os.execv(sys.executable, [sys.executable, '-m', 'sockviz', *sys.argv[1:]])\n"
)


def sockviz(path) -> subprocess.CompletedProcess:
    """``sockviz --trace --scenario PATH`` in a child with a timeout and a memory limit, so a
    reading that hangs or grows without bound fails the test, not the machine."""
    return subprocess.run(
        [sys.executable, "-c", AT_MOST_A_GIBIBYTE, "--trace", "--scenario", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def assert_refused_in_one_line(path, line: int | None, words: str) -> None:
    """The command line and load() both refuse ``path``: one line, the line, the words.
    The command line goes first, in a child: if reading hangs or grows without bound, the
    test ends there, before load() tries it in this process."""
    done = sockviz(path)
    assert done.returncode == 2 and not done.stdout, done
    with pytest.raises(ScenarioFileError) as caught:
        load(path)
    message = str(caught.value)
    assert caught.value.line == line, message
    assert words in message and "\n" not in message, message
    where = f"{path}, line {line}:" if line else f"{path}:"
    assert message.startswith(where), message
    assert done.stderr == f"sockviz: error: scenario file {message}\n", done.stderr


def assert_within_bounds(scenario: Scenario) -> None:
    """Every number a loaded scenario holds is one its call takes; every name and text is
    short and plain."""
    assert NAME.match(scenario.name)
    assert len(scenario.summary) <= 200 and not UNSHOWABLE.search(scenario.summary)
    assert "\n" not in scenario.summary and "\t" not in scenario.summary
    assert len(scenario.about) <= 2000 and not UNSHOWABLE.search(scenario.about)
    assert 0 < len(scenario.sockets) <= 64 and 0 < len(scenario.steps) <= 1000
    assert len(scenario.exchange) <= 1000 and 0 <= scenario.exchange_at <= len(scenario.steps)
    for spec in scenario.sockets:
        assert NAME.match(spec.name) and spec.name not in ("loopback", "own", "last-peer")
    for step in scenario.steps + scenario.exchange:
        assert isinstance(step.timeout, float) and math.isfinite(step.timeout)
        assert 0 < step.timeout <= 3600
        assert len(step.explain) <= 2000 and not UNSHOWABLE.search(step.explain)
        if step.call is Call.LISTEN:
            assert 0 <= step.args[0] <= 65535
        if step.call in (Call.RECV, Call.RECVFROM):
            assert 1 <= step.args[0] <= 64 * MIB
        if step.call is Call.SETSOCKOPT:
            value = step.args[2]
            if isinstance(value, tuple):
                assert step.args[1] == "SO_LINGER" and value[0] in (0, 1)
                assert 0 <= value[1] <= 60
            elif isinstance(value, bytes):
                assert step.args[1] == "TCP_CONGESTION" and re.fullmatch(rb"[a-z0-9_]{1,15}", value)
            else:
                assert type(value) is int and C_INT[0] <= value <= C_INT[1]
        if step.expect is not None and step.expect.nbytes is not None:
            assert 0 <= step.expect.nbytes <= 64 * MIB


@pytest.mark.parametrize("path", SOURCES, ids=[p.name for p in SOURCES])
def test_every_shipped_file_loads_within_the_bounds(path):
    assert_within_bounds(load(path))


# --- what is read at all ---------------------------------------------------------------


@pytest.mark.skipif(not os.path.exists("/dev/zero"), reason="no /dev/zero here")
def test_a_device_is_refused_without_reading_it():
    assert_refused_in_one_line("/dev/zero", None, "a device, not a scenario file")


def test_a_fifo_is_refused_without_waiting_for_a_writer(tmp_path):
    fifo = tmp_path / "pipe.toml"
    os.mkfifo(fifo)
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)
    assert_refused_in_one_line(fifo, None, "a FIFO, not a scenario file")


def test_a_directory_is_refused(tmp_path):
    folder = tmp_path / "folder.toml"
    folder.mkdir()
    assert_refused_in_one_line(folder, None, "a folder, not a scenario file")


def test_a_file_over_a_mebibyte_is_refused_and_one_at_it_is_read(tmp_path):
    big = tmp_path / "big.toml"
    padding = "# padding\n" * (MIB // 10)
    big.write_text(GOOD + padding[: MIB - len(GOOD)])
    assert big.stat().st_size == MIB
    assert load(big).name == "tiny"
    big.write_text(GOOD + padding[: MIB - len(GOOD)] + "#")
    assert_refused_in_one_line(big, None, "larger than any scenario file")


def test_missing_and_unreadable_files_keep_their_reason(tmp_path):
    assert_refused_in_one_line(
        tmp_path / "none.toml", None, "cannot read it: No such file or directory"
    )
    if os.geteuid() != 0:  # root reads anything
        locked = tmp_path / "locked.toml"
        locked.write_text(GOOD)
        locked.chmod(0)
        assert_refused_in_one_line(locked, None, "cannot read it: Permission denied")


def test_bytes_that_are_not_utf8_are_refused_with_their_line(tmp_path):
    bad = tmp_path / "latin.toml"
    bad.write_bytes(GOOD.replace("closes", "clos\xe9s").encode("latin-1"))
    assert_refused_in_one_line(bad, 3, "not UTF-8 text")


# --- what the file says ----------------------------------------------------------------

STEP = 'call = "close"'
HOSTILE = [
    # (what is changed, the line the error names, words the message must have)
    ((STEP, STEP + "\ntimeout = inf"), 16, "timeout must be a number of seconds from 0.001"),
    ((STEP, STEP + "\ntimeout = nan"), 16, "not nan"),
    ((STEP, STEP + "\ntimeout = 1e300"), 16, "to 3600, not 1e+300"),
    ((STEP, STEP + "\ntimeout = 0"), 16, "timeout must be"),
    ((STEP, 'call = "listen"\nbacklog = 9223372036854775807'), 16, "from 0 to 65535"),
    ((STEP, 'call = "recv"\nsize = 1000000000000'), 16, "from 1 to 67108864"),
    (
        (STEP, 'call = "setsockopt"\noption = "SO_RCVBUF"\nvalue = 99999999999'),
        17,
        "from -2147483648 to 2147483647, not 99999999999",
    ),
    (
        (STEP, 'call = "setsockopt"\noption = "SO_LINGER"\nvalue = [1, 99999999999]'),
        17,
        "SO_LINGER takes value = [on, seconds]: on 0 or 1, seconds 0 to 60",
    ),
    ((STEP, 'call = "setsockopt"\noption = "SO_LINGER"\nvalue = [2, 0]'), 17, "on 0 or 1"),
    (
        (STEP, 'call = "setsockopt"\noption = "TCP_CONGESTION"\nvalue = 1'),
        17,
        "TCP_CONGESTION takes a congestion control's name",
    ),
    (
        (STEP, 'call = "setsockopt"\noption = "TCP_CONGESTION"\nvalue = "cu bic"'),
        17,
        "not 'cu bic'",
    ),
    ((STEP, 'call = "setsockopt"\noption = "SO_LINGER"\nvalue = 1'), 17, "[on, seconds]"),
    (
        (STEP, 'call = "setsockopt"\noption = "SO_RCVBUF"\nvalue = [1, 2]'),
        17,
        "value must be a whole number",
    ),
    ((STEP, STEP + "\nexpect = { bytes = 99999999999999 }"), 16, "bytes must be a whole"),
    (('name = "server"', 'name = "server[/]"'), 6, "expected 1 to 24 lower-case letters"),
    (('name = "server"', 'name = "ser\\u001bver"'), 6, "name = 'ser\\x1bver'"),
    (('name = "server"', 'name = "loopback"'), 6, "but not loopback"),
    (('name = "server"', 'name = "' + "s" * 25 + '"'), 6, "1 to 24"),
    (('name = "tiny"', 'name = "' + "t" * 25 + '"'), 2, "1 to 24"),
    (
        (STEP, STEP + '\nexplain = "clear \\u001b]2;pwned\\u0007"'),
        16,
        "control character (U+001B) at character 7",
    ),
    ((STEP, STEP + '\nexplain = "abc\\u202edef"'), 16, "(U+202E)"),
    ((STEP, STEP + '\nexplain = "csi \\u009b"'), 16, "(U+009B)"),
    ((STEP, STEP + '\nexplain = "' + "x" * 2001 + '"'), 16, "2001 characters long: at most 2000"),
    (('summary = "a listener that closes"', 'summary = """two\nlines"""'), 3, "on one line"),
    (('summary = "a listener that closes"', 'summary = "' + "s" * 201 + '"'), 3, "at most 200"),
    (("[scenario]", '[scenario]\nabout = "\\u2066isolated"'), 2, "(U+2066)"),
    ((STEP, STEP + "\nonly = " + "[" * 600 + "]" * 600), 16, "nested too deep"),
    ((STEP, STEP + "\ntimeout = 1" + "0" * 5000), 16, "thousands of digits"),
    (("[scenario]", "[scenario]\nfamilies = [[1], { a = 1 }]"), 2, "families must be a list"),
    ((STEP, STEP + "\nunknown" + "k" * 5000 + " = 1"), 16, "unknown key 'unknownkkkk"),
]


@pytest.mark.parametrize(
    ("change", "line", "words"), HOSTILE, ids=[f"{i}-{h[2][:30]}" for i, h in enumerate(HOSTILE)]
)
def test_a_hostile_value_is_refused_in_one_line_naming_its_line(tmp_path, change, line, words):
    old, new = change
    assert old in GOOD
    path = tmp_path / "hostile.toml"
    path.write_text(GOOD.replace(old, new, 1), encoding="utf-8")
    assert_refused_in_one_line(path, line, words)


def test_steps_that_are_not_tables_are_refused():
    text = "step = [1, 2]\n" + GOOD.split("[[step]]")[0]
    with pytest.raises(ScenarioFileError, match="\\[\\[step\\]\\] number 1 must be a table"):
        loads(text, "odd.toml")


def test_plain_newlines_and_tabs_are_fine_in_long_text():
    text = GOOD.replace(STEP, STEP + '\nexplain = """first line\n\tindented"""')
    assert loads(text).steps[-1].explain == "first line\n\tindented"


def test_lines_are_counted_as_toml_counts_them():
    """U+2028 and U+0085 may sit in a string or a comment; they do not start a line."""
    text = GOOD.replace('role = "listener"', 'role = "listener" # \u2028 \x85 odd')
    with pytest.raises(ScenarioFileError) as caught:
        loads(text.replace(STEP, STEP + "\nadress = 1"), "bad.toml")
    assert caught.value.line == 16


def steps_file(count: int) -> str:
    """A good file of ``count`` steps: socket, setsockopt again and again, close."""
    again = (
        '\n[[step]]\nsocket = "server"\ncall = "setsockopt"\noption = "SO_REUSEADDR"\nvalue = 1\n'
    )
    return GOOD.replace(
        '\n[[step]]\nsocket = "server"\ncall = "close"\n',
        again * (count - 2) + '\n[[step]]\nsocket = "server"\ncall = "close"\n',
    )


def test_a_thousand_steps_load_and_ten_thousand_are_refused(tmp_path):
    """Checking is linear now (10,000 steps took 86 s); the cap keeps any file quick."""
    assert len(loads(steps_file(1000)).steps) == 1000
    path = tmp_path / "long.toml"
    path.write_text(steps_file(10_000))
    first_over = steps_file(1001).count("\n", 0, steps_file(1001).rindex("[[step]]")) + 1
    assert_refused_in_one_line(path, first_over, "10000 [[step]] tables: at most 1000")


def test_steps_written_as_an_inline_array_are_capped_too():
    text = (
        "step = ["
        + ", ".join(['{ socket = "server", call = "socket" }'] * 1001)
        + "]\n"
        + GOOD.split("[[step]]")[0]
    )
    with pytest.raises(ScenarioFileError, match="1001 \\[\\[step\\]\\] tables: at most 1000"):
        loads(text, "inline.toml")


def test_a_file_at_every_limit_runs_for_real():
    """The bounds are numbers the calls take: a file at them runs to the end."""
    text = GOOD.replace(
        'call = "socket"',
        'call = "socket"\ntimeout = 3600\n\n'
        '[[step]]\nsocket = "server"\ncall = "setsockopt"\noption = "SO_RCVBUF"\n'
        'value = 2147483647\n\n[[step]]\nsocket = "server"\n'
        'call = "setsockopt"\noption = "SO_LINGER"\nvalue = [1, 60]\n\n'
        '[[step]]\nsocket = "server"\ncall = "bind"\n\n[[step]]\n'
        'socket = "server"\ncall = "listen"\nbacklog = 65535\ntimeout = 0.001',
    )
    scenario = loads(text, "limits.toml")
    assert_within_bounds(scenario)
    collector = Collector()
    runner = Runner(scenario, collector, family="ipv4", mode=Mode.FAST)
    runner.start()
    try:
        assert runner.wait(20), "the scenario did not finish"
    finally:
        assert runner.stop()
    finished = [e for e in collector.events if isinstance(e, RunFinished)]
    assert finished and finished[-1].outcome == "done", finished


# --- anything at all -------------------------------------------------------------------

TEXTS = [path.read_text(encoding="utf-8") for path in SOURCES]
VALUES = [
    '"text"',
    "1",
    "-1",
    "0",
    "9223372036854775807",
    "-9223372036854775808",
    "1e300",
    "inf",
    "-inf",
    "nan",
    "0.0001",
    "true",
    "[]",
    "[1, 2]",
    "[1, 99999999999]",
    "[0, 61]",
    "{ a = 1 }",
    "{ bytes = 5 }",
    '"\\u001b[2J"',
    '"\\u202e"',
    '"a\\tb"',
    '"' + "x" * 2500 + '"',
    "[" * 40 + "]" * 40,
    "[" * 700 + "]" * 700,
    "1" + "0" * 5000,
    '""',
    '"server[/]"',
    '"own"',
    '"last-peer"',
    "2147483648",
    "65536",
    "3601",
    "1979-05-27T07:32:00Z",
    '"SO_LINGER"',
    '"conn-1"',
    '"ECONNRESET"',
    '"listening"',
]
CONTROLS = ["\x1b", "\x00", "\x85", "\u202e", "\u2028", "\r", "\x7f", "\t", "\x9b", '"', "["]


@st.composite
def mutated_files(draw) -> bytes:
    """A shipped scenario file, damaged a few times over the ways an editor, a truncated
    download or a hostile author would."""
    lines = draw(st.sampled_from(TEXTS)).split("\n")
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(
            st.sampled_from(["drop", "duplicate", "swap", "value", "value", "control", "deep"])
        )
        at = draw(st.integers(0, len(lines) - 1))
        if kind == "drop" and len(lines) > 1:
            del lines[at]
        elif kind == "duplicate":
            lines.insert(at, lines[at])
        elif kind == "swap":
            other = draw(st.integers(0, len(lines) - 1))
            lines[at], lines[other] = lines[other], lines[at]
        elif kind == "value" and "=" in lines[at]:
            lines[at] = lines[at].split("=", 1)[0] + "= " + draw(st.sampled_from(VALUES))
        elif kind == "control":
            where = draw(st.integers(0, len(lines[at])))
            lines[at] = lines[at][:where] + draw(st.sampled_from(CONTROLS)) + lines[at][where:]
        elif kind == "deep":
            lines.insert(at, "deep = " + "[" * 700 + "]" * 700)
    raw = "\n".join(lines).encode("utf-8")
    ending = draw(st.sampled_from(["whole", "whole", "whole", "truncated", "not utf-8"]))
    where = draw(st.integers(0, len(raw)))
    if ending == "truncated":  # perhaps in the middle of a character
        raw = raw[:where]
    elif ending == "not utf-8":
        raw = raw[:where] + b"\xff" + raw[where:]
    return raw


@pytest.fixture(scope="module")
def scratch(tmp_path_factory) -> pathlib.Path:
    return tmp_path_factory.mktemp("mutated") / "mutated.toml"


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(raw=mutated_files())
def test_any_damaged_file_loads_within_bounds_or_is_refused_in_one_line(scratch, raw):
    scratch.write_bytes(raw)
    try:
        scenario = load(scratch)
    except ScenarioFileError as exc:
        message = str(exc)
        assert message.startswith(f"{scratch}") and "\n" not in message, message
        assert len(message) < 600 + len(str(scratch)), message
        return
    assert_within_bounds(scenario)
