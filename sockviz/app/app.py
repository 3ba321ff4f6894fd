"""The sockviz TUI: a view of a run, drawn - cards, ladder, explanation, payload and log.

The app holds none of the run's facts. Events come from the run's engine (see
:mod:`sockviz.app.session`) in batches; each is kept in a :class:`~sockviz.view.history.History`,
which folds it into the live :class:`~sockviz.view.run_view.RunView`. The screen shows one view:
the live one, or the one of an earlier moment (time travel). Drawing has one path - "show
this view" - done whole for another moment, or only as far as a batch changed it. The app
owns the keys, the focus, the panels' mounting and the animation; it talks back to the
engine only to say "one step", "play/pause", "faster", "stop". Everything here runs on the
UI thread; no widget is touched from anywhere else.
"""

from __future__ import annotations

import asyncio
import collections
import signal
import threading
import time
from collections.abc import Callable
from typing import ClassVar

from textual.app import App, ComposeResult, ScreenStackError
from textual.binding import Binding
from textual.containers import Vertical
from textual.css.query import NoMatches
from textual.widgets import Footer, Header

from sockviz.app import drawing
from sockviz.app.choices import Choices
from sockviz.app.config import MESSAGE_LIMIT, AppConfig, RunnerFactory
from sockviz.app.messages import EngineEvents
from sockviz.app.session import Session
from sockviz.app.terminal import TerminalGone, driver_class
from sockviz.app.widgets.ladder import Ladder
from sockviz.app.widgets.linkstrip import LinkStrip
from sockviz.app.widgets.socket_card import SocketCard
from sockviz.app.widgets.stage import Stage
from sockviz.app.widgets.status import StatusBar
from sockviz.engine import scenarios as scenario_registry
from sockviz.engine.events import CallEvent, Checked, RunFinished
from sockviz.engine.run.gate import Gate, Mode
from sockviz.engine.record.inert_text import inert, inert_event, inert_lines
from sockviz.engine.scenarios.scenario_types import Scenario
from sockviz.view import history as history_module
from sockviz.view.fold import Changes
from sockviz.view.history import History
from sockviz.view.run_view import RunView
from sockviz.view.quiz_state import Predictions

__all__ = ["MESSAGE_LIMIT", "AppConfig", "SockvizApp", "make_app"]

#: Signals that quit the app the way q does.
QUIT_SIGNALS = ("SIGTERM", "SIGHUP", "SIGINT")


