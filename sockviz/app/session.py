"""The app's link to its runs: the runner, the batcher that brings its events, the recorder.

One :class:`Session` per app. It starts a run of a scenario (in the app's own engine process
unless a runner factory was given: a replay, an outside peer, a test's recorded run), stops
it, and says whether the engine waits with every event delivered (:meth:`settled`). It keeps
the run's controls - step or play, and the pace - across runs, as the user left them. It
knows nothing of Textual: the app hands it a function that takes a batch of events.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from sockviz.app.config import AppConfig
from sockviz.engine.events import Event
from sockviz.engine.record.recordings import Recorder
from sockviz.engine.run.engine_process import EngineProcess
from sockviz.engine.run.event_batcher import Batcher, Tee
from sockviz.engine.run.gate import Gate, Mode
from sockviz.engine.run.runner_protocols import EventSink, Runner, RunnerFactory
from sockviz.engine.scenarios.linktable import merge_link
from sockviz.engine.scenarios.scenario_types import Scenario

#: Batches of engine events the UI takes a second, at most: enough to follow a run call by
#: call, and a frame at least every 150 ms while a bulk transfer's counters move. Every
#: frame drawn is time the engine's threads wait for the GIL: at 10 a second a 4 GiB
#: transfer ran measurably slower (python -m sockviz.bench).
UI_BATCH_RATE = 7

BatchPost = Callable[[list[Event], int], object]
"""Where a run's batches go: ``post(events, generation)``, called on the batcher's thread
(the app posts them to itself as a message)."""


class Session:
    """Runs, one after another. See the module docstring."""

    def __init__(
        self,
        runner_factory: RunnerFactory | None = None,
        wire: str = "off",
        mode: Mode = Mode.PLAY,
        pace: float = 1.0,
    ) -> None:
        self.engine: EngineProcess | None
        """The engine process for live runs - the app's own, or an outside peer's runner
        factory's (closed on quit)."""
        self.factory: RunnerFactory
        if runner_factory is None:
            self.engine = self.factory = EngineProcess(wire)
        else:
            self.engine, self.factory = getattr(runner_factory, "engine", None), runner_factory
        self.runner: Runner | None = None
        self.batcher: Batcher | None = None
        self.recorder: Recorder | None = None
        """The --record file's writer for the run on screen, if recording."""
        self.mode = mode
        """Step, play or fast: how the next call is let through (kept across runs)."""
        self.pace = pace
        """Seconds between calls when playing (kept across runs)."""
        self.generation = 0
        """Which run is on: batches from a run that was restarted are dropped."""
        self.stop_seconds = 0.0
        """How long the last stop took (the tests hold it under a second)."""
        self.stop_parts: dict[str, float] = {}
        """Where the last stop's time went, part by part (what a slow stop is asked)."""
        self.stopped_cleanly = True
        self._running = False
        self.note: str | None = None
        """Something to tell of the last run started, that is not a failure (a scenario
        that runs on loopback only, though a link was asked for)."""

    def start(self, scenario: Scenario, config: AppConfig, post: BatchPost) -> str | None:
        """Start a run of ``scenario``; its events go to ``post(events, generation)``.
        What went wrong, in one line, or None."""
        self.generation += 1
        self._running = True
        self.batcher = Batcher(
            _BatchesOf(post, self.generation), rate=UI_BATCH_RATE, acknowledge=True
        )
        sink: EventSink = self.batcher
        problem = None
        if config.record:
            sink, problem = self._recording_to(self.batcher, scenario, config)
        try:
            options: dict[str, Any] = {"size": config.size} if config.size else {}
            if config.pcap and self.engine is not None:
                options["pcap"] = config.pcap
            link = merge_link(config.link, scenario.link)  # (key by key: see there)
            self.note = None
            if link is not None and scenario.loopback_only:
                self.note = f"{scenario.name} runs on loopback: {scenario.loopback_only}"
            elif link is not None and self.factory is self.engine and config.family != "unix":
                options["link"] = link
            self.runner = self.factory(
                scenario,
                sink,
                family=config.family,
                port=config.port,
                mode=self.mode,
                pace=self.pace,
                **options,
            )
            self.runner.start()
        except (ValueError, OSError) as exc:
            self.runner = None
            return str(exc)
        return problem

    def _recording_to(
        self, batcher: Batcher, scenario: Scenario, config: AppConfig
    ) -> tuple[EventSink, str | None]:
        """A sink that writes the run to the --record file, then hands it on."""
        assert config.record is not None
        try:
            # (the command line made the file, refusing one already there unless told to
            # overwrite it; each run writes it afresh, never through a symlink)
            self.recorder = Recorder(
                config.record,
                config.scenario_file or scenario.name,
                config.family,
                config.closer,
                config.size,
                replace=True,
            )
        except OSError as exc:
            return batcher, f"not recording: cannot write {config.record}: {exc.strerror or exc}"
        return Tee(self.recorder, batcher), None

    def stop(self, quitting: bool = False) -> None:
        """Stop the run (every socket closed), and on quitting the engine process too."""
        if not self._running and not (quitting and self.engine is not None):
            return  # (stopped already: the time it took stands)
        self._running = False
        started = mark = time.monotonic()
        self.stop_parts = {}

        def took(part: str) -> None:
            nonlocal mark
            now = time.monotonic()
            self.stop_parts[part], mark = round(now - mark, 3), now

        if quitting and self.engine is not None and self.engine.starting:
            # Still starting (Python and its imports: a second and more on a loaded
            # machine), it has read no run: nothing of it to stop but the process itself,
            # ended first - asked, then killed - so the run's stop below asks nobody.
            self.engine.close(0.5)
            self.engine = None
            took("engine")
        if self.runner is not None:
            self.stopped_cleanly = self.runner.stop(0.5)
            took("run")
        if self.recorder is not None:
            self.recorder.close()
            self.recorder = None
            took("recording")
        if self.batcher is not None:
            self.batcher.close(0.5)
            took("batcher")
        if quitting and self.engine is not None:
            self.engine.close(0.5)
            self.engine = None
            took("engine")
        self.stop_seconds = time.monotonic() - started

    # --- the run's controls -------------------------------------------------------------
    def step(self) -> None:
        if self.runner is not None:
            self.runner.step()

    def set_mode(self, mode: Mode) -> None:
        self.mode = mode
        if self.runner is not None:
            self.runner.gate.set_mode(mode)

    def set_pace(self, pace: float) -> None:
        self.pace = Gate.clamp(pace)
        if self.runner is not None:
            self.runner.gate.set_pace(self.pace)

    def ack(self) -> None:
        """The UI is ready for the next batch."""
        if self.batcher is not None:
            self.batcher.ack()

    def total_steps(self, scenario: Scenario) -> int:
        return self.runner.total_steps if self.runner is not None else len(scenario.steps)

    def settled(self, applied: int) -> bool:
        """True when the engine waits (at the gate, or finished) and the UI has applied
        ``applied`` events - every one the batcher delivered."""
        runner, batcher = self.runner, self.batcher
        if runner is None or batcher is None:
            return True
        engine_waits = runner.finished or runner.gate.waiting > 0
        return engine_waits and batcher.idle and applied == batcher.delivered


class _BatchesOf:
    """The batcher's delivery for one run: each batch goes to the app with the run's
    generation, so a batch of a run since restarted is known for what it is."""

    def __init__(self, post: BatchPost, generation: int) -> None:
        self.post = post
        self.generation = generation

    def __call__(self, events: list[Event]) -> None:
        self.post(events, self.generation)
