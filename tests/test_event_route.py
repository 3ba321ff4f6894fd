"""The route of an event, socket -> screen, as docs/architecture.md writes it once.

A real ``connect()`` of tcp-echo is followed hop by hop - in this process for the engine's
part, then through the real engine process, the batcher and the app to the fold and the
widgets - and each hop is a name the document cites, so the document and the code cannot
drift apart unseen: a renamed hop fails here, and so does a name the document cites that no
longer exists.
"""

from __future__ import annotations

import functools
import importlib
import os
import pathlib
import re
import threading
from collections.abc import Callable
from typing import Any

import pytest

from sockviz.engine import scenarios
from sockviz.engine.events import CallEvent, Event, Segment
from sockviz.engine.run.event_batcher import Batcher
from sockviz.engine.run.gate import Mode
from sockviz.engine.run.runner import Runner
from sockviz.engine.states import Call
from sockviz.engine.wire.capture import Capture, WireUnavailable

ROOT = pathlib.Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "architecture.md"

#: The hops of a call's event, in order, as the document names them (``module:Qualified``).
ENGINE_HOPS = [
    "sockviz.engine.sockets.traced_socket:TracedSocket.connect",
    "sockviz.engine.sockets.traced_socket:TracedSocket.emit",
    "sockviz.engine.sockets.tracer:Tracer.deliver",
    "sockviz.engine.run.runner_protocols:EventSink",
]
PROCESS_HOPS = [
    "sockviz.engine.run.engine_child:_ChildRun",
    "sockviz.engine.run.event_batcher:Batcher",
    "sockviz.engine.run.engine_child:_ChildRun._deliver",
    "sockviz.engine.run.engine_process:write_frame",
    "sockviz.engine.run.engine_process:EngineProcess._read",
    "sockviz.engine.run.engine_process:RemoteRunner._take",
]
SCREEN_HOPS = [
    "sockviz.app.session:Session.start",
    "sockviz.app.app:SockvizApp._post_batch",
    "sockviz.app.messages:EngineEvents",
    "sockviz.app.app:SockvizApp.on_engine_events",
    "sockviz.app.run_screen:RunScreen.take",
    "sockviz.view.history:History.add",
    "sockviz.view.fold:apply",
    "sockviz.app.run_screen:RunScreen._draw",
    "sockviz.app.widgets.stage:Stage.show",
    "sockviz.app.widgets.ladder:Ladder.show",
    "sockviz.app.widgets.runlog:RunLog.show",
]
#: A captured segment's way to the same sink.
SEGMENT_HOPS = [
    "sockviz.engine.wire.capture:Capture.read",
    "sockviz.engine.wire.segments:SegmentReader.read",
    "sockviz.engine.sockets.tracer:Tracer.segments",
    "sockviz.engine.sockets.tracer:Tracer.deliver",
]


def resolve(reference: str) -> object:
    """``module:Qualified.name`` (or a dotted ``sockviz.x.y.Name``) to the object it names."""
    if ":" in reference:
        module, _, qualified = reference.partition(":")
        found: object = importlib.import_module(module)
        for part in filter(None, qualified.split(".")):
            found = getattr(found, part)
        return found
    parts = reference.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            found = importlib.import_module(".".join(parts[:cut]))
        except ModuleNotFoundError:
            continue
        for part in parts[cut:]:
            found = getattr(found, part)
        return found
    raise ModuleNotFoundError(reference)


def test_the_document_writes_the_route_this_test_follows():
    """Every hop followed below is cited in the document, in the order it is followed."""
    text = DOC.read_text()
    for hops in (ENGINE_HOPS + PROCESS_HOPS + SCREEN_HOPS, SEGMENT_HOPS):
        at = 0
        for hop in hops:
            found = text.find(f"`{hop}`", at)
            assert found >= 0, f"the document does not cite {hop} (after the hop before it)"
            at = found


def test_every_name_the_document_cites_exists():
    """A module, class or function the document cites that is gone fails here (a rename
    must carry the document with it)."""
    text = DOC.read_text()
    references = set(re.findall(r"`(sockviz[\w.]*:[\w.]+)`", text))
    references |= set(re.findall(r"`(sockviz(?:\.\w+)+)(?:\(\))?`", text))
    assert len(references) > 20
    for reference in sorted(references):
        resolve(reference)  # (raises, naming it, when it is not there)
    for folder in re.findall(r"`(sockviz/[\w/]+/)`", text):
        assert (ROOT / folder).is_dir(), folder
    for path in re.findall(r"`((?:sockviz|tests|docs)/[\w/]+\.(?:py|md|tcss))`", text):
        assert (ROOT / path).is_file(), path