class SockvizApp(drawing.Drawing, Choices, App):
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
        Binding("w", "toggle_wire", "Wire", show=False),
        Binding("ctrl+s", "save_svg", "SVG screenshot", show=False),
    ]

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
        self.session = Session(runner_factory, wire=self.config.wire)
        self.scenarios = scenarios or collections.ChainMap({}, scenario_registry.REGISTRY)
        """Name -> scenario (a ChainMap: a scenario file's built-ins are read when asked for)."""
        if self.config.closer and self.config.scenario == "time-wait":
            self.scenarios["time-wait"] = scenario_registry.get("time-wait",
                                                                closer=self.config.closer)
        self.clock = clock
        self.predictions = Predictions(on=self.config.quiz)
        """Predict mode's session: on or off, the question under way, the score."""
        self.mode = Mode.STEP if self.config.step or self.config.quiz else Mode.PLAY
        self.pace = self.config.pace
        self.flash_seconds = 0.7
        """How long a card shows the lit arrow into its new state after a call."""
        self.theme_name = theme
        self.history: History = None  # type: ignore[assignment] - each run starts one
        """The run's events, and the view of it at any moment."""
        self.view: RunView = None  # type: ignore[assignment]
        """The view on screen: the live one, or an earlier moment's."""
        self.position: int | None = None
        """The moment shown when going back through history; None: the live edge."""
        self.events_applied = 0
        """Engine events taken in since the run started (the tests wait on this)."""
        self._quitting = False
        """Set on quit: nothing is mounted after that."""
        self._lower: str | None = None
        """The lower panels (explain, next, payload, log): None, "mounting" or "ready"."""
        self._exit_when_ready = False
        self._signals: list[int] = []

    @property
    def scenario(self) -> Scenario:
        return self.scenarios[self.config.scenario]

    # --- layout -------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        yield Header()
        yield StatusBar(id="status")
        yield LinkStrip(id="link-strip")
        yield Stage(id="stage")
        # The lower panels, and the message line in its bar, are mounted just after the
        # first frame (see _mount_lower).
        yield Vertical(id="message-bar")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        if self.theme_name:
            self.theme = self.theme_name
        self.query_one(Ladder).border_title = "ladder"
        self.call_after_refresh(self._mount_lower)
        self.set_interval(1.0, self._tick)
        self._quit_on_signals()
        self._start_run()

    def notify(self, message: str, *, title: str = "", markup: bool = False, **kwargs) -> None:
        """Notifications are plain, inert text here: they can quote a call's arguments, a
        file or an error, and those can hold what a user typed or a peer sent (``[/]``,
        ``[@click=...]``, terminal escapes)."""
        super().notify(inert_lines(message, 600), title=inert(title, 80), markup=False,
                       **kwargs)

    # --- signals and the terminal -----------------------------------------------------
    def _quit_on_signals(self) -> None:
        """SIGTERM, SIGHUP and SIGINT quit like q does: sockets closed, threads ended,
        terminal restored. The handlers are the app's only while it runs: on_unmount gives
        the signals back."""
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
        signals, self._signals = self._signals, []
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        for signum in signals:
            loop.remove_signal_handler(signum)

    # --- running ------------------------------------------------------------------------
    def _start_run(self, again: bool = False) -> None:
        """A run of the scenario, on a history of its own (``again``: the screen showed
        another run, which it now forgets; the first run starts on an empty screen)."""
        self.history = History(self.scenario, limit=history_module.HISTORY_KEPT)
        self.view, self.position, self.events_applied = self.history.live, None, 0
        if again:
            self._draw()
        problem = self.session.start(
            self.scenario, self.config, self.mode, self.pace,
            lambda events, generation: self.post_message(EngineEvents(events, generation)))
        if problem is not None:
            self.notify(problem, title="cannot start", severity="error", timeout=8)
        if self.session.note is not None:
            self.notify(self.session.note, title="on loopback", timeout=8)
        self._update_titles()
        self._draw_panels()

    def restart(self) -> None:
        """Stop the run (closing every socket) and start the scenario afresh."""
        self.session.stop()
        self.predictions.forget_run()
        self._start_run(again=True)

    def on_engine_events(self, message: EngineEvents) -> None:
        if (message.generation != self.session.generation or self._quitting
                or not self._view_open()):
            return  # from a run that was restarted, or the app is closing (the last
            # batch of a stopped run - its closes - is drawn by nobody)
        arrived = self.clock()
        changes, dropped = Changes(), self.history.dropped
        for event in message.events:
            # The boundary: text in an event (a recording's, a scenario file's, a peer's)
            # is made inert once, here, before anything keeps or draws it.
            event = inert_event(event)
            if isinstance(event, CallEvent):
                self.predictions.saw(event)
            elif isinstance(event, Checked) and not event.met:
                self.notify(f"step {event.step + 1}, {event.socket}.{event.call.value}(): "
                            f"expected {event.expected}, got {event.got}",
                            title="expectation not met", severity="error", timeout=10)
            elif isinstance(event, RunFinished) and event.outcome == "aborted":
                self.notify(event.reason or "the run stopped", title="stopped by an error",
                            severity="error", timeout=10)
            self.history.add(arrived, event, changes)
        self.events_applied += len(message.events)
        if self.history.dropped and not dropped:
            self._history_let_go()
        elif self.position is None:
            self._draw(changes)
        else:  # looking back: the events wait in the history; the timeline shows them
            self._draw_panels()
        if self.position is None:
            self._reveal()
        self.session.ack()  # ready for the next batch

    def _history_let_go(self) -> None:
        """The run outgrew the history kept: back to the live edge, and no going back."""
        self.position, self.view = None, self.history.live
        self._draw()
        self.notify(f"This run has made more than {self.history.limit:,} events: going back "
                    "through it is off (r starts it afresh).", title="history full",
                    timeout=6)

    def _view_open(self) -> bool:
        """Whether the main screen is still there to draw on (a batch can arrive while
        the app closes, as its widgets are being taken down one by one)."""
        if not self.is_running:  # (shutting down: from here on the widgets go)
            return False
        try:
            return self.query_one(Ladder).is_attached
        except (NoMatches, ScreenStackError):
            return False

    def _now(self) -> float:
        """The time the cards show: now, or the moment looked back at."""
        return self.clock() if self.position is None else self.view.time

    def _flash(self, card: SocketCard) -> None:
        """Show a card moving into its new state, and still again a moment later."""
        if self.animation_level == "none":
            card.still(self._now())
        else:
            card.flash(self._now(), self.flash_seconds, self._now)

    def _tick(self) -> None:
        if self._quitting or not self._view_open() or self.position is not None:
            return  # (looking back, the cards show that moment's countdown)
        self._countdowns()

    def _countdowns(self) -> None:
        waiting = [n for n, m in self.view.models.items() if m.kernel == "TIME_WAIT"]
        self.query_one(Stage).tick(self._now(), waiting)

    # --- time travel -----------------------------------------------------------------
    @property
    def live_position(self) -> int:
        """The moment at the live edge: how many steps' calls the run has made."""
        return self.history.moments

    def _look_at(self, moment: int | None) -> None:
        """Show the run as it stood once ``moment`` calls were made (None, or the live
        moment: live). Going back pauses the run: nothing new happens while you look."""
        live = self.history.moments
        target = live if moment is None else min(moment, live)
        at = live if self.position is None else self.position
        if target == at:
            return
        if target < at and self.mode is not Mode.STEP:
            self._set_mode(Mode.STEP)
        before = self.view
        if target == live:
            self.position, self.view = None, self.history.live
        else:
            self.position, self.view = target, self.history.view_at(target)
        moved: set[str] = set()
        if target == at + 1:  # one step forward moves its cards as it did live
            moved = {n for n, m in self.view.models.items()
                     if m.state is not None and (n not in before.models
                                                 or before.models[n].state is not m.state)}
        with self.batch_update():
            self._draw(moved=moved)
        if self.position is None:
            self._reveal()

    def action_back(self) -> None:
        """Show the moment before the one on screen (the engine waits meanwhile)."""
        if self.history.dropped:
            self.notify(f"This run made more than {self.history.limit:,} events: it cannot "
                        "be gone back through. r starts it afresh.", timeout=4)
            return
        at = self.position if self.position is not None else self.history.moments
        if at == 0:
            self.notify("This is the start of the run: no call has been made yet.",
                        timeout=3)
            return
        self._look_at(at - 1)

    def action_first(self) -> None:
        """Back to the start of the run."""
        if not self.history.dropped:
            self._look_at(0)

    def action_live(self) -> None:
        """Back to the live edge, from looking back."""
        self._look_at(None)

    def on_status_bar_moment_chosen(self, message: StatusBar.MomentChosen) -> None:
        """A click on the timeline: that moment, or the live edge for a call not made yet
        (a click makes no call)."""
        if not self._view_open():
            return
        if self.history.dropped:
            self.action_back()  # (which says why not)
        else:
            self._look_at(message.moment)

    # --- actions ------------------------------------------------------------------------
    def action_step(self) -> None:
        if self.position is not None:  # looking back: forward through what was recorded
            self._look_at(self.position + 1)
            return
        if self.session.runner is None:
            return
        if self.view.outcome is not None:
            self.notify("This run is over: press r to run it again.", timeout=3)
            return
        if self.mode is not Mode.STEP:
            self._set_mode(Mode.STEP)
        self.action_show_tab("tab-next")
        if self.predictions.asked is not None:
            # The call just guessed at is still being made - or made, its answer waiting
            # for the kernel to settle: told now as it stands.
            self._reveal(now=True)
            return
        if self._ask():
            return  # the call is made once the question is answered
        self.session.step()

    def action_toggle_play(self) -> None:
        if self.position is not None:
            self._look_at(None)  # playing goes on from the live edge
        self._set_mode(Mode.PLAY if self.mode is Mode.STEP else Mode.STEP)

    def _set_mode(self, mode: Mode) -> None:
        self.mode = mode
        self.session.set_mode(mode)
        self._update_titles()
        self._draw_panels()

    def _set_pace(self, pace: float) -> None:
        self.pace = Gate.clamp(pace)
        self.session.set_pace(self.pace)
        self._draw_panels()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        # The message line takes + and - as text: then they are not keys to show.
        return not (action in ("faster", "slower") and self._typing)

    def action_faster(self) -> None:
        self._set_pace(self.pace / 1.5)

    def action_slower(self) -> None:
        self._set_pace(self.pace * 1.5)

    def action_restart(self) -> None:
        self.restart()

    async def action_quit(self) -> None:
        self._quitting = True
        self.session.stop(quitting=True)
        if self._lower == "mounting":
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
        self.session.stop(quitting=True)
        drawing.give_title_back(self)

    # --- what the screen shows, read back (the tests, the bench) ----------------------------
    @property
    def models(self):
        return self.view.models

    @property
    def cards(self) -> dict[str, SocketCard]:
        return self.query_one(Stage).cards

    @property
    def steps_done(self) -> int:
        return self.view.steps_done

    @property
    def outcome(self) -> RunFinished | None:
        return self.view.outcome

    @property
    def pending(self):
        return self.view.pending

    @property
    def calls_seen(self) -> int:
        """Call events received from the run."""
        return self.history.calls

    @property
    def runner(self):
        return self.session.runner

    @property
    def panels_ready(self) -> bool:
        """True once the lower panels (mounted after the first frame) are up to date."""
        return self._lower == "ready"

    @property
    def settled(self) -> bool:
        """True when the engine waits (at the gate, or finished) and the UI has caught up."""
        return self._lower == "ready" and self.session.settled(self.events_applied)


def make_app(
    config: AppConfig | None = None,
    runner_factory: RunnerFactory | None = None,
    clock: Callable[[], float] = time.monotonic,
    theme: str | None = None,
) -> SockvizApp:
    """The one way the CLI and the tests build the app."""
    return SockvizApp(config, runner_factory=runner_factory, clock=clock, theme=theme)

