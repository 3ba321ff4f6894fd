"""The sockviz TUI: cards, ladder, explanation, payload and log, driven by engine events.

The app owns a runner, made by the ``runner_factory`` it is given. Live runs play in an
engine process of the app's own (:class:`~sockviz.engine.remote.EngineProcess`: a real
Runner there, so drawing a frame here never holds up the engine's threads); tests and the
screenshots replay recorded real runs (:class:`~sockviz.engine.replay.ReplayRunner`), and
``--listen``/``--connect`` meet an outside peer in this process. Events reach a
:class:`~sockviz.engine.sink.Batcher`, which posts them here as
:class:`~sockviz.app.messages.EngineEvents` a few times a second.
Everything below runs on the UI thread; no widget is touched from anywhere else. The app
talks back to the engine only to say "one step", "play/pause", "faster", "stop".
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import errno
import os
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from textual.app import App, ComposeResult, ScreenStackError
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.content import Content
from textual.css.query import NoMatches
from textual.widgets import Footer, Header, Static

from sockviz.app.messages import EngineEvents
from sockviz.app.terminal import TerminalGone, driver_class
from sockviz.app.widgets.explain import (
    ExplainPanel,
    NextPanel,
    done_content,
    next_content,
)
from sockviz.app.widgets.ladder import MAX_ROWS, Ladder, LadderEntry
from sockviz.app.widgets.mounting import mount_in_order
from sockviz.app.widgets.payload import PayloadView
from sockviz.app.widgets.socket_card import ORDER, CardModel, SocketCard, human_bytes
from sockviz.app.widgets.status import Position, StatusBar
from sockviz.engine import scenarios as scenario_registry
from sockviz.engine.events import (
    CallEvent,
    Checked,
    Elided,
    Event,
    KernelEvent,
    Progress,
    RunFinished,
    StepPending,
)
from sockviz.engine.families import FAMILIES
from sockviz.engine.gate import Mode
from sockviz.engine.inert import inert, inert_event, inert_lines
from sockviz.engine.remote import EngineProcess
from sockviz.engine.scenarios.model import Scenario
from sockviz.engine.sink import Batcher, Tee
from sockviz.engine.states import INITIAL, TRANSITIONS, Call, Role, State, Transport

if TYPE_CHECKING:
    from textual.widgets import Input, Log

    from sockviz.app.widgets.lower import MessageInput
    from sockviz.engine.quiz import Question

#: Seconds between calls when playing: slow enough to read, fast enough to keep a class.
CLASSROOM_PACE = 1.5

#: Batches of engine events the UI takes a second, at most: enough to follow a run call by
#: call, and a frame at least every 150 ms while a bulk transfer's counters move. Every
#: frame drawn is time the engine's threads wait for the GIL: at 10 a second a 4 GiB
#: transfer ran measurably slower (python -m sockviz.bench).
UI_BATCH_RATE = 7

#: Cards kept on screen at most (closed ones go first).
MAX_CARDS = 40

#: Calls and kernel changes of a run kept for export (x).
TRACE_KEPT = 20000

#: Events of a run kept for going back through it (Left/b). A classroom scenario makes a
#: few dozen; a peer flooding --listen can make this many in a minute, and past it the run
#: can no longer be rewound (its export and counters go on). Going back draws the run again
#: up to that moment: at this bound about a second on a small machine.
HISTORY_KEPT = 5000

#: Lines the log keeps.
LOG_LINES = 2000

#: The longest message the client may send: what the scenario's receive takes in one call.
MESSAGE_LIMIT = 65536

#: Signals that quit the app the way q does.
QUIT_SIGNALS = ("SIGTERM", "SIGHUP", "SIGINT")


FAMILY_LABEL = {"ipv4": "IPv4", "ipv6": "IPv6", "unix": "Unix"}


@dataclass
class AppConfig:
    """What to run, and how to start."""

    scenario: str = scenario_registry.DEFAULT
    family: str = "ipv4"
    port: int = 0
    step: bool = False
    """Start paused in step mode (else play at :data:`CLASSROOM_PACE`)."""
    pace: float = CLASSROOM_PACE
    closer: str | None = None
    """time-wait: which side closes first."""
    size: int | None = None
    """bulk: how many bytes to move."""
    outside: str | None = None
    """``listen`` or ``connect`` when the other end is a real outside program."""
    where: str | None = None
    """For an outside peer: the address, as the user gave it."""
    record: str | None = None
    """``--record``: the file each run is written to (afresh at each run's start)."""
    replay: str | None = None
    """``--replay``: the recording being played (its path)."""
    scenario_file: str | None = None
    """``--scenario path.toml``: the file the scenario was read from (a recording names it)."""
    quiz: bool = False
    """``--quiz``: predict mode (a question before each call; starts in step mode)."""


RunnerFactory = Callable[..., object]
"""``factory(scenario, consumer, *, family, port, mode, pace)`` -> a runner."""


def plan_path(scenario: Scenario, name: str, role: Role, transport: Transport) -> tuple[State, ...]:
    """The states a socket's strip shows: those its scenario steps take it through.

    A socket whose first ``connect``/``sendto`` binds it implicitly shows ``bound`` too,
    lit when the kernel binds it.
    """
    state = INITIAL[role]
    seen = {state}
    for step in scenario.steps + scenario.exchange:
        if step.socket != name or step.expect_error or step.call in (Call.SOCKET, Call.ACCEPT):
            continue
        after = TRANSITIONS.get((transport, role, state, step.call))
        if after is None:
            continue
        if state is State.CREATED and step.call in (Call.CONNECT, Call.SENDTO):
            seen.add(State.BOUND)
        seen.add(after)
        state = after
    if len(seen) == 1:  # not in the scenario (a replay of something else): every state
        seen = {s for (t, r, s, _), a in TRANSITIONS.items() if t is transport and r is role}
        seen |= {State.CLOSED, INITIAL[role]}
    return tuple(s for s in ORDER if s in seen)


def _port(address: str | None) -> str:
    if not address:
        return ""
    _head, sep, tail = address.rpartition(":")
    return tail if sep and tail.isdigit() else address


def _short_option(args: str | None) -> str:
    """``socket.SOL_SOCKET, socket.SO_REUSEADDR, 1`` -> ``SO_REUSEADDR=1``."""
    parts = [p.strip().removeprefix("socket.") for p in (args or "").split(",")]
    return f"{parts[1]}={parts[2]}" if len(parts) == 3 else (args or "")


def _lane(model: CardModel) -> str:
    """The id of the lane a socket's card goes in."""
    return "client-lane" if model.role is Role.CLIENT else "server-lane"


class SockvizApp(App):
    """See the module docstring."""

    CSS_PATH = "sockviz.tcss"
    TITLE = "sockviz"
    AUTO_FOCUS = None
    ENABLE_COMMAND_PALETTE = False
    HORIZONTAL_BREAKPOINTS: ClassVar[list[tuple[int, str]]] = [(0, "-narrow"), (130, "-wide")]
    VERTICAL_BREAKPOINTS: ClassVar[list[tuple[int, str]]] = [(0, "-short"), (38, "-tall")]

    BINDINGS: ClassVar[list[Binding]] = [
        Binding("right", "step", "Step"),
        Binding("n", "step", "Step", show=False),
        Binding("left", "back", "Back"),
        Binding("b", "back", "Back", show=False),
        Binding("home", "first", "Start of the run", show=False),
        Binding("end", "live", "Live edge", show=False),
        Binding("space", "toggle_play", "Play"),
        Binding("q", "quit", "Quit"),
        Binding("question_mark", "help", "Help", key_display="?"),
        Binding("r", "restart", "Restart"),
        Binding("s", "pick_scenario", "Scenario"),
        Binding("f", "switch_family", "IPv4/6"),
        Binding("i", "type_message", "Message"),
        Binding("plus,equals_sign", "faster", "Speed", key_display="+/-"),
        Binding("minus", "slower", "Slower", show=False),
        Binding("ctrl+q", "quit", "Quit", show=False, priority=True),
        Binding("escape", "leave_input", "Leave input", show=False),
        Binding("e", "show_tab('tab-next')", "Next call", show=False),
        Binding("p", "show_tab('tab-payload')", "Payload", show=False),
        Binding("l", "show_tab('tab-log')", "Log", show=False),
        Binding("x", "export", "Export", show=False),
        Binding("g", "toggle_quiz", "Predict", show=False),
        Binding("ctrl+s", "save_svg", "SVG screenshot", show=False),
    ]

    def get_theme_variable_defaults(self) -> dict[str, str]:
        """One colour per lifecycle state and per kernel state family (used by the .tcss)."""
        return {
            "state-created": "#9e9e9e",
            "state-bound": "#5fafff",
            "state-listening": "#af87ff",
            "state-connected": "#5fd787",
            "state-half-closed": "#ffaf5f",
            "state-closed": "#d75f5f",
            "state-future": "#6c6c6c",
            "kernel-listen": "#af87ff",
            "kernel-syn": "#ffd75f",
            "kernel-established": "#5fd787",
            "kernel-fin-wait": "#ffaf5f",
            "kernel-close-wait": "#ff875f",
            "kernel-time-wait": "#ffd700",
            "kernel-close": "#808080",
        }

    def __init__(
        self,
        config: AppConfig | None = None,
        runner_factory: RunnerFactory | None = None,
        scenarios: dict[str, Scenario] | None = None,
        clock: Callable[[], float] = time.monotonic,
        theme: str | None = None,
    ) -> None:
        super().__init__(driver_class=driver_class())
        self.config = config or AppConfig()
        self._engine = None if runner_factory is not None else EngineProcess()
        """The engine process for live runs, when the app runs its own (closed on quit)."""
        self.runner_factory = runner_factory or self._engine
        self.scenarios = scenarios or collections.ChainMap({}, scenario_registry.REGISTRY)
        """Name -> scenario (a ChainMap: a scenario file's built-ins are read when asked for)."""
        if self.config.closer and self.config.scenario == "time-wait":
            self.scenarios["time-wait"] = scenario_registry.get("time-wait",
                                                                closer=self.config.closer)
        self.clock = clock
        self.mode = Mode.STEP if self.config.step or self.config.quiz else Mode.PLAY
        self.quiz = self.config.quiz
        """Predict mode: before each call at the live edge, a question (g toggles it)."""
        self.quiz_score = (0, 0)
        """Right answers, questions answered: over every run of the session."""
        self.pace = self.config.pace
        self.flash_seconds = 0.7
        """How long a card shows the lit arrow into its new state after a call."""
        self.runner = None
        self.batcher: Batcher | None = None
        self.recorder = None
        """The --record file's writer for the run on screen, if recording."""
        self.generation = 0
        self.theme_name = theme
        self.stop_seconds = 0.0
        self.stopped_cleanly = True
        self._quitting = False
        """Set on quit: nothing is mounted after that."""
        self._lower_mounting = False
        self._exit_when_ready = False
        self._lower = False
        """Whether the lower panels (explain, next, payload, log) are mounted yet."""
        self._log_backlog: list[str] = []
        self._payload_entry: LadderEntry | None = None
        self._replaying = False
        """Drawing events from history again: no notification."""
        self._moved: set[str] | None = None
        """Drawing history one step forward: the cards that moved into a new state, shown
        moving once it is drawn (None: drawn still)."""
        self._reusable_cards: dict[str, SocketCard] = {}
        """While a moment is drawn again: the cards on screen, kept for their sockets."""
        self._scroll_to: dict[str, str] = {}
        """The events being drawn: each lane's last socket to show (lane id -> name)."""
        self._in_view: dict[str, SocketCard] = {}
        """The card each lane is (being) scrolled to: a newer one stops an older's retry."""
        self._reset_state()

    # --- state --------------------------------------------------------------------------
    def _reset_state(self) -> None:
        """Forget the run: a new one starts (or the app does)."""
        self.calls_seen = 0
        """Call events received from the run (the tests wait on this)."""
        self.events_applied = 0
        """Engine events received since the run started (the tests wait on this)."""
        self.trace_events: collections.deque = collections.deque(maxlen=TRACE_KEPT)
        """The run's calls and kernel changes, for x (export); the oldest go past the cap."""
        self.history: list[tuple[float, Event]] = []
        """Every event of the run with the time it arrived, for going back (time travel)."""
        self.step_starts: list[int] = []
        """Where in :attr:`history` each step's call is: moment ``p`` (``p`` calls made)
        is ``history[:step_starts[p]]``."""
        self.position: int | None = None
        """The moment shown when going back through history; None: the live edge."""
        self.history_dropped = False
        """The run outgrew :data:`HISTORY_KEPT`: there is no going back in it."""
        self.asked: tuple[Question, str] | None = None
        """Predict mode: the question whose call is being made, and the guess."""
        self._asked_call: CallEvent | None = None
        self.predictions: dict[int, tuple[str, str]] = {}
        """Predict mode: step -> (guess, what really happened), for the explanation."""
        self._reset_view()

    def _reset_view(self) -> None:
        """Forget what the screen shows (the run's history stays)."""
        self.models: dict[str, CardModel] = {}
        self.cards: dict[str, SocketCard] = {}
        self.pending: StepPending | None = None
        self.explains: dict[int, str] = {}
        self.expected: dict[int, str | None] = {}
        self.last_done: tuple[CallEvent, State | None] | None = None
        self.steps_done = 0
        """Calls the screen shows made (the live count, unless looking back)."""
        self.outcome: RunFinished | None = None
        self.inflight: dict[tuple[str, str], list[list]] = {}
        self.checks: dict[int, Checked] = {}
        """A scenario file's expectations, checked: step -> the verdict."""
        self._view_time = self.clock()
        """When the event being shown arrived (a TIME_WAIT countdown counts from it)."""

    @property
    def scenario(self) -> Scenario:
        return self.scenarios[self.config.scenario]

    # --- layout -------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        yield Header()
        yield StatusBar(id="status")
        with Horizontal(id="stage"):
            with VerticalScroll(id="client-lane", classes="lane") as lane:
                lane.border_title = "client"
                yield Static("The client's sockets appear here as they are created.",
                             classes="lane-empty")
            yield Ladder(id="ladder")
            with VerticalScroll(id="server-lane", classes="lane") as lane:
                lane.border_title = "server"
                yield Static("The server's sockets appear here as they are created.",
                             classes="lane-empty")
        # The lower panels, and the message line in its bar, are mounted just after the
        # first frame (see _mount_lower).
        yield Vertical(id="message-bar")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        if self.theme_name:
            self.theme = self.theme_name
        self.query_one("#ladder").border_title = "ladder"
        self.call_after_refresh(self._mount_lower)
        self.set_interval(1.0, self._tick)
        self._quit_on_signals()
        self._start_run()

    def _mount_lower(self) -> None:
        """Mount the lower panels, after the first frame - unless the app is quitting."""
        if self._quitting or not self._view_open():
            return
        self._lower_mounting = True
        from sockviz.app.widgets.lower import LowerPanels

        self.default_screen.mount(LowerPanels(LOG_LINES, id="lower"), after="#stage")
        self._message_input()

    def _message_input(self) -> MessageInput:
        """The message line, mounted (hidden in its bar) the first time it is needed."""
        from sockviz.app.widgets.lower import MessageInput

        existing = self.query(MessageInput)
        if existing:
            return existing.first()
        line = MessageInput(
            placeholder="a message for the client to send · Enter sends · Escape leaves",
            id="message",
            max_length=MESSAGE_LIMIT,
        )
        self.query_one("#message-bar").mount(line)
        return line

    def on_lower_panels_ready(self) -> None:
        """The lower panels are mounted: bring them up to what has happened so far."""
        self._lower_mounting = False
        if self._exit_when_ready:
            self.exit(0)  # a quit waited for this (see action_quit)
            return
        if self._quitting or not self._view_open():
            return
        self._lower = True
        self.query_one("#explain").border_title = "what just happened"
        self.query_one("#next-wide").border_title = "next"
        for tabs in self.query("Tabs"):
            tabs.can_focus = False  # → must always step, never move between tabs
        payload = self.query_one(PayloadView)
        payload.decode_websocket = self.scenario.protocol is not None
        payload.show(self._payload_entry)
        if self._log_backlog:
            self._log().write_lines(self._log_backlog)
            self._log_backlog = []
        self._refresh_panels()

    def notify(self, message: str, *, title: str = "", markup: bool = False, **kwargs) -> None:
        """Notifications are plain, inert text here: they can quote a call's arguments, a
        file or an error, and those can hold what a user typed or a peer sent (``[/]``,
        ``[@click=...]``, terminal escapes)."""
        super().notify(inert_lines(message, 600), title=inert(title, 80), markup=False,
                       **kwargs)

    def _quit_on_signals(self) -> None:
        """SIGTERM, SIGHUP and SIGINT quit like q does: sockets closed, threads ended,
        terminal restored. (Without this, SIGTERM kills the process with the terminal still
        in the app's screen.) The handlers are the app's only while it runs: on_unmount
        gives the signals back."""
        self._signals: list[int] = []
        if threading.current_thread() is not threading.main_thread():
            return
        loop = asyncio.get_running_loop()
        for name in QUIT_SIGNALS:
            signum = getattr(signal, name, None)
            if signum is None:
                continue
            try:
                loop.add_signal_handler(signum, self._quit_soon)
            except (NotImplementedError, RuntimeError, ValueError):
                continue
            self._signals.append(signum)

    def on_terminal_gone(self, message: TerminalGone) -> None:
        """The terminal went away (a closed window, a killed tmux session): quit as on
        SIGHUP, which does not always come (the app is not always the session leader)."""
        if not self._quitting:
            self._quit_soon()

    def _quit_soon(self) -> None:
        # The signals are given back at once: should quitting ever stall, a second one
        # ends the process the ordinary way.
        self._release_signals()
        self.call_later(self.action_quit)

    def _release_signals(self) -> None:
        signals, self._signals = getattr(self, "_signals", []), []
        if not signals:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        for signum in signals:
            loop.remove_signal_handler(signum)

    # --- running ------------------------------------------------------------------------
    def _start_run(self) -> None:
        self.generation += 1
        generation = self.generation
        self.batcher = Batcher(lambda events: self.post_message(EngineEvents(events, generation)),
                               rate=UI_BATCH_RATE, acknowledge=True)
        consumer = self.batcher
        if self.config.record:
            consumer = self._recording_to(self.batcher)
        try:
            options = {"size": self.config.size} if self.config.size else {}
            self.runner = self.runner_factory(
                self.scenario,
                consumer,
                family=self.config.family,
                port=self.config.port,
                mode=self.mode,
                pace=self.pace,
                **options,
            )
            self.runner.start()
        except (ValueError, OSError) as exc:
            self.runner = None
            self.notify(str(exc), title="cannot start", severity="error", timeout=8)
        self._update_titles()
        self._refresh_panels()

    def _recording_to(self, batcher: Batcher):
        """A consumer that writes the run to the --record file, then hands it on."""
        from sockviz.engine.recording import Recorder

        try:
            # (the command line made the file, refusing one already there unless told to
            # overwrite it; each run writes it afresh, never through a symlink)
            self.recorder = Recorder(self.config.record,
                                     self.config.scenario_file or self.scenario.name,
                                     self.config.family,
                                     self.config.closer, self.config.size, replace=True)
        except OSError as exc:
            self.notify(f"cannot write {self.config.record}: {exc.strerror or exc}",
                        title="not recording", severity="error", timeout=8)
            return batcher
        return Tee(self.recorder, batcher)

    def _stop_run(self) -> None:
        started = time.monotonic()
        if self.runner is not None:
            self.stopped_cleanly = self.runner.stop(0.5)
        if self.recorder is not None:
            self.recorder.close()
            self.recorder = None
        if self.batcher is not None:
            self.batcher.close(0.5)
        if self._quitting and self._engine is not None:
            self._engine.close(0.5)
        self.stop_seconds = time.monotonic() - started
        """How long the last stop took (the tests hold it under a second)."""

    def _clear_screen(self, redraw: bool = False) -> None:
        """Empty the cards, ladder, log and payload (the run's history stays). ``redraw``:
        another moment of the same run is drawn next; cards and rows it has too stay."""
        if redraw:
            self._reusable_cards = dict(self.cards)
        else:
            for card in self.cards.values():
                card.remove()
        for hint in self.query(".lane-empty"):
            hint.display = True
        self.query_one(Ladder).clear(redraw)
        self._log_backlog = []
        self._payload_entry = None
        if self._lower:
            self._log().clear()
            self.query_one(PayloadView).show(None)
        self._reset_view()

    def _clear_view(self) -> None:
        self._clear_screen()
        self._reset_state()

    def restart(self) -> None:
        """Stop the run (closing every socket) and start the scenario afresh."""
        self._stop_run()
        self._clear_view()
        self._start_run()

    def _update_titles(self) -> None:
        family = FAMILY_LABEL.get(self.config.family, self.config.family)
        mode = {"step": "step mode", "play": "playing", "fast": "fast"}[self.mode.value]
        where = "Unix sockets" if self.config.family == "unix" else f"{family} loopback"
        if self.config.outside:
            where = self.config.where or ""
        if self.config.replay:
            where = f"replay of {os.path.basename(self.config.replay)}"
        self.sub_title = inert(f"{self.config.scenario} · {where} · {mode}", 200)
        if self._lower:
            self.query_one(PayloadView).decode_websocket = self.scenario.protocol is not None
        self._set_terminal_title(inert(f"sockviz · {self.config.scenario} · {family}", 80))

    def _set_terminal_title(self, title: str) -> None:
        """Name the terminal window; the first time, save the old title (xterm's stack)."""
        if not getattr(self, "_title_pushed", False):
            self._title_pushed = self._write_terminal("\x1b[22;0t")
        self._write_terminal(f"\x1b]2;{title}\x07")

    def _write_terminal(self, sequence: str) -> bool:
        driver = getattr(self, "_driver", None)
        if driver is None or self.is_headless:
            return False
        try:
            driver.write(sequence)
            driver.flush()
        except Exception:  # noqa: BLE001 - a title is a nicety; never fail over it
            return False
        return True

    # --- events from the engine -------------------------------------------------------
    def on_engine_events(self, message: EngineEvents) -> None:
        if message.generation != self.generation:
            return  # from a run that was restarted
        if not self._view_open():
            return  # the app is closing: the screen is going, the run is being stopped
        arrived = self.clock()
        # The boundary: text in an event (a recording's, a scenario file's, a peer's) is
        # made inert once, here, before anything keeps or draws it.
        message.events[:] = [inert_event(event) for event in message.events]
        for event in message.events:
            self._remember(event, arrived)
            if isinstance(event, Checked) and not event.met:
                self.notify(f"step {event.step + 1}, {event.socket}.{event.call.value}(): "
                            f"expected {event.expected}, got {event.got}",
                            title="expectation not met", severity="error", timeout=10)
            if isinstance(event, RunFinished) and event.outcome == "aborted":
                self.notify(event.reason or "the run stopped", title="stopped by an error",
                            severity="error", timeout=10)
        self.events_applied += len(message.events)
        if self.position is None:
            self._show_events([(arrived, event) for event in message.events])
        else:  # looking back: the events wait in the history; the timeline shows them
            self._refresh_panels()
        if self.asked is not None:
            self._reveal()
        if len(self.history) > HISTORY_KEPT:
            self._drop_history()
        if self.batcher is not None:
            self.batcher.ack()  # ready for the next batch

    def _remember(self, event: Event, arrived: float) -> None:
        """Keep an event of the run: for export, and for going back to it."""
        if isinstance(event, CallEvent | KernelEvent | Elided):
            self.trace_events.append(event)
        if isinstance(event, CallEvent):
            self.calls_seen += 1
            if self.asked is not None and event.step == self.asked[0].step:
                self._asked_call = event
            if event.step is not None and event.step >= len(self.step_starts):
                self.step_starts.append(len(self.history))
        if not self.history_dropped:
            self.history.append((arrived, event))

    def _show_events(self, timed: list[tuple[float, Event]], replaying: bool = False,
                     animate: bool = False) -> None:
        """Draw events on the screen, in order: as they arrive, or again from history
        (``replaying``: no notification - it all happened before; and no animation unless
        ``animate``: one step walked forward moves its cards as it did live)."""
        self._replaying = replaying
        self._moved = set() if replaying and animate else None
        self._scroll_to = {}
        log_lines: list[str] = []
        try:
            for arrived, event in timed:
                self._view_time = arrived
                self._apply(event, log_lines)
        finally:
            self._replaying = False
        if replaying:
            self._mount_cards([name for name in self.models if name not in self.cards])
            moved, self._moved = self._moved or set(), None
            for name, card in self.cards.items():
                if name in moved:
                    self._flash(card)
                else:
                    card.still(self._now())
        for name in self._scroll_to.values():
            if name in self.cards:
                self._bring_into_view(self.cards[name])
        if log_lines and self._lower:
            self._log().write_lines(log_lines[-LOG_LINES:])
        elif log_lines:  # the log is not mounted yet: it gets these when it is
            self._log_backlog = (self._log_backlog + log_lines)[-LOG_LINES:]
        self.query_one(Ladder).flush()
        if replaying or not all(type(event) is Progress for _, event in timed):
            self._refresh_panels()  # progress moves only a card's byte counters

    # --- predict mode ----------------------------------------------------------------
    def _ask(self) -> bool:
        """Predict mode: put a question about the pending call; True if one was put (the
        call is made once it is answered)."""
        from sockviz.engine.quiz import ask

        if not self.quiz or self.pending is None:
            return False
        question = ask(self.pending, self.models)
        if question is None:
            return False

        def answered(index: int | None) -> None:
            if index is None or self.runner is None or self.outcome is not None:
                return  # escape: no guess, no call
            self.asked = (question, question.choices[index])
            self._asked_call = None
            self.runner.step()

        from sockviz.app.screens.quiz import QuizScreen

        self.push_screen(QuizScreen(question, self.quiz_score), answered)
        return True

    def _reveal(self) -> None:
        """Once the asked call has been made and the run has moved on (the next call is
        pending, or the run is over), say what really happened and keep the score."""
        question, guess = self.asked
        moved_on = self.outcome is not None or (
            self.pending is not None and self.pending.step > question.step)
        if self.position is not None or not moved_on:
            return  # (looking back: revealed on return to the live edge)
        truth = question.answer(self._asked_call, self.models)
        self.asked = None
        right, asked = self.quiz_score
        self.quiz_score = (right + (guess == truth), asked + 1)
        self.predictions[question.step] = (guess, truth)
        self._refresh_panels()
        if guess == truth:
            self.notify(f"Right: {truth}.", title=f"step {question.step + 1}", timeout=4)
        else:
            self.notify(f"You said {guess}; it was {truth}.", title=f"step {question.step + 1}",
                        severity="warning", timeout=6)

    def action_toggle_quiz(self) -> None:
        self.quiz = not self.quiz
        if self.quiz and self.mode is not Mode.STEP:
            self._set_mode(Mode.STEP)
        self.notify("Predict mode on: before each call → asks what it will do; answer with "
                    "1-6 or ↑↓ Enter." if self.quiz else "Predict mode off.", timeout=4)
        self._refresh_panels()

    # --- time travel -----------------------------------------------------------------
    @property
    def live_position(self) -> int:
        """The moment at the live edge: how many steps' calls the run has made."""
        return len(self.step_starts)

    def _cut(self, position: int) -> int:
        """How much of the history moment ``position`` shows: all that came before the
        call of step ``position`` (its pending call included), or all of it."""
        if position >= len(self.step_starts):
            return len(self.history)
        return self.step_starts[position]

    def _go_forward(self, position: int | None) -> None:
        """Show a later moment (None, or the live one: the live edge): the screen is right
        up to the moment shown, so only what follows it is drawn."""
        if position is not None and position >= self.live_position:
            position = None
        if self.position is None:
            return  # already there
        target = self.live_position if position is None else position
        start, end = self._cut(self.position), self._cut(target)
        one_step = target - self.position == 1  # moves its cards as it did live
        self.position = position
        with self.batch_update():
            self._show_events(self.history[start:end], replaying=True, animate=one_step)
            self._show_countdowns()

    def _go_back(self, position: int) -> None:
        """Show an earlier moment: the run drawn again from its start up to there."""
        self.position = position
        with self.batch_update():
            self._clear_screen(redraw=True)
            self._show_events(self.history[: self._cut(position)], replaying=True)
            self._show_countdowns()

    def _drop_history(self) -> None:
        """The run outgrew the history kept: back to the live edge, and no going back."""
        if self.position is not None:
            self._go_forward(None)
        self.history = []
        self.step_starts = []
        self.history_dropped = True
        self.notify(f"This run has made more than {HISTORY_KEPT:,} events: going back "
                    "through it is off (r starts it afresh).", title="history full",
                    timeout=6)

    def _log(self) -> Log:
        return self.query_one("#log")  # (mounted with the lower panels)

    def _view_open(self) -> bool:
        """Whether the main screen is still there to draw on (a batch can arrive while
        the app closes, as its widgets are being taken down one by one)."""
        if not self.is_running:  # (shutting down: from here on the widgets go)
            return False
        try:
            return self.query_one(Ladder).is_attached
        except (NoMatches, ScreenStackError):
            return False

    def _apply(self, event: Event, log_lines: list[str]) -> None:
        if isinstance(event, StepPending):
            self.pending = event
            self.explains[event.step] = event.explain
            self.expected[event.step] = event.expect_error
        elif isinstance(event, Progress):
            self._apply_progress(event)
        elif isinstance(event, CallEvent):
            self._apply_call(event, log_lines)
        elif isinstance(event, KernelEvent):
            self._apply_kernel(event, log_lines)
        elif isinstance(event, Elided):
            self._apply_elided(event, log_lines)
        elif isinstance(event, RunFinished):
            self.outcome = event
            self.pending = None
        elif isinstance(event, Checked):
            self.checks[event.step] = event

    def _model_for(self, event: CallEvent | KernelEvent) -> CardModel:
        model = self.models.get(event.socket)
        if model is not None:
            return model
        transport = Transport(event.type)
        model = CardModel(
            name=event.socket,
            role=event.role,
            family=event.family,
            type=event.type,
            path=plan_path(self.scenario, event.socket, event.role, transport),
        )
        self.models[event.socket] = model
        self._forget_closed_cards()
        if not self._replaying:  # (drawing history: the cards still there at its end are
            self._mount_cards([event.socket])  # made then, in one go)
        return model

    def _mount_cards(self, names: list[str]) -> None:
        """Make and mount the cards of these sockets, in order, in their lanes - or, when
        a moment of the run is drawn again, keep the cards already there for them."""
        reusable, self._reusable_cards = self._reusable_cards, {}
        lanes: dict[str, list[SocketCard]] = {}
        for name in names:
            model = self.models[name]
            card = reusable.pop(name, None)
            if card is None:
                card = SocketCard(model)
            else:
                card.model = model
            self.cards[name] = card
            card.show(self._now())
            lanes.setdefault(_lane(model), []).append(card)
        for card in reusable.values():
            card.remove()
        for lane_id, cards in lanes.items():
            lane = self.query_one(f"#{lane_id}")
            mount_in_order(lane, cards)
            for hint in lane.query(".lane-empty"):
                hint.display = False

    def _forget_closed_cards(self) -> None:
        """A listener with a flood of clients must not grow cards for ever: past
        :data:`MAX_CARDS`, the oldest closed ones go."""
        closed = [n for n, m in self.models.items() if m.state is State.CLOSED]
        for name in closed[: max(0, len(self.models) - MAX_CARDS)]:
            del self.models[name]
            card = self.cards.pop(name, None)
            if card is not None:
                card.remove()

    def _apply_call(self, event: CallEvent, log_lines: list[str]) -> None:
        model = self._model_for(event)
        before = model.state
        if event.state is not None:
            model.previous = before if event.state is not before else model.previous
            model.state = event.state
            model.visited.add(event.state)
        if event.implicit_bind:
            model.visited.add(State.BOUND)
            model.implicit_bind = True
        model.local = event.local or model.local
        model.remote = event.remote or model.remote
        model.sent, model.received = event.sent_total, event.recv_total
        if event.kernel is not None:
            self._set_kernel(model, event.kernel, None)
        if event.queue is not None:
            model.queue = event.queue
        if event.error:
            model.error, model.error_text, model.error_call = (
                event.error, event.error_text, event.call.value)
            model.expected = event.step is not None and self.expected.get(event.step) == event.error
        elif event.step is not None and model.error and model.expected:
            model.error = None  # a planned failure is only news until the next call
        if event.parts and (event.nbytes or 0) > 1 << 20:
            model.transfer = None  # the bulk transfer is over; keep its sparkline
        moving = event.state is not None and event.state is not before
        self._show_card(event.socket, moving)
        self._ladder(event, before)
        if event.step is not None:
            self.steps_done = max(self.steps_done, event.step + 1)
            self.last_done = (event, before)
            if self.pending is not None and self.pending.step == event.step:
                self.pending = None
        log_lines.append(self._log_line(event))

    def _apply_progress(self, event: Progress) -> None:
        model = self.models.get(event.socket)
        if model is None:
            return
        last = model.last_progress
        if last is not None and event.elapsed > last[1]:
            model.rates.append((event.done - last[0]) / (event.elapsed - last[1]))
            del model.rates[:-60]
        model.last_progress = (event.done, event.elapsed)
        model.transfer = (event.done, event.total)
        if event.call is Call.SENDALL:
            model.sent = event.done
        else:
            model.received = event.done
        self._show_card(event.socket, False, scroll=False)

    def _apply_elided(self, event: Elided, log_lines: list[str]) -> None:
        """Calls too many to draw one by one: one line for them all (the next call event
        brings the socket's true totals)."""
        model = self.models.get(event.socket)
        if model is None:
            return
        text = (f"… {event.count:,} more {event.call.value}() calls, "
                f"{human_bytes(event.nbytes)} (too many to draw; all counted)")
        side = "left" if model.role is Role.CLIENT else "right"
        ladder = self.query_one(Ladder)
        ladder.add(LadderEntry(ladder.count, side, text, socket=event.socket,
                               call=event.call.value))
        log_lines.append(f"      {event.socket:<8} {text}")

    def _apply_kernel(self, event: KernelEvent, log_lines: list[str]) -> None:
        model = self._model_for(event)
        if event.queue is not None:
            model.queue = event.queue
        self._set_kernel(model, event.kernel, event.timer)
        self._show_card(event.socket, False)
        log_lines.append(
            f"{event.seq:>4}  {event.socket:<8} kernel: {event.previous or '—'} → {event.kernel}"
            + (f" ({event.timer:.0f} s on its timer)" if event.timer else "")
        )

    def _set_kernel(self, model: CardModel, state: str, timer: float | None) -> None:
        if state == "TIME_WAIT" and model.kernel != "TIME_WAIT":
            model.kernel_deadline = self._view_time + (timer if timer is not None else 60.0)
        elif state != "TIME_WAIT":
            model.kernel_deadline = None
        model.kernel = state

    def _now(self) -> float:
        """The time the cards show: now, or the moment looked back at."""
        return self.clock() if self.position is None else self._view_time

    def _show_card(self, name: str, moving: bool, scroll: bool = True) -> None:
        if scroll and name in self.models:  # (its lane is scrolled to it after the batch)
            self._scroll_to[_lane(self.models[name])] = name
        card = self.cards.get(name)
        if card is None:  # drawing history: made at its end
            return
        if self._replaying:  # (every card is drawn once, at the end)
            if moving and self._moved is not None:
                self._moved.add(name)
        elif moving:
            self._flash(card)
        else:
            card.show(self._now())

    def _bring_into_view(self, card: SocketCard) -> None:
        """Scroll the card's lane to it."""
        lane = card.parent
        if isinstance(lane, VerticalScroll) and lane.id is not None:
            self._in_view[lane.id] = card
            self._scroll_when_placed(lane, card, tries=5)

    def _scroll_when_placed(self, lane: VerticalScroll, card: SocketCard, tries: int) -> None:
        """A card mounted in this batch has no place in its lane yet: scroll to it once it
        has one, after a refresh or a few - unless a newer card was asked for meanwhile."""
        if self._in_view.get(lane.id) is not card:
            return
        if card.virtual_region.size:
            lane.scroll_to_widget(card, animate=False)
        elif tries:
            self.call_after_refresh(self._scroll_when_placed, lane, card, tries - 1)

    def _flash(self, card: SocketCard) -> None:
        """Show a card moving into its new state, and still again a moment later."""
        if self.animation_level == "none":
            card.still(self._now())
        else:
            card.flash(self._now(), self.flash_seconds, self._now)

    def _tick(self) -> None:
        if self._quitting or not self._view_open() or self.position is not None:
            return  # (looking back, the cards show that moment's countdown)
        self._show_countdowns()

    def _show_countdowns(self) -> None:
        """Redraw the TIME_WAIT countdowns for the time shown (now, or a moment's)."""
        now = self._now()
        for name, model in self.models.items():
            if model.kernel == "TIME_WAIT" and name in self.cards:
                self.cards[name].show(now)

    def _log_line(self, event: CallEvent) -> str:
        args = event.args or ""
        if len(args) > 40:
            args = args[:39] + "…"
        parts = [f"{event.seq:>4}  {event.socket:<8} {event.call.value}({args})"]
        if event.error:
            parts.append(f"✗ {event.error} ({event.error_text})")
        else:
            outcome = [event.state.value if event.state else "—"]
            if event.nbytes is not None:
                outcome.append(f"{event.nbytes} B")
            if event.kernel:
                outcome.append(event.kernel)
            parts.append("→ " + " · ".join(outcome))
        return "  ".join(parts)

    # --- the ladder -------------------------------------------------------------------------
    def _ladder(self, event: CallEvent, before: State | None) -> None:
        ladder = self.query_one(Ladder)
        side = "left" if event.role is Role.CLIENT else "right"
        call = event.call
        stream = event.type == Transport.STREAM.value
        n = ladder.count

        def note(text: str, error: bool = False) -> LadderEntry:
            return LadderEntry(n, side, text, socket=event.socket, call=call.value, error=error)

        if event.error in ("EINPROGRESS",) and call is Call.CONNECT and stream:
            # a non-blocking connect: the SYN went out; the answer comes later
            ladder.add(LadderEntry(n, side, "SYN · in progress", arrow=True,
                                   delivered=False, socket=event.socket, call=call.value))
            return
        if event.error:
            planned = event.step is not None and self.expected.get(event.step) == event.error
            mark = "→" if planned else "✗"
            ladder.add(note(f"{mark} {call.value}: {event.error}", error=not planned))
            return
        if call is Call.SOCKET:
            ladder.add(note(f"{event.socket} = socket()"))
        elif call is Call.SETSOCKOPT:
            ladder.add(note(_short_option(event.args)))
        elif call is Call.BIND:
            ladder.add(note(f"bind {event.local}"))
        elif call is Call.LISTEN:
            ladder.add(note(f"listen({event.args})"))
        elif call is Call.ACCEPT:
            ladder.add(note(f"accept() → {event.socket}"))
        elif call is Call.CONNECT and before is State.CREATED and self._was_connecting(event):
            ladder.add(note("connect() → connected"))
        elif call is Call.CONNECT:
            if stream:
                ladder.add(LadderEntry(n, side, "connect() · handshake", arrow=True,
                                       socket=event.socket, call=call.value))
            else:
                ladder.add(note("connect() · no packet sent"))
        elif call in (Call.SEND, Call.SENDALL, Call.SENDTO):
            entry = LadderEntry(
                n, side, f"{call.value} {event.nbytes} B", arrow=True,
                data=event.data or b"", nbytes=event.nbytes or 0, delivered=False,
                socket=event.socket, call=call.value,
                peer=f"→ {event.remote}" if event.remote else "",
            )
            key = (_port(event.remote), _port(event.local))
            waiting = self.inflight.setdefault(key, [])
            waiting.append([entry, event.nbytes or 0])
            del waiting[:-MAX_ROWS]  # an outside peer's reads are not seen: keep it bounded
            ladder.add(entry)
        elif call in (Call.RECV, Call.RECVFROM):
            matched = self._deliver(event, stream)
            if event.nbytes and not matched and event.data is not None:
                # bytes from a peer that is not sockviz (curl, nc, a browser): draw them
                # arriving from the other side, with their escaped preview
                other = "right" if side == "left" else "left"
                ladder.add(LadderEntry(
                    n, other, f"{event.nbytes} B from {event.remote or 'the peer'}",
                    arrow=True, data=event.data, nbytes=event.nbytes, socket=event.socket,
                    call=call.value, peer=f"← {event.remote}" if event.remote else "",
                ))
                n += 1
            if event.nbytes == 0 and stream:
                ladder.add(note(f"{call.value}() → 0 B (EOF)"))
            else:
                ladder.add(note(f"{call.value}() → {event.nbytes} B"))
        elif call is Call.SHUTDOWN:
            sends_fin = stream and "SHUT_RD" not in (event.args or "").replace("SHUT_RDWR", "")
            if sends_fin:
                ladder.add(LadderEntry(n, side, f"shutdown({event.args}) · FIN", arrow=True,
                                       socket=event.socket, call=call.value))
            else:
                ladder.add(note(f"shutdown({event.args})"))
        elif call is Call.CLOSE:
            if stream and before is State.CONNECTED:
                ladder.add(LadderEntry(n, side, "close() · FIN", arrow=True,
                                       socket=event.socket, call=call.value))
            else:
                ladder.add(note("close()"))

    def _was_connecting(self, event: CallEvent) -> bool:
        """True if this socket's earlier connect() returned 'in progress'."""
        ladder = self.query_one(Ladder)
        return any(e.socket == event.socket and e.call == "connect" and not e.delivered
                   for e in ladder.entries)

    def _deliver(self, event: CallEvent, stream: bool) -> bool:
        """Mark the sends this receive took bytes from as delivered (solid arrows).

        False when no send of ours was waiting: the bytes came from an outside program.
        """
        ladder = self.query_one(Ladder)
        queue = self.inflight.get((_port(event.local), _port(event.remote)), [])
        matched = bool(queue)
        remaining = event.nbytes or 0
        while queue and (remaining > 0 or not stream):
            item = queue[0]
            if stream:
                took = min(remaining, item[1])
                item[1] -= took
                remaining -= took
            else:
                item[1] = 0
            if item[1] == 0:
                queue.pop(0)
                item[0].delivered = True
                ladder.refresh_entry(item[0])
            if not stream:
                break
        return matched

    def on_ladder_message_chosen(self, message: Ladder.MessageChosen) -> None:
        self._payload_entry = message.entry
        if not self._lower or not self._view_open():
            return
        self.query_one(PayloadView).show(message.entry)
        if message.by_user:
            self.action_show_tab("tab-payload")

    def action_show_tab(self, tab: str) -> None:
        if tab == "tab-next" and self.screen.has_class("-wide"):
            return  # the next call has its own column on a wide screen
        if self._lower:
            self.query_one("#tabs").active = tab

    def _leave_next_tab_when_wide(self) -> None:
        tabs = self.query_one("#tabs")
        if self.screen.has_class("-wide") and tabs.active == "tab-next":
            tabs.active = "tab-payload"

    # --- panels -------------------------------------------------------------------------
    def _refresh_panels(self) -> None:
        runner = self.runner
        total = runner.total_steps if runner is not None else len(self.scenario.steps)
        self.query_one(StatusBar).show(
            mode=self.mode.value,
            pace=self.pace,
            done=self.steps_done,
            total=total,
            outcome=self.outcome.outcome if self.outcome else None,
            replay=bool(self.config.replay),
            position=Position(self.live_position if self.position is None else self.position,
                              self.live_position, total),
            quiz=self.quiz_score if self.quiz or self.quiz_score[1] else None,
        )
        if not self._lower:
            return  # drawn once they are mounted
        done = None
        if self.last_done is not None:
            event, before = self.last_done
            planned = event.error is not None and self.expected.get(event.step) == event.error
            done = done_content(event, before, self.explains.get(event.step, ""), total,
                                planned, self.predictions.get(event.step),
                                self.checks.get(event.step))
        self.query_one(ExplainPanel).show(done)
        if self.pending is not None:
            hint = "press → to make this call" if self.mode is Mode.STEP else ""
            if self.position is not None:
                hint = "made already: → shows it"
            upcoming = next_content(self.pending, total, hint, explain=not self.quiz)
        elif self.outcome is not None and self.outcome.outcome == "done":
            upcoming = Content("Nothing: every call has been made and every socket is "
                               "closed. Watch the kernel badges; press r to run it again.")
        elif self.outcome is not None:
            upcoming = Content("Nothing: the run stopped. Press r to run it again.")
        elif self.config.outside:
            upcoming = Content("Waiting for the other end - a real program - to do something "
                               "(connect, send, close)…")
        else:
            upcoming = Content("Waiting for the first call…")
        for panel in self.query(NextPanel):
            panel.show(upcoming)
        self._leave_next_tab_when_wide()

    # --- actions ------------------------------------------------------------------------
    def action_step(self) -> None:
        if self.position is not None:  # looking back: forward through what was recorded
            self._go_forward(self.position + 1)
            return
        if self.runner is None:
            return
        if self.outcome is not None:
            self.notify("This run is over: press r to run it again.", timeout=3)
            return
        if self.mode is not Mode.STEP:
            self._set_mode(Mode.STEP)
        self.action_show_tab("tab-next")
        if self.asked is not None:
            return  # the call just guessed at is still being made
        if self._ask():
            return  # the call is made once the question is answered
        self.runner.step()

    def action_back(self) -> None:
        """Show the moment before the one on screen (the engine waits meanwhile)."""
        if self.history_dropped:
            self.notify(f"This run made more than {HISTORY_KEPT:,} events: it cannot be "
                        "gone back through. r starts it afresh.", timeout=4)
            return
        at = self.position if self.position is not None else self.live_position
        if at == 0:
            self.notify("This is the start of the run: no call has been made yet.",
                        timeout=3)
            return
        self._look_at(at - 1)

    def action_first(self) -> None:
        """Back to the start of the run."""
        if not self.history_dropped:
            self._look_at(0)

    def on_status_bar_moment_chosen(self, message: StatusBar.MomentChosen) -> None:
        """A click on the timeline: that moment, or the live edge for a call not made yet
        (a click makes no call)."""
        if not self._view_open():
            return
        if self.history_dropped:
            self.action_back()  # (which says why not)
        else:
            self._look_at(min(message.moment, self.live_position))

    def _look_at(self, moment: int) -> None:
        """Show the run as it stood once ``moment`` calls were made (the live edge: live)."""
        at = self.position if self.position is not None else self.live_position
        if moment > at:
            self._go_forward(moment)
        elif moment < at:
            if self.mode is not Mode.STEP:
                self._set_mode(Mode.STEP)  # nothing new happens while you look back
            self._go_back(moment)

    def action_live(self) -> None:
        """Back to the live edge, from looking back."""
        if self.position is not None:
            self._go_forward(None)

    def action_toggle_play(self) -> None:
        if self.position is not None:
            self._go_forward(None)  # playing goes on from the live edge
        self._set_mode(Mode.PLAY if self.mode is Mode.STEP else Mode.STEP)

    def _set_mode(self, mode: Mode) -> None:
        self.mode = mode
        if self.runner is not None:
            self.runner.gate.set_mode(mode)
        self._update_titles()
        self._refresh_panels()

    def _set_pace(self, pace: float) -> None:
        self.pace = min(10.0, max(0.1, pace))
        if self.runner is not None:
            self.runner.gate.set_pace(self.pace)
        self._refresh_panels()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        # The message line takes + and - as text: then they are not keys to show.
        return not (action in ("faster", "slower") and self._typing)

    def action_faster(self) -> None:
        self._set_pace(self.pace / 1.5)

    def action_slower(self) -> None:
        self._set_pace(self.pace * 1.5)

    def action_restart(self) -> None:
        self.restart()

    def _outside_only(self, what: str) -> bool:
        if self.config.replay:
            self.notify(f"{what} does not apply to a replay: it plays the run recorded in "
                        f"{self.config.replay}. Quit and start sockviz again to change it.",
                        timeout=5)
            return True
        if self.config.outside:
            self.notify(f"{what} does not apply to --{self.config.outside}: the other end is "
                        "a real program. Quit and start sockviz again to change it.", timeout=5)
            return True
        return False

    def action_pick_scenario(self) -> None:
        if self._outside_only("Choosing a scenario"):
            return

        def chosen(name: str | None) -> None:
            if name is None:
                return
            scenario = self.scenarios[name]
            if self.config.family not in scenario.families:
                self.config.family = scenario.families[0]
            self.config.scenario = name
            self.restart()

        from sockviz.app.screens.picker import ScenarioPicker

        self.push_screen(ScenarioPicker(self.scenarios, self.config.scenario), chosen)

    def action_switch_family(self) -> None:
        if self._outside_only("Switching IPv4/IPv6"):
            return
        families = [f for f in self.scenario.families if f in ("ipv4", "ipv6")]
        if len(families) < 2:
            self.notify(f"{self.config.scenario} runs on one family only", timeout=3)
            return
        self.config.family = "ipv6" if self.config.family == "ipv4" else "ipv4"
        self.restart()
        self.notify(f"Now on {FAMILY_LABEL[self.config.family]} "
                    f"({FAMILIES[self.config.family].loopback})", timeout=3)

    def action_type_message(self) -> None:
        bar = self.query_one("#message-bar")
        bar.display = True
        line = self._message_input()
        if line.is_mounted:
            line.focus()
        else:  # pressed before it was up: focus it as soon as it is
            self.call_after_refresh(line.focus)

    @property
    def _typing(self) -> bool:
        """Whether the message line has the keyboard."""
        return self.focused is not None and self.focused.id == "message"

    def action_leave_input(self) -> None:
        if self._typing:
            self.set_focus(None)
            self.query_one("#message-bar").display = False

    def on_input_submitted(self, message: Input.Submitted) -> None:
        text = message.value
        data = text.encode("utf-8")
        if len(data) > MESSAGE_LIMIT:  # keep the text: nothing typed is lost
            self.notify(f"The message is {len(data)} bytes in UTF-8; at most {MESSAGE_LIMIT} "
                        "can be sent in one go.", title="not sent", severity="warning")
            return
        message.input.clear()
        self.set_focus(None)
        self.query_one("#message-bar").display = False
        if self.runner is None:
            return
        try:
            at = self.runner.queue_message(data)
        except ValueError as exc:
            self.notify(str(exc), title="not sent", severity="warning", timeout=5)
            return
        if self.config.outside:
            self.notify(f"The client sends {len(data)} bytes now.", title="sending", timeout=3)
        else:
            self.notify(
                f"The client will send {len(data)} bytes at step {at + 1}, "
                "once it has read the echo.",
                title="message queued",
                timeout=4,
            )
        self._refresh_panels()

    def _create_free(self, suffixes: tuple[str, ...]) -> tuple[str, list]:
        """New files ``sockviz-<scenario>-<n><suffix>`` in the working folder, for the first
        ``n`` none of them exists at; each created exclusively, never through a symlink (a
        name planted there is skipped, its target untouched). OSError if none can be."""
        from sockviz.engine.userfile import create

        for n in range(1, 10_000):
            stem = os.path.abspath(inert(f"sockviz-{self.config.scenario}-{n}", 120))
            files: list = []
            try:
                for suffix in suffixes:
                    files.append(create(stem + suffix))
            except FileExistsError:
                for f in files:  # (a later suffix was taken: this n is not free after all)
                    f.close()
                    os.unlink(f.name)
                continue
            except OSError:
                for f in files:
                    f.close()
                raise
            return stem, files
        raise OSError(errno.EEXIST, "no free file name left", stem)

    def action_export(self) -> None:
        """Write the run so far as a Mermaid sequenceDiagram and as plain text."""
        from sockviz.engine.export import FORMATS

        if not self.trace_events:
            self.notify("No call has been made yet: nothing to draw.", timeout=3)
            return
        title = f"sockviz {self.config.scenario} · {self.config.family}"
        try:
            stem, files = self._create_free(tuple(suffix for _, suffix in FORMATS.values()))
            for (draw, _suffix), f in zip(FORMATS.values(), files, strict=True):
                with f:
                    f.write(draw(self.trace_events, title))
        except OSError as exc:
            self.notify(f"{exc.strerror or exc}: {exc.filename or ''}", title="not exported",
                        severity="error", timeout=8)
            return
        self.notify(f"{stem}.mmd (Mermaid: paste it into a ```mermaid block) and {stem}.txt",
                    title="ladder written", timeout=8)

    def action_save_svg(self) -> None:
        """An SVG screenshot of the screen as it is."""
        try:
            stem, (f,) = self._create_free((".svg",))
            with f:
                f.write(self.export_screenshot())
        except OSError as exc:
            self.notify(f"{exc.strerror or exc}", title="no screenshot", severity="error",
                        timeout=8)
            return
        self.notify(stem + ".svg", title="screenshot written", timeout=8)

    def action_help(self) -> None:
        from sockviz.app.screens.help import HelpScreen

        self.push_screen(HelpScreen())

    async def action_quit(self) -> None:
        self._quitting = True
        self._stop_run()
        if self._lower_mounting:
            # Tearing down widgets still being mounted trips Textual's tabs (an error
            # instead of a quit): the panels are a few milliseconds from ready, and the
            # exit follows then - or in half a second whatever happens.
            self._exit_when_ready = True
            self.set_timer(0.5, lambda: self.exit(0))
            return
        self.exit(0)

    def on_unmount(self) -> None:
        self._quitting = True
        self._release_signals()
        self._stop_run()
        if getattr(self, "_title_pushed", False):
            self._write_terminal("\x1b[23;0t")  # give the terminal its old title back

    # --- tests ---------------------------------------------------------------------------
    @property
    def panels_ready(self) -> bool:
        """True once the lower panels (mounted after the first frame) are up to date."""
        return self._lower

    @property
    def settled(self) -> bool:
        """True when the engine waits (at the gate, or finished) and the UI has caught up."""
        runner, batcher = self.runner, self.batcher
        if not self._lower:
            return False
        if runner is None or batcher is None:
            return True
        engine_waits = runner.finished or runner.gate.waiting > 0
        return engine_waits and batcher.idle and self.events_applied == batcher.delivered


def make_app(
    config: AppConfig | None = None,
    runner_factory: RunnerFactory | None = None,
    clock: Callable[[], float] = time.monotonic,
    theme: str | None = None,
) -> SockvizApp:
    """The one way the CLI and the tests build the app."""
    return SockvizApp(config, runner_factory=runner_factory, clock=clock, theme=theme)


def replay_factory(events) -> RunnerFactory:
    """A runner factory that plays recorded events (``--replay``): no socket is opened."""
    from sockviz.engine.replay import ReplayRunner

    def factory(scenario, consumer, *, family, port, mode, pace, size=None):
        return ReplayRunner(scenario, consumer, events, family=family, port=port, mode=mode,
                            pace=pace)

    return factory


def run_app(args: argparse.Namespace) -> int:
    """Run the TUI for the parsed command line; returns the exit status."""
    config = AppConfig(
        scenario=args.scenario, family=args.family, port=args.port, step=args.step,
        closer=getattr(args, "closer", None), size=getattr(args, "size", None),
    )
    factory: RunnerFactory | None = None  # the app's own engine process
    scenarios = None
    config.record = getattr(args, "record", None)
    config.quiz = bool(getattr(args, "quiz", False))
    from sockviz.cli import is_scenario_file, resolve_scenario, scenario_file

    if is_scenario_file(args.scenario):
        scenario = resolve_scenario(args)
        scenarios = collections.ChainMap({scenario.name: scenario}, scenario_registry.REGISTRY)
        config.scenario, config.scenario_file = scenario.name, scenario_file(args)
    recording = getattr(args, "replay_of", None)
    if recording is not None:
        factory = replay_factory(recording.events)
        config.replay = args.replay
    if getattr(args, "listen", None) is not None or getattr(args, "connect", None) is not None:
        from sockviz.cli import outside_runner_factory

        factory = outside_runner_factory(args)
        config.scenario = factory.scenario.name
        config.outside = "listen" if args.listen is not None else "connect"
        config.where = str(factory.endpoint)
        scenarios = {factory.scenario.name: factory.scenario}
    app = SockvizApp(config, runner_factory=factory, scenarios=scenarios)
    if config.outside and not config.step:
        app.mode = Mode.FAST  # a real peer should not wait a classroom pace for each call
    app.run()
    return app.return_code or 0
