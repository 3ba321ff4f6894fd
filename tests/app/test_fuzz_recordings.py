"""Mutated real recordings, through the checker and then the real app: refused in one line,
or drawn at 80x24 and 120x40 through every key that moves or reveals something.

The checker and the drawing are two halves of one promise: what the first lets through,
the second must draw (issue 24: a recording with ``"rtt": null`` passed the checker and
crashed the socket card). So the fuzz does not stop at the fold: each mutated recording is
read as ``--replay`` reads it, and one the reader takes is played in the app itself and
looked at with →, ←, Home, End, w, p and l.

Speed: an app costs a few tenths of a second to start and a key a tenth or two to draw, so
the apps live across examples - one per (recording, size), in a thread of their own with
their own event loop - and each example restarts its app on the new events (``r``). The
examples are small mutations of small real runs; the seed is fixed (conftest's
"repeatable" profile).
"""

from __future__ import annotations

import asyncio
import json
import re
import threading
import time

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from sockviz.app.app import AppConfig, make_app
from sockviz.engine.record.recordings import RecordingError, read_recording
from sockviz.engine.record.trace_format import FLOW_KEYS
from sockviz.engine.run.gate import Mode
from sockviz.engine.run.replay_runner import ReplayRunner
from tests.app.app_helpers import THEME
from tests.hostile import HOSTILE, fixture_lines, header, raw_in

#: Real runs, between them every line type: calls, kernel lines with and without the
#: path's numbers (rtt, cwnd, retrans), packet lines on a link (crossed, held, sent again)
#: and on loopback, packets sums, link lines (a held segment released), tcp settings lines
#: of one network and of two hosts, a listener's queue, AF_UNIX.
FIXTURES = {
    "slow-link-ipv4": ("slow-link", "ipv4"),
    "tcp-echo-hold-ipv4": ("tcp-echo", "ipv4"),
    "bulk-ipv4": ("bulk", "ipv4"),
    "lost-syn-ipv4": ("lost-syn", "ipv4"),
    "backlog-full-ipv4": ("backlog-full", "ipv4"),
    "tcp-echo-unix": ("tcp-echo", "unix"),
    # (segments with SACK blocks; a sum with the points of the time-sequence graph)
    "graph-lost-data-ipv4": ("lost-data", "ipv4"),
    "graph-slow-link-ipv4": ("slow-link", "ipv4"),
}
SIZES = ((80, 24), (120, 40))
KEYS = ("left", "home", "right", "end", "w", "p", "l", "G")  # (→ from Home: a step of history)
RECORDS = {name: fixture_lines(name) for name in FIXTURES}

#: Values that are each some check's edge: the kernel's u32s and past them, the caps on
#: counts and seconds, negative, fractional, and the types a number is not.
EDGES = (
    0,
    1,
    -1,
    255,
    65535,
    65536,
    (1 << 31) - 1,
    1 << 31,
    (1 << 32) - 1,
    1 << 32,
    1 << 40,
    (1 << 62),
    (1 << 62) + 1,
    1 << 64,
    10**30,
    0.5,
    -0.0,
    1e-300,
    4294967.3,
    4294967.4,
    315360000.0,
    1e308,
    float("nan"),
    float("inf"),
    float("-inf"),
    True,
    False,
    "",
    "0",
    "ESTABLISHED",
    "x" * 401,
    "9" * 5000,
    [],
    [1, 2],
    [1 << 40, 0],
    {"a": 1},
)

values = st.one_of(
    st.none(),
    st.sampled_from(EDGES),
    st.integers(),
    st.floats(),
    st.sampled_from(list(HOSTILE.values())),
    st.text(max_size=12),
)


def near(value):
    """Values close to a real one, that a checker may well let through: the drawing's
    own edge cases."""
    if type(value) is int:
        return st.sampled_from(
            [0, value * 1000, value + (1 << 31), (1 << 32) - 1 - value, value * 10**9, -value]
        )
    if type(value) is float:
        return st.sampled_from([0.0, value * 1e6, value / 1e6, 4294967.3, 315360000.0, -value])
    if isinstance(value, str):
        return st.sampled_from([value * 20, value[:1], value.upper(), value.lower()])
    return values