class Spy:
    """Wraps the functions of a route to see what passes through each, in order."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.monkeypatch = monkeypatch
        self.seen: dict[str, list[tuple[tuple[Any, ...], Any]]] = {}
        self.lock = threading.Lock()

    def on(self, reference: str, into: object | None = None, attribute: str | None = None) -> None:
        """Spy on ``reference`` (``module:Owner.name``); ``into``/``attribute``: where the
        callers find it, when they imported it by name (``history.apply``)."""
        module, _, qualified = reference.partition(":")
        *owners, name = qualified.split(".")
        owner: object = importlib.import_module(module)
        for part in owners:
            owner = getattr(owner, part)
        real: Callable[..., Any] = getattr(owner, name)
        seen = self.seen.setdefault(reference, [])

        @functools.wraps(real)
        def spy(*args: Any, **kwargs: Any) -> Any:
            result = real(*args, **kwargs)
            with self.lock:
                seen.append((args, result))
            return result

        self.monkeypatch.setattr(into if into is not None else owner, attribute or name, spy)

    def args(self, reference: str) -> list[tuple[Any, ...]]:
        with self.lock:
            return [args for args, _ in self.seen.get(reference, [])]

    def results(self, reference: str) -> list[Any]:
        with self.lock:
            return [result for _, result in self.seen.get(reference, [])]


def _connects(events: list[Event]) -> list[CallEvent]:
    return [e for e in events if isinstance(e, CallEvent) and e.call is Call.CONNECT]


def test_a_real_connect_from_the_socket_to_the_runs_sink(monkeypatch):
    """The engine's half, in this process: the call's event, made once by the traced
    socket, is the very object the tracer delivers and the run's sink (a batcher) takes."""
    spy = Spy(monkeypatch)
    for hop in (
        "sockviz.engine.sockets.traced_socket:TracedSocket.connect",
        "sockviz.engine.sockets.traced_socket:TracedSocket.emit",
        "sockviz.engine.sockets.tracer:Tracer.deliver",
        "sockviz.engine.run.event_batcher:Batcher.__call__",
    ):
        spy.on(hop)
    batches: list[list[Event]] = []
    sink = Batcher(batches.append, rate=100)
    runner = Runner(scenarios.get("tcp-echo"), sink, family="ipv4", mode=Mode.FAST)
    try:
        runner.start()
        assert runner.wait(20), "tcp-echo did not end"
    finally:
        runner.stop()
        sink.close()
    made = spy.results("sockviz.engine.sockets.traced_socket:TracedSocket.connect")
    assert len(made) == 1 and made[0].error is None
    connect = made[0]
    assert any(
        event is connect
        for event in spy.results("sockviz.engine.sockets.traced_socket:TracedSocket.emit")
    )
    delivered = [args[1] for args in spy.args("sockviz.engine.sockets.tracer:Tracer.deliver")]
    assert sum(event is connect for event in delivered) == 1
    taken = [args[1] for args in spy.args("sockviz.engine.run.event_batcher:Batcher.__call__")]
    assert [event for event in taken if event is connect] == [connect]
    assert any(event is connect for batch in batches for event in batch)


def test_a_captured_segment_from_the_wire_to_the_runs_sink(monkeypatch):
    """A captured segment's half: the SYN that connect() sent is read from the capture,
    made a Segment by the segment reader, and delivered by the tracer after the call's
    event, caused by it."""
    try:
        capture = Capture()
    except WireUnavailable as exc:
        pytest.skip(f"the wire cannot be watched here: {exc}")
    spy = Spy(monkeypatch)
    for hop in SEGMENT_HOPS:
        spy.on(hop)
    events: list[Event] = []
    runner = Runner(
        scenarios.get("tcp-echo"), events.append, family="ipv4", mode=Mode.FAST, capture=capture
    )
    try:
        runner.start()
        assert runner.wait(20), "tcp-echo did not end"
    finally:
        runner.stop()
    [connect] = _connects(events)
    frames = [
        frame
        for result in spy.results("sockviz.engine.wire.capture:Capture.read")
        for frame in result
    ]
    assert frames, "the capture read no frame"
    read = [
        segment
        for result in spy.results("sockviz.engine.wire.segments:SegmentReader.read")
        for segment in result
    ]
    syn = next(s for s in read if isinstance(s, Segment) and s.flags == "SYN")
    assert syn.cause == connect.seq
    causes = [args[1] for args in spy.args("sockviz.engine.sockets.tracer:Tracer.segments")]
    assert connect.seq in causes
    delivered = [args[1] for args in spy.args("sockviz.engine.sockets.tracer:Tracer.deliver")]
    assert delivered.index(connect) < delivered.index(syn)
    assert events.index(connect) < events.index(syn)


