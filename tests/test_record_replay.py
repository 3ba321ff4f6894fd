"""--record and --replay: a real run kept in a file, played back opening no socket."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys

import pytest

from sockviz.app.app import AppConfig, make_app
from sockviz.engine.record.recordings import (
    HEADER_KEY,
    Recorder,
    RecordingError,
    read_recording,
)
from sockviz.engine.run.gate import Mode
from sockviz.engine.run.replay_runner import replay_factory
from sockviz.engine.run.runner import Runner
from sockviz.engine.scenarios import get
from tests.app.app_helpers import THEME, live_app, settle, steps, until
from tests.helpers import engine_processes


def sockviz(*args: str, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "sockviz", *args],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=cwd,
    )


@pytest.mark.parametrize("scenario", ["tcp-echo", "udp-echo", "time-wait", "refused"])
def test_record_then_replay_prints_the_same_events(tmp_path, scenario):
    path = tmp_path / "run.jsonl"
    live = sockviz("--trace", "--scenario", scenario, "--record", str(path))
    assert live.returncode == 0, live.stderr
    replayed = sockviz("--replay", str(path), "--trace")
    assert replayed.returncode == 0, replayed.stderr
    assert replayed.stdout == live.stdout
    assert len(live.stdout.splitlines()) >= 5
    head = json.loads(path.read_text().splitlines()[0])
    assert head == {
        HEADER_KEY: 1,
        "scenario": scenario,
        "family": "ipv4",
        "closer": None,
        "size": None,
    }


@pytest.mark.skipif(
    shutil.which("strace") is None or not sys.platform.startswith("linux"),
    reason="needs strace on Linux",
)
def test_replay_opens_no_socket(tmp_path):
    path = tmp_path / "run.jsonl"
    assert sockviz("--trace", "--record", str(path)).returncode == 0
    log = tmp_path / "strace.txt"
    proc = subprocess.run(
        [
            "strace",
            "-f",
            "-qq",
            "-e",
            "trace=socket,bind,connect,listen",
            "-o",
            str(log),
            sys.executable,
            "-m",
            "sockviz",
            "--replay",
            str(path),
            "--trace",
        ],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )
    if proc.returncode != 0 and "ptrace" in proc.stderr:
        pytest.skip("ptrace is not allowed here")
    assert proc.returncode == 0, proc.stderr
    assert len(proc.stdout.splitlines()) >= 10  # the events were printed ...
    assert re.findall(r"\b(socket|bind|connect|listen)\(", log.read_text()) == []  # ... no call


def write_lines(path, lines) -> str:
    path.write_text("".join(line + "\n" for line in lines))
    return str(path)


def recorded(tmp_path) -> list[str]:
    path = tmp_path / "good.jsonl"
    assert sockviz("--trace", "--record", str(path)).returncode == 0
    return path.read_text().splitlines()


def test_bad_recordings_are_refused_naming_the_line(tmp_path):
    good = recorded(tmp_path)
    cases = {
        "empty": ([], "line 1"),
        "a plain trace": (good[1:], "line 1: expected the header"),
        "cut short": ([*good[:6], good[6][:40]], "line 7: expected one whole JSON object"),
        "a broken line": ([*good[:3], '{"seq": 3}', *good[4:]], "line 4: missing keys"),
        "a newer format": (
            [good[0].replace(": 1,", ": 99,", 1), *good[1:]],
            "line 1: format 99",
        ),
        "an unknown scenario": (
            [good[0].replace("tcp-echo", "nope"), *good[1:]],
            "line 1: unknown scenario 'nope'",
        ),
        "no events": (good[:1], "no events after the header"),
    }
    for what, (lines, expected) in cases.items():
        path = write_lines(tmp_path / "bad.jsonl", lines)
        proc = sockviz("--replay", path, "--trace")
        assert proc.returncode == 2, what
        assert proc.stdout == "", what
        assert expected in proc.stderr, (what, proc.stderr)
        assert len(proc.stderr.splitlines()) == 1 and "Traceback" not in proc.stderr, what


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--replay", "R", "--scenario", "bulk"], "leave out --scenario"),
        (["--replay", "R", "--family", "ipv6"], "leave out --family"),
        (["--replay", "R", "--record", "X"], "cannot --record"),
        (["--replay", "missing.jsonl"], "cannot read missing.jsonl"),
        (["--record", "X", "--listen", "8080", "--trace"], "does not apply to --listen"),
        (["--record", "no/such/dir/x.jsonl", "--trace"], "cannot write the recording"),
    ],
)
def test_record_and_replay_misuse_is_one_line_and_exit_2(tmp_path, args, expected):
    if "R" in args:
        args = [str(tmp_path / "r.jsonl") if a == "R" else a for a in args]
        write_lines(tmp_path / "r.jsonl", recorded(tmp_path))
    proc = sockviz(*args, cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert expected in proc.stderr
    assert len(proc.stderr.splitlines()) == 1


def test_the_recorder_keeps_trace_events_only(tmp_path):
    path = tmp_path / "r.jsonl"
    recorder = Recorder(str(path), "udp-echo", "ipv4")
    runner = Runner(get("udp-echo"), recorder, mode=Mode.FAST)
    runner.start()
    assert runner.wait(10)
    runner.stop()
    recorder.close()
    recording = read_recording(str(path))
    assert (recording.scenario, recording.family) == ("udp-echo", "ipv4")
    assert [e.call.value for e in recording.events if hasattr(e, "call")][:3] == [
        "socket",
        "bind",
        "socket",
    ]
    with pytest.raises(RecordingError, match="line 1"):
        read_recording(write_lines(tmp_path / "x.jsonl", ["not json"]))


async def test_the_tui_replays_a_recording_with_its_controls_and_no_engine(tmp_path):
    path = tmp_path / "r.jsonl"
    assert sockviz("--trace", "--record", str(path)).returncode == 0
    recording = read_recording(str(path))
    app = make_app(
        AppConfig(
            scenario=recording.scenario, family=recording.family, step=True, replay=str(path)
        ),
        runner_factory=replay_factory(recording.events),
        theme=THEME,
    )
    app.animation_level = "none"
    async with app.run_test(size=(100, 30)) as pilot:
        await steps(pilot, 6)
        assert app.run_screen.view.steps_done == 6
        assert "replay of r.jsonl" in app.sub_title
        assert app.session.engine is None and engine_processes() == []
        await pilot.press("s")  # another scenario: not in a replay
        await pilot.pause()
        assert app.screen is app.default_screen and app.config.scenario == "tcp-echo"
        app.run_screen.set_mode(Mode.FAST)  # the rest at once
        await until(pilot, lambda: app.run_screen.view.outcome is not None)
        await settle(pilot)
        outcome = app.run_screen.view.outcome
        assert outcome is not None and outcome.outcome == "done"
        assert app.run_screen.view.steps_done == len(
            [e for e in recording.events if getattr(e, "step", None) is not None]
        )


async def test_the_tui_records_the_run_on_screen(tmp_path):
    path = tmp_path / "tui.jsonl"
    app = live_app("udp-echo", step=True)
    app.config.record = str(path)
    async with app.run_test(size=(100, 30)) as pilot:
        await steps(pilot, 3)
        await pilot.press("r")  # a restart starts the file afresh
        await steps(pilot, 2)
        await pilot.press("q")
    recording = read_recording(str(path))
    calls = [e for e in recording.events if hasattr(e, "call")]
    assert recording.scenario == "udp-echo"
    assert [e.call.value for e in calls][:2] == ["socket", "bind"]
    assert [e.step for e in calls if e.step is not None] == [0, 1]  # the second run only
    assert calls[-1].call.value == "close"  # quitting closed what was open, for real


def test_record_refuses_an_existing_file_unless_told_and_never_follows_a_symlink(tmp_path):
    path, target = tmp_path / "run.jsonl", tmp_path / "target"
    path.write_text("keep me\n")
    refused = sockviz("--trace", "--record", str(path))
    assert refused.returncode == 2 and "--overwrite" in refused.stderr
    assert path.read_text() == "keep me\n" and refused.stdout == ""
    replaced = sockviz("--trace", "--record", str(path), "--overwrite")
    assert replaced.returncode == 0 and path.read_text().startswith('{"sockviz-recording"')
    link = tmp_path / "link.jsonl"
    link.symlink_to(target)
    for extra in ([], ["--overwrite"]):
        followed = sockviz("--trace", "--record", str(link), *extra)
        assert followed.returncode == 2 and not target.exists(), followed.stderr
    assert "--overwrite applies to --record" in sockviz("--trace", "--overwrite").stderr
