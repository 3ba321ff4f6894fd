"""The run screen: one run's history, the moment shown, and the drawing of it.

The app starts runs and hands this screen their events (:meth:`RunScreen.take`); the screen
keeps them in a :class:`~sockviz.view.history.History`, which folds each into the live
:class:`~sockviz.view.run_view.RunView`. The screen shows one view - :attr:`RunScreen.view`,
a reactive: the live one, or the view of an earlier moment (time travel) - and drawing has
one path: setting the view draws it whole (:meth:`RunScreen.watch_view`); a batch at the live
edge draws only what it changed. What the panels say is
:mod:`sockviz.app.panel_words`'s; predict mode's turns are
:class:`~sockviz.app.predict_turns.PredictTurns`'. The screen talks to the engine only
through the app's :class:`~sockviz.app.session.Session`: "one step", "play/pause",
"faster", "stop". Everything here runs on the UI thread.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, ClassVar, cast

from textual.app import ComposeResult, ScreenStackError
from textual.binding import Binding, BindingType
from textual.css.query import NoMatches
from textual.message import Message
from textual.reactive import var
from textual.screen import Screen
from textual.widgets import Header

from sockviz.app.config import AppConfig
from sockviz.app.panel_words import Reading, done_words, next_words, titles, wire_notice
from sockviz.app.predict_turns import PredictTurns
from sockviz.app.session import Session
from sockviz.app.terminal import TerminalTitle
from sockviz.app.widgets.keys_footer import KeysFooter
from sockviz.app.widgets.ladder import Ladder
from sockviz.app.widgets.linkstrip import LinkStrip
from sockviz.app.widgets.message_bar import MessageBar
from sockviz.app.widgets.seq_graph_panel import SeqGraph
from sockviz.app.widgets.socket_card import SocketCard
from sockviz.app.widgets.stage import Stage
from sockviz.app.widgets.status import Position, StatusBar
from sockviz.app.widgets.tcp_diagram_panel import StateDiagram
from sockviz.engine.events import CallEvent, Checked, Event, RunFinished
from sockviz.engine.record.inert_text import inert_event
from sockviz.engine.run.gate import Mode
from sockviz.engine.scenarios.scenario_types import Scenario
from sockviz.view import history as history_module
from sockviz.view.fold import Changes
from sockviz.view.history import History
from sockviz.view.linkview import next_key
from sockviz.view.run_view import Row, RunView

if TYPE_CHECKING:  # (types only: the module is imported after the first frame)
    from sockviz.app.widgets.lower_row import LowerPanels


class RunScreen(Screen[None]):
    """See the module docstring."""

    # The footer shows these in this order - the most used first: a lesson is mostly
    # → and ←, then space, and ? says the rest. The app's own keys are here too (``app.``),
    # so the footer keeps the order the keys are read in. The help screen lists the keys
    # in the same order (sockviz.app.screens.help.KEYS).
    BINDINGS: ClassVar[list[BindingType]] = [
        # (priority: a panel a click has focused binds ← → to scroll sideways, and the
        # footer would show its hidden binding instead of these - as the browser did)
        Binding("right", "step", "Step", priority=True),
        Binding("n", "step", "Step", show=False),
        Binding("left", "back", "Back", priority=True),
        Binding("b", "back", "Back", show=False),
        Binding("space", "toggle_play", "Play"),
        Binding("question_mark", "app.help", "Help", key_display="?"),
        Binding("q", "app.quit", "Quit"),
        Binding("r", "app.restart", "Restart"),
        Binding("s", "app.pick_scenario", "Scenario"),
        Binding("f", "app.switch_family", "IPv4/6"),
        Binding("i", "type_message", "Message"),
        Binding("plus,equals_sign", "faster", "Speed", key_display="+/-"),
        Binding("minus", "slower", "Slower", show=False),
        Binding("w", "toggle_wire", "Wire", show=False),
        Binding("d", "toggle_panel('diagram')", "TCP states", show=False),
        Binding("G", "toggle_panel('graph')", "Seq graph", show=False),
        Binding("g", "toggle_quiz", "Predict", show=False),
        # (a teacher's key, pressed once a lesson: in the help and the palette, not the footer)
        Binding("t", "app.cycle_theme", "Theme", show=False),
        Binding("e", "show_tab('tab-next')", "Next call", show=False),
        Binding("p", "show_tab('tab-payload')", "Payload", show=False),
        Binding("l", "show_tab('tab-log')", "Log", show=False),
        Binding("home", "look(0)", "Start of the run", show=False),
        Binding("end", "look(None)", "Live edge", show=False),
        Binding("x", "app.export", "Export", show=False),
        Binding("ctrl+s", "app.save_svg", "Screenshot", show=False),
    ]

    # (no default worth the name: __init__ sets the first run's, before anything reads it)
    view: var[RunView] = var(cast(RunView, None), init=False, always_update=True)
    """The view on screen: the live one, or an earlier moment's. Setting it draws it."""

    class Ready(Message):
        """The screen and its widgets are up: the app may start the first run."""

    def __init__(
        self,
        session: Session,
        config: AppConfig,
        scenario: Scenario,
        clock: Callable[[], float],
        terminal_title: TerminalTitle,
    ) -> None:
        super().__init__(id="_default")
        self.session = session
        self.config = config
        self.terminal_title = terminal_title
        self.scenario = scenario
        """The scenario of the run on screen."""
        self.clock = clock
        self.history = History(scenario, limit=history_module.HISTORY_KEPT)
        """The run's events, and the view of it at any moment."""
        self.set_reactive(RunScreen.view, self.history.live)
        self.position: int | None = None
        """The moment shown when going back through history; None: the live edge."""
        self.events_applied = 0
        """Engine events taken in since the run started (the tests wait on this)."""
        self.predict = PredictTurns(session, config.quiz)
        self.flash_seconds = 0.7
        """How long a card shows the lit arrow into its new state after a call."""
        self.closing = False
        """Set by the app as it quits: nothing is mounted or drawn after that."""
        self.panels: str | None = None
        """The lower panels (explain, next, payload, log): None, "mounting" or "ready"."""
        self.lower: LowerPanels | None = None
        self.payload: Row | None = None
        """The message the payload view shows (the ladder's choice)."""
        self.said: set[str] = set()
        """What was said once a session (no two hosts here, the wire not watched)."""
        self.stage = Stage(id="stage")
        """The lanes of socket cards and the ladder between them."""

    # --- layout -------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        yield Header()
        yield StatusBar(id="status")
        yield LinkStrip(id="link-strip")
        yield self.stage
        yield StateDiagram(id="diagram")
        yield SeqGraph(id="graph")
        # The lower panels, and the message line in its bar, are mounted just after the
        # first frame (see _mount_lower).
        yield MessageBar(id="message-bar")
        # (each key whole: the ones that fit; ctrl+p, the palette, is in the help: the
        # footer's room is the lesson's keys)
        yield KeysFooter(compact=True, show_command_palette=False)

    def on_mount(self) -> None:
        self.query_one(Ladder).border_title = "ladder"
        self.call_after_refresh(self._mount_lower)
        self.set_interval(1.0, self._tick)
        self.post_message(self.Ready())

    def _mount_lower(self) -> None:
        """Mount the lower panels, after the first frame - unless the app is quitting."""
        if self.closing or not self.is_open():
            return
        self.panels = "mounting"
        # (imported only now: the tabs, log and input are a noticeable part of the start)
        from sockviz.app.widgets.lower_row import LowerPanels

        self.lower = LowerPanels(id="lower")
        self.mount(self.lower, after="#graph")
        self.query_one(MessageBar).line()

    def on_lower_panels_ready(self) -> None:
        """The lower panels are mounted: bring them up to what the view shows."""
        if self.closing or not self.is_open() or self.lower is None:
            return
        self.panels = "ready"
        self.lower.ready(self.payload, self.view)
        self.draw_panels()

    # --- a run --------------------------------------------------------------------------
    def begin(self, scenario: Scenario, again: bool = False) -> None:
        """A run of ``scenario``, on a history of its own (``again``: the screen showed
        another run, which it now forgets; the first run starts on an empty screen)."""
        self.scenario = scenario
        # (the module's HISTORY_KEPT, read at each run: a test lowers it)
        self.history = History(scenario, limit=history_module.HISTORY_KEPT)
        self.position, self.events_applied = None, 0
        if again:
            self.predict.predictions.forget_run()
            self.view = self.history.live
        else:
            self.set_reactive(RunScreen.view, self.history.live)

    def take(self, events: list[Event]) -> None:
        """Fold a batch of the run's events into its history, and show what it changed."""
        arrived = self.clock()
        changes, dropped = Changes(), self.history.dropped
        for event in events:
            # The boundary: text in an event (a recording's, a scenario file's, a peer's)
            # is made inert once, here, before anything keeps or draws it.
            event = inert_event(event)
            if isinstance(event, CallEvent):
                self.predict.predictions.saw(event)
            elif isinstance(event, Checked) and not event.met:
                self.notify(
                    f"step {event.step + 1}, {event.socket}.{event.call.value}(): "
                    f"expected {event.expected}, got {event.got}",
                    title="expectation not met",
                    severity="error",
                    timeout=10,
                )
            elif isinstance(event, RunFinished) and event.outcome == "aborted":
                self.notify(
                    event.reason or "the run stopped",
                    title="stopped by an error",
                    severity="error",
                    timeout=10,
                )
            self.history.add(arrived, event, changes)
        self.events_applied += len(events)
        if self.history.dropped and not dropped:
            # The run outgrew the history kept: back to the live edge, and no going back.
            self.position = None
            self.view = self.history.live
            self.notify(
                f"This run has made more than {self.history.limit:,} events: going back "
                "through it is off (r starts it afresh).",
                title="history full",
                timeout=6,
            )
        elif self.position is None:
            self._draw(changes)
        else:  # looking back: the events wait in the history; the timeline shows them
            self.draw_panels()
        if self.position is None and self.predict.reveal(self.app, self.history.live):
            self.draw_panels()

    def is_open(self) -> bool:
        """Whether the screen is still there to draw on (a batch can arrive while the app
        closes, as its widgets are being taken down one by one)."""
        if not self.app.is_running:  # (shutting down: from here on the widgets go)
            return False
        try:
            return self.query_one(Ladder).is_attached
        except (NoMatches, ScreenStackError):
            return False

    @property
    def settled(self) -> bool:
        """True when the engine waits (at the gate, or finished) and the screen has caught
        up with every event and mounted its panels (the tests and the bench wait on it)."""
        return (
            self.panels == "ready"
            and not self.stage.placing
            and self.session.settled(self.events_applied)
        )

    # --- drawing ------------------------------------------------------------------------
    def watch_view(self) -> None:
        """Another view (another moment, another run): drawn whole."""
        self._draw()

    def _draw(self, changes: Changes | None = None) -> None:
        """Show :attr:`view`: whole (``changes`` None), or as far as ``changes`` says a
        batch changed it."""
        view = self.view
        stage = self.stage
        stage.show(view, self._now(), self._flash, changes)
        if changes is None and self.position is None:
            stage.keep_only(view)  # (back at the live edge: cards of sockets long gone go)
        chosen = False
        if changes is None or changes.rows or changes.delivered:
            ladder = self.query_one(Ladder)
            chosen = ladder.show(view, again=changes is None)
            self.payload = ladder.selected
        if self.panels == "ready" and self.lower is not None:
            self.lower.show_log(view, None if changes is None else changes.lines)
            if chosen:
                self.lower.show_payload(self.payload)
        if self.has_class("-diagram"):
            self.query_one(StateDiagram).show(view)
        if self.has_class("-graph"):
            self.query_one(SeqGraph).show(view)
        if changes is None or changes.panels:
            self.draw_panels()

    def draw_panels(self) -> None:
        """The status line, and the panels that say what was done and what comes next."""
        view, mode, predictions = self.view, self.session.mode, self.predict.predictions
        sub_title, terminal_title = titles(self.config, self.scenario, mode, view.link_missing)
        self.app.sub_title = sub_title
        self.terminal_title.set(terminal_title)
        total = self.session.total_steps(self.scenario)
        live = self.history.moments
        self.query_one(StatusBar).show(
            mode=mode.value,
            pace=self.session.pace,
            done=view.steps_done,
            total=total,
            outcome=view.outcome.outcome if view.outcome else None,
            replay=bool(self.config.replay),
            position=Position(live if self.position is None else self.position, live, total),
            quiz=predictions.score if predictions.on or predictions.answered else None,
            held=next_key(view.link) if self.position is None else None,
        )
        self.query_one(LinkStrip).show(view.link)
        if view.link_missing and view.link_missing not in self.said:
            self.said.add(view.link_missing)
            self.notify(
                f"No two hosts here ({view.link_missing}): the run goes on loopback, with no link.",
                title="two hosts",
                timeout=10,
                severity="warning",
            )
        if self.panels != "ready" or self.lower is None:
            return  # drawn once they are mounted
        reading = Reading(
            total, self.position is None, mode, predictions.on, bool(self.config.outside)
        )
        step = view.last_done[0].step if view.last_done else None
        said = None if step is None else predictions.said.get(step)
        self.lower.show_done(done_words(view, reading, said, self._now()))
        notice = wire_notice(view)
        if notice is not None:
            reason, words, severity = notice
            if reason not in self.said:  # (once a session, not at every run)
                self.said.add(reason)
                self.notify(words, timeout=8, severity=severity)
        self.lower.show_next(next_words(view, reading), self.scenario.protocol is not None)

    def _now(self) -> float:
        """The time the cards show: now, or the moment looked back at."""
        return self.clock() if self.position is None else self.view.time

    def _flash(self, card: SocketCard) -> None:
        """Show a card moving into its new state, and still again a moment later."""
        if self.app.animation_level == "none":
            card.still(self._now())
        else:
            card.flash(self._now(), self.flash_seconds, self._now)

    def _tick(self) -> None:
        if self.closing or not self.is_open() or self.position is not None:
            return  # (looking back, the cards show that moment's countdown)
        waiting = [n for n, m in self.view.models.items() if m.kernel == "TIME_WAIT"]
        self.stage.tick(self._now(), waiting)

    # --- time travel -----------------------------------------------------------------
    def action_look(self, moment: int | None) -> None:
        """Show the run as it stood once ``moment`` calls were made (None, or the live
        moment: live; home is 0, end None). Going back pauses the run: nothing new happens
        while you look. A run that outgrew its history shows only its live edge."""
        if moment is not None and self.history.dropped:
            return
        live = self.history.moments
        target = live if moment is None else min(moment, live)
        at = live if self.position is None else self.position
        if target == at:
            return
        if target < at and self.session.mode is not Mode.STEP:
            self.set_mode(Mode.STEP)
        before = self.view
        with self.app.batch_update():
            self.position = None if target == live else target
            self.view = self.history.live if target == live else self.history.view_at(target)
            if target == at + 1:  # one step forward moves its cards as it did live
                self.stage.flash_moved(before, self.view, self._flash)
        if self.position is None and self.predict.reveal(self.app, self.history.live):
            self.draw_panels()

    def action_back(self) -> None:
        """Show the moment before the one on screen (the engine waits meanwhile)."""
        if self.history.dropped:
            self.notify(
                f"This run made more than {self.history.limit:,} events: it cannot "
                "be gone back through. r starts it afresh.",
                timeout=4,
            )
            return
        at = self.position if self.position is not None else self.history.moments
        if at == 0:
            self.notify("This is the start of the run: no call has been made yet.", timeout=3)
            return
        self.action_look(at - 1)

    def on_status_bar_moment_chosen(self, message: StatusBar.MomentChosen) -> None:
        """A click on the timeline: that moment, or the live edge for a call not made yet
        (a click makes no call)."""
        if not self.is_open():
            return
        if self.history.dropped:
            self.action_back()  # (which says why not)
        else:
            self.action_look(message.moment)

    # --- the run's controls -----------------------------------------------------------
    def action_step(self) -> None:
        if self.position is not None:  # looking back: forward through what was recorded
            self.action_look(self.position + 1)
            return
        if self.session.runner is None:
            return
        if self.view.outcome is not None:
            self.notify("This run is over: press r to run it again.", timeout=3)
            return
        if self.session.mode is not Mode.STEP:
            self.set_mode(Mode.STEP)
        self.action_show_tab("tab-next")
        if self.predict.predictions.asked is not None:
            # The call just guessed at is still being made - or made, its answer waiting
            # for the kernel to settle: told now as it stands.
            if self.predict.reveal(self.app, self.history.live, now=True):
                self.draw_panels()
            return
        if self.predict.ask(self.app, self.history.live):
            return  # the call is made once the question is answered
        self.session.step()

    def action_toggle_play(self) -> None:
        if self.position is not None:
            self.action_look(None)  # playing goes on from the live edge
        self.set_mode(Mode.PLAY if self.session.mode is Mode.STEP else Mode.STEP)

    def set_mode(self, mode: Mode) -> None:
        self.session.set_mode(mode)
        self.draw_panels()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        # The message line takes + and - as text, and ← → to move in it: then they are not
        # keys to show, and they go on to the line.
        typing = self.focused is not None and self.focused.id == "message"
        return not (action in ("faster", "slower", "step", "back") and typing)

    def action_faster(self) -> None:
        self.session.set_pace(self.session.pace / 1.5)
        self.draw_panels()

    def action_slower(self) -> None:
        self.session.set_pace(self.session.pace * 1.5)
        self.draw_panels()

    # --- the screen's own keys --------------------------------------------------------
    def action_toggle_quiz(self) -> None:
        if self.predict.toggle(self.app) and self.session.mode is not Mode.STEP:
            self.set_mode(Mode.STEP)
        self.draw_panels()

    def action_toggle_wire(self) -> None:
        """Show or hide the wire's rows on the ladder (the segments stay in the run)."""
        ladder = self.query_one(Ladder)
        ladder.wire_rows(not ladder.show_wire, self.view)
        shown = "shown" if ladder.show_wire else "hidden (w shows them again)"
        self.notify(f"The wire's segments on the ladder: {shown}.", timeout=3)

    def action_toggle_panel(self, name: str) -> None:
        """The TCP state diagram (``diagram``) or the time-sequence graph (``graph``) in the
        stage's place; again, its next connection or direction; after the last, the stage
        again."""
        panel: StateDiagram | SeqGraph = (
            self.query_one(StateDiagram) if name == "diagram" else self.query_one(SeqGraph)
        )
        if not self.has_class(f"-{name}"):
            self.remove_class("-diagram", "-graph")
            self.add_class(f"-{name}")
            panel.choice = 0
            panel.show(self.view)
        elif not panel.advance(self.view):
            self.remove_class(f"-{name}")

    def on_ladder_message_chosen(self, message: Ladder.MessageChosen) -> None:
        self.payload = message.row
        if self.panels != "ready" or self.lower is None or not self.is_open():
            return
        self.lower.show_payload(message.row)
        if message.by_user:
            self.action_show_tab("tab-payload")

    def action_show_tab(self, tab: str) -> None:
        if self.panels == "ready" and self.lower is not None:
            self.lower.show_tab(tab)

    def action_type_message(self) -> None:
        self.query_one(MessageBar).open()