async def test_a_real_connect_through_the_engine_process_to_the_screen(monkeypatch):
    """The TUI's route: tcp-echo's connect(), made in the engine process, read from its
    pipe, batched for the UI, posted to the app, folded into the view and drawn - the ladder
    and the log say it, the client's card shows it connected."""
    from sockviz.view import history
    from tests.app.app_helpers import live_app, screen_text, steps

    spy = Spy(monkeypatch)
    for hop in (
        "sockviz.engine.run.engine_process:RemoteRunner._take",
        "sockviz.engine.run.event_batcher:Batcher.__call__",
        "sockviz.app.app:SockvizApp._post_batch",
        "sockviz.app.app:SockvizApp.on_engine_events",
        "sockviz.app.run_screen:RunScreen.take",
        "sockviz.app.run_screen:RunScreen._draw",
        "sockviz.app.widgets.stage:Stage.show",
        "sockviz.app.widgets.ladder:Ladder.show",
        "sockviz.app.widgets.runlog:RunLog.show",
    ):
        spy.on(hop)
    spy.on("sockviz.view.fold:apply", into=history, attribute="apply")

    app = live_app("tcp-echo", step=True)
    async with app.run_test(size=(100, 30)) as pilot:
        await steps(pilot, 6)  # (socket, bind, listen, socket, ... connect(): the 6th call)
        engine = app.session.engine
        assert engine is not None and engine.pid not in (None, os.getpid())

        # the engine process's pipe: its reader hands the run the batch it read
        arrived = [
            event
            for args in spy.args("sockviz.engine.run.engine_process:RemoteRunner._take")
            for event in args[1]
        ]
        [connect] = _connects(arrived)
        assert connect.socket == "client" and connect.error is None

        # the UI's batcher takes it and posts it, the app gets it in one EngineEvents
        # message and hands it to the run's screen
        assert connect in [
            args[1] for args in spy.args("sockviz.engine.run.event_batcher:Batcher.__call__")
        ]
        sent = [e for args in spy.args("sockviz.app.app:SockvizApp._post_batch") for e in args[1]]
        assert connect in sent
        posted = [
            event
            for args in spy.args("sockviz.app.app:SockvizApp.on_engine_events")
            for event in args[1].events
        ]
        assert connect in posted
        taken = [e for args in spy.args("sockviz.app.run_screen:RunScreen.take") for e in args[1]]
        assert connect in taken

        # the fold: the view after it holds the client connected
        folded = [(args[0], args[1]) for args in spy.args("sockviz.view.fold:apply")]
        [(view, event)] = [
            (v, e) for v, e in folded if isinstance(e, CallEvent) and e.seq == connect.seq
        ]
        assert event == connect
        assert view is app.run_screen.view

        # the screen drew what a batch changed (not the whole view again), and each
        # widget showed the view
        drawn = spy.args("sockviz.app.run_screen:RunScreen._draw")
        assert any(len(args) > 1 and args[1] is not None for args in drawn)
        for hop in (
            "sockviz.app.widgets.stage:Stage.show",
            "sockviz.app.widgets.ladder:Ladder.show",
            "sockviz.app.widgets.runlog:RunLog.show",
        ):
            assert any(args[1] is app.run_screen.view for args in spy.args(hop)), hop

        # and the screen says it
        assert "connect(" in "\n".join(screen_text(app))
        assert app.run_screen.view.models["client"].state.value == "connected"
        assert "ESTABLISHED" in str(app.run_screen.stage.cards["client"].border_subtitle)