def kind(record: dict) -> str:
    """A line's type, as the mutations pick them (so that a run's few kernel lines with the
    path's numbers are picked as often as its many calls)."""
    call = record.get("call")  # (an earlier change may have taken it away)
    if call == "kernel":
        return "kernel-flow" if record.get("cwnd") is not None else "kernel"
    return call if call in ("packet", "packets", "link", "tcp") else "call"


def numbers(record: dict) -> list[str]:
    """The keys of a line that hold a number (and a kernel line's path numbers)."""
    keys = {k for k, v in record.items() if type(v) in (int, float)}
    return sorted(keys | set(FLOW_KEYS) if record.get("call") == "kernel" else keys)


def recording_text(name: str, records: list[dict]) -> str:
    scenario, family = FIXTURES[name]
    return (
        "\n".join([json.dumps(header(scenario, family))] + [json.dumps(r) for r in records]) + "\n"
    )


@st.composite
def mutated(draw):
    """(fixture, the recording's text): a real run with one or two changes - most
    often a value, to one near the real one or to null, of any key of a line of any type
    (most often one that holds a number; the path's numbers on any kernel line); else a
    key taken away, or a line dropped, said twice or moved."""
    name = draw(st.sampled_from(sorted(FIXTURES)))
    records = [dict(r) for r in RECORDS[name]]
    for _ in range(draw(st.integers(1, 2))):
        picked = draw(st.sampled_from(sorted({kind(r) for r in records})))
        i = draw(st.sampled_from([i for i, r in enumerate(records) if kind(r) == picked]))
        op = draw(st.sampled_from(("set", "set", "set", "delete", "drop", "repeat", "move")))
        nested = [k for k in ("points", "sack") if isinstance(records[i].get(k), list)]
        if nested and draw(st.booleans()):  # (inside a point or a SACK block: one number)
            key = draw(st.sampled_from(nested))
            items = records[i][key] = [list(item) for item in records[i][key]]
            item = draw(st.sampled_from(items)) if items else None
            if item:
                at = draw(st.integers(0, len(item) - 1))
                item[at] = draw(st.one_of(near(item[at]), values))
            continue
        if op == "drop" and len(records) > 1:  # (a line lost, out of place, said twice)
            del records[i]
        elif op == "repeat":
            records.insert(draw(st.integers(0, len(records))), dict(records[i]))
        elif op == "move":
            records.insert(draw(st.integers(0, len(records) - 1)), records.pop(i))
        elif op == "delete":
            del records[i][draw(st.sampled_from(sorted(records[i])))]
        else:
            key = draw(
                st.one_of(st.sampled_from(numbers(records[i])), st.sampled_from(sorted(records[i])))
            )
            old = records[i].get(key)
            records[i][key] = draw(
                st.one_of(st.none(), values, near(old), near(old)) if old is not None else values
            )
    return name, recording_text(name, records)


def issue_24(**flow) -> tuple:
    """The issue's recording: slow-link with ``flow`` on its kernel lines with a cwnd."""
    records = [
        dict(r, **flow) if r.get("cwnd") is not None else r for r in RECORDS["slow-link-ipv4"]
    ]
    return "slow-link-ipv4", recording_text("slow-link-ipv4", records)


