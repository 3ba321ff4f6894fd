"""The events a recorded real run gives the app, in order, and the view folded from them."""

from __future__ import annotations

import json
import pathlib

from sockviz.engine import scenarios
from sockviz.engine.record.trace_format import read_trace
from sockviz.engine.run.gate import Mode
from sockviz.engine.run.replay_runner import ReplayRunner
from sockviz.view.history import History
from sockviz.view.run_view import RunView
from sockviz.view.words import log_text
from tests.helpers import Collector

DATA = pathlib.Path(__file__).parents[1] / "app" / "data"
GOLDEN = pathlib.Path(__file__).parent / "data"

#: Each recorded run: (scenario, family, closer).
RUNS = {
    "address-in-use-ipv4": ("address-in-use", "ipv4", None),
    "backlog-full-ipv4": ("backlog-full", "ipv4", None),
    "broken-pipe-ipv4": ("broken-pipe", "ipv4", None),
    "bulk-ipv4": ("bulk", "ipv4", None),
    "half-close-ipv4": ("half-close", "ipv4", None),
    "message-boundaries-ipv4": ("message-boundaries", "ipv4", None),
    "multi-client-ipv4": ("multi-client", "ipv4", None),
    "refused-ipv4": ("refused", "ipv4", None),
    "reset-ipv4": ("reset", "ipv4", None),
    "tcp-echo-ipv4": ("tcp-echo", "ipv4", None),
    "tcp-echo-ipv6": ("tcp-echo", "ipv6", None),
    "tcp-echo-port-in-use": ("tcp-echo", "ipv4", None),
    "tcp-echo-unix": ("tcp-echo", "unix", None),
    "time-wait-ipv4": ("time-wait", "ipv4", None),
    "time-wait-server-ipv4": ("time-wait", "ipv4", "server"),
    "udp-echo-ipv4": ("udp-echo", "ipv4", None),
    "websocket-ipv4": ("websocket", "ipv4", None),
}

#: The clock the app's tests freeze (every event arrives then).
FROZEN = 1000.0

_cache: dict[str, list] = {}


def scenario_of(run: str):
    name, _family, closer = RUNS[run]
    return scenarios.get(name, closer=closer)


def events_of(run: str) -> list:
    """Every event the app gets from this recorded run, in order (the replay's own step
    announcements and outcome included)."""
    if run not in _cache:
        _name, family, _closer = RUNS[run]
        recorded = read_trace((DATA / f"{run}.jsonl").read_text().splitlines())
        collector = Collector()
        runner = ReplayRunner(scenario_of(run), collector, recorded, family=family, mode=Mode.FAST)
        runner.start()
        assert runner.wait(10)
        _cache[run] = list(collector.events)
    return _cache[run]


def history_of(run: str, every: int = 500) -> History:
    history = History(scenario_of(run), every=every)
    for event in events_of(run):
        history.add(FROZEN, event)
    return history


def golden(run: str) -> list[dict]:
    """What the app showed after each step of the run, before the view existed."""
    return json.loads((GOLDEN / f"{run}.json").read_text())


def shown(view: RunView) -> dict:
    """A view as the golden files say a screen (the same keys, the same forms)."""
    at = view.folded
    return {
        "models": {
            n: [
                m.state.value if m.state else None,
                m.kernel,
                m.local,
                m.remote,
                m.sent,
                m.received,
                m.error,
                m.expected,
                list(m.queue) if m.queue else None,
                m.kernel_deadline,
                sorted(s.value for s in m.visited),
                m.previous.value if m.previous else None,
                [s.value for s in m.path],
                m.implicit_bind,
            ]
            for n, m in view.models.items()
        },
        "ladder": [
            [
                r.index,
                r.side,
                r.label,
                r.arrow,
                r.delivered(at),
                r.data.hex() if r.data is not None else None,
                r.error,
                r.socket,
                r.call,
                r.peer,
            ]
            for r in view.shown_rows()
        ],
        "log": [log_text(event) for event in view.log()],
        "steps_done": view.steps_done,
        "pending": view.pending.step if view.pending else None,
        "last_done": view.last_done[0].seq if view.last_done else None,
        "outcome": view.outcome.outcome if view.outcome else None,
    }