class Driver:
    """One app per (recording, size), kept running across examples in a thread with its own
    event loop; :meth:`play` restarts it on new events and presses the keys.

    Each app lives in one task from start to quit (Textual keeps context variables that
    must be set and reset in the same task): the examples reach it through a queue."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="fuzz-apps", daemon=True)
        self.thread.start()
        self.jobs: dict = {}  # (name, size) -> the queue its app's task reads
        self.tasks: list = []
        self.events: dict = {}

    def _run(self, coroutine, timeout: float = 30.0):
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    async def _app(self, name: str, size: tuple[int, int], jobs: asyncio.Queue) -> None:
        scenario, family = FIXTURES[name]

        def factory(sc, consumer, **kwargs):  # (no waiting: every call at once)
            return ReplayRunner(
                sc, consumer, self.events[name, size], **{**kwargs, "mode": Mode.FAST}
            )

        app = make_app(
            AppConfig(scenario=scenario, family=family, step=True),
            runner_factory=factory,
            theme=THEME,
        )
        app.animation_level = "none"
        first, done = True, None
        try:
            async with app.run_test(size=size) as pilot:
                while True:
                    keys, done = await jobs.get()
                    if keys is None:
                        await pilot.press("q")
                        done.set_result(None)
                        break
                    if not first:
                        await pilot.press("r")  # (the factory reads the new events)
                    first = False
                    problem = await self._look(app, pilot, keys)
                    done.set_result(problem)
                    if problem is not None:
                        break
        except Exception as exc:
            if done is not None and not done.done():
                done.set_result(f"the app stopped: {exc!r}")
        finally:
            if self.jobs.get((name, size)) is jobs:
                del self.jobs[name, size]  # (a fresh app for the next example)

    @staticmethod
    async def _look(app, pilot, keys) -> str | None:
        """None, or what went wrong (the app's own exception, or a hang)."""
        deadline = time.monotonic() + 10
        while not (app.run_screen.settled and app.run_screen.view.outcome is not None):
            if app._exception is not None or not app.is_running:
                break
            if time.monotonic() > deadline:
                return "the replay did not finish within 10 s"
            await pilot.pause(0.01)
        if app.is_running and app._exception is None:
            await pilot.press(*keys)
            await pilot.pause()
            app.screen._compositor.render_full_update()
        if app._exception is not None or not app.is_running:
            return f"the app stopped: {app._exception!r}"
        return None

    async def _submit(self, name, size, keys):
        if (name, size) not in self.jobs:
            self.jobs[name, size] = asyncio.Queue()
            self.tasks.append(self.loop.create_task(self._app(name, size, self.jobs[name, size])))
        done = self.loop.create_future()
        await self.jobs[name, size].put((keys, done))
        return await done

    def play(self, name: str, size: tuple[int, int], events: list, keys) -> str | None:
        self.events[name, size] = events
        return self._run(self._submit(name, size, keys))

    async def _close(self) -> None:
        for key in list(self.jobs):
            await self._submit(*key, None)
        await asyncio.gather(*self.tasks)

    def close(self) -> None:
        try:
            self._run(self._close())
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(5)


@pytest.fixture(scope="module")
def driver():
    driver = Driver()
    yield driver
    driver.close()


REFUSAL = re.compile(r"(?P<path>.+), line (?P<line>[0-9]+): (?P<reason>.+)\Z")
TALLY = {"refused": 0, "played": 0}


@pytest.mark.parametrize("size", SIZES, ids=lambda size: f"{size[0]}x{size[1]}")
@settings(
    max_examples=150,  # (at each size: 300 in all; about 40 s a size on this machine, alone)
    deadline=None,  # (the seed: conftest's "repeatable" profile)
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.function_scoped_fixture,
        HealthCheck.data_too_large,
    ],
)
@example(case=issue_24(rtt=None))
@example(case=issue_24(rtt=None, cwnd=2147483648, retrans=1 << 62))
@given(case=mutated())
def test_a_mutated_recording_is_refused_in_one_line_or_drawn(driver, tmp_path, size, case):
    """Each size a test of its own (the issue's two recordings at both)."""
    name, text = case
    path = tmp_path / "mutated.jsonl"
    path.write_text(text)
    try:
        recording = read_recording(str(path))
    except RecordingError as exc:
        said = str(exc)
        shape = REFUSAL.match(said)
        assert shape and shape["path"] == str(path) and "\n" not in said, said
        assert 1 <= int(shape["line"]) <= text.count("\n") + 1 and not raw_in(said), said
        assert len(said) < 600 and "Traceback" not in said, said
        TALLY["refused"] += 1
        return
    TALLY["played"] += 1
    problem = driver.play(name, size, recording.events, KEYS)
    assert problem is None, problem


def test_the_fuzz_played_as_well_as_refused():
    """The mutations are not all refused: the app really drew a good share of them (this
    runs after the fuzz, in file order)."""
    if TALLY["played"] + TALLY["refused"] == 0:
        pytest.skip("the fuzz did not run (selected alone)")
    assert TALLY["played"] >= 30 and TALLY["refused"] >= 20, TALLY
