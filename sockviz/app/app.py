"""The sockviz TUI: the app that runs scenarios and hands their events to the run screen.

The app owns the session - the engine process, the runner, the batcher that brings the
run's events (see :mod:`sockviz.app.session`) - and the lifecycle: what runs (a scenario, a
family, a restart), quitting however it is asked for (q, a signal, the terminal gone), and
what is kept (an export, a screenshot). What is on screen - the run's history, the moment
shown, the drawing - is the :class:`~sockviz.app.run_screen.RunScreen`'s: each batch of
events posted by the session's thread arrives here as a message, and is handed to it.
Everything here runs on the UI thread; no widget is touched from anywhere else.
"""

from __future__ import annotations

import collections
import time
from collections.abc import Callable, Iterable, MutableMapping
from typing import ClassVar

from textual.app import App, SystemCommand
from textual.binding import Binding, BindingType
from textual.notifications import SeverityLevel
from textual.screen import Screen

from sockviz.app.config import FAMILY_LABEL, MESSAGE_LIMIT, AppConfig
from sockviz.app.messages import EngineEvents
from sockviz.app.run_screen import RunScreen
from sockviz.app.session import Session
from sockviz.app.terminal import QuitSignals, TerminalGone, TerminalTitle, driver_class
from sockviz.app.themes import DARK_COLOURS, THEMES, next_theme
from sockviz.app.user_settings import DEFAULT_THEME, THEME_NAMES, UserSettings
from sockviz.app.widgets.message_bar import MessageBar
from sockviz.engine import scenarios as scenario_registry
from sockviz.engine.events import Event
from sockviz.engine.families import FAMILIES
from sockviz.engine.record.inert_text import inert, inert_lines
from sockviz.engine.run.gate import Mode
from sockviz.engine.run.runner_protocols import RunnerFactory
from sockviz.engine.scenarios.scenario_types import Scenario

__all__ = ["MESSAGE_LIMIT", "AppConfig", "SockvizApp", "make_app"]


class SockvizApp(App[None]):
    """See the module docstring."""

    CSS_PATH = "sockviz.tcss"
    TITLE = "sockviz"
    AUTO_FOCUS = None
    # The command palette (ctrl+p) offers sockviz's own commands (sockviz.app.commands)
    # beside Textual's Quit and Keys; no sockviz key is ctrl+p.
    COMMANDS = App.COMMANDS | {lambda: _commands_provider()}
    # (typed as Textual types them: a class variable it reads from the app or a screen)
    HORIZONTAL_BREAKPOINTS: list[tuple[int, str]] | None = [(0, "-narrow"), (130, "-wide")]  # noqa: RUF012
    VERTICAL_BREAKPOINTS: list[tuple[int, str]] | None = [(0, "-short"), (38, "-tall")]  # noqa: RUF012

    # The app's keys the footer shows are the run screen's bindings (``app.quit`` ...),
    # in the order the footer shows them; only what must work over any screen is here.
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+q", "quit", "Quit", show=False, priority=True),
    ]

    run_screen: RunScreen
    """The screen of the run (made as the app starts: the first screen on the stack)."""

    def __init__(
        self,
        config: AppConfig | None = None,
        runner_factory: RunnerFactory | None = None,
        scenarios: MutableMapping[str, Scenario] | None = None,
        clock: Callable[[], float] = time.monotonic,
        theme: str | None = None,
        settings: UserSettings | None = None,
    ) -> None:
        super().__init__(driver_class=driver_class())
        for registered in THEMES:
            self.register_theme(registered)
        self.config = config or AppConfig()
        self.session = Session(
            runner_factory,
            wire=self.config.wire,
            mode=Mode.STEP if self.config.step or self.config.quiz else Mode.PLAY,
            pace=self.config.pace,
        )
        self.scenarios: MutableMapping[str, Scenario] = scenarios or collections.ChainMap(
            {},
            scenario_registry.REGISTRY,  # type: ignore[arg-type]  # (read only: writes go to {})
        )
        """Name -> scenario (a ChainMap: a scenario file's built-ins are read when asked for)."""
        if self.config.closer and self.config.scenario == "time-wait":
            self.scenarios["time-wait"] = scenario_registry.get(
                "time-wait", closer=self.config.closer
            )
        self.clock = clock
        self.theme_name = theme
        """The theme to start in (None: :data:`DEFAULT_THEME`)."""
        self.settings = settings
        """The user's remembered settings, written to when the theme changes; None (the
        tests): nothing is read or written."""
        self.terminal_title = TerminalTitle(self)
        self._quitting = False
        """Set on quit: nothing is mounted after that."""
        self._exit_when_ready = False
        self._signals = QuitSignals()

    @property
    def scenario(self) -> Scenario:
        return self.scenarios[self.config.scenario]

    @property
    def mode(self) -> Mode:
        """How runs are let through: step, play or fast (the session's, kept across runs;
        the command line sets it before the app starts)."""
        return self.session.mode

    @mode.setter
    def mode(self, mode: Mode) -> None:
        self.session.mode = mode

    def get_default_screen(self) -> RunScreen:
        self.run_screen = RunScreen(
            self.session, self.config, self.scenario, self.clock, self.terminal_title
        )
        return self.run_screen

    def get_theme_variable_defaults(self) -> dict[str, str]:
        """sockviz's own variables for a theme that does not set them (Textual's own themes,
        which a test or the palette's search may name): the dark default's."""
        return dict(DARK_COLOURS)

    def on_mount(self) -> None:
        self.theme = self.theme_name or DEFAULT_THEME
        if self.settings is not None and self.settings.problem is not None:
            self.notify(self.settings.problem, title="config file", timeout=8)
        self._signals.catch(self._quit_soon)

    # --- themes ---------------------------------------------------------------------------
    def action_cycle_theme(self) -> None:
        """``t``: the next of sockviz's themes."""
        self.action_use_theme(next_theme(self.theme))

    def action_use_theme(self, name: str) -> None:
        """Show the app in theme ``name``, say which (a projector can hide the change), and
        remember it."""
        self.theme = name
        self.notify(f"Theme: {name} (t for the next)", timeout=2)
        # Kept for the next run (a theme chosen here; --theme is for one run only).
        if self.settings is not None and name in THEME_NAMES:
            problem = self.settings.save_theme(name)
            if problem is not None:
                self.notify(problem, title="config file", severity="warning", timeout=6)

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        """Textual's own palette commands, less the two sockviz does its own way: its
        themes are its commands, and ctrl+s is its screenshot."""
        for command in super().get_system_commands(screen):
            if command.title not in ("Theme", "Screenshot"):
                yield command

    def notify(
        self,
        message: str,
        *,
        title: str = "",
        severity: SeverityLevel = "information",
        timeout: float | None = None,
        markup: bool = False,
    ) -> None:
        """Notifications are plain, inert text here: they can quote a call's arguments, a
        file or an error, and those can hold what a user typed or a peer sent (``[/]``,
        ``[@click=...]``, terminal escapes)."""
        message, title = inert_lines(message, 600), inert(title, 80)
        super().notify(message, title=title, severity=severity, timeout=timeout, markup=False)
        # On the run screen a notice has a line of its own in the message bar (its toast
        # is hidden: it covered what just happened).
        seconds = self.NOTIFICATION_TIMEOUT if timeout is None else timeout
        for bar in self.run_screen.query(MessageBar) if hasattr(self, "run_screen") else ():
            bar.notice(title, message, severity, seconds)

    # --- the terminal and signals -------------------------------------------------------
    def on_terminal_gone(self, message: TerminalGone) -> None:
        """The terminal went away (a closed window, a killed tmux session): quit as on
        SIGHUP, which does not always come (the app is not always the session leader)."""
        if not self._quitting:
            self._quit_soon()

    def _quit_soon(self) -> None:
        self._signals.release()  # (at once: a second signal ends the process)
        self.call_later(self.action_quit)

    # --- running ------------------------------------------------------------------------
    def on_run_screen_ready(self) -> None:
        """The run screen is up: the first run starts on it."""
        self._start_run()

    def _start_run(self, again: bool = False) -> None:
        """A run of the scenario, shown afresh (``again``: the screen showed another run,
        which it now forgets)."""
        self.run_screen.begin(self.scenario, again)
        problem = self.session.start(self.scenario, self.config, self._post_batch)
        if problem is not None:
            self.notify(problem, title="cannot start", severity="error", timeout=8)
        if self.session.note is not None:
            self.notify(self.session.note, title="on loopback", timeout=8)
        self.run_screen.draw_panels()

    def _post_batch(self, events: list[Event], generation: int) -> None:
        """The session's batcher's delivery, on its thread: a message to the UI thread."""
        self.post_message(EngineEvents(events, generation))

    def restart(self) -> None:
        """Stop the run (closing every socket) and start the scenario afresh."""
        self.session.stop()
        self._start_run(again=True)

    def on_engine_events(self, message: EngineEvents) -> None:
        if (
            message.generation != self.session.generation
            or self._quitting
            or not self.run_screen.is_open()
        ):
            return  # from a run that was restarted, or the app is closing (the last
            # batch of a stopped run - its closes - is drawn by nobody)
        self.run_screen.take(message.events)
        self.session.ack()  # ready for the next batch

    # --- what runs ----------------------------------------------------------------------
    def action_restart(self) -> None:
        self.restart()

    def _outside_only(self, what: str) -> bool:
        """True (and said why) when the run is a replay or faces a real program: what it
        runs cannot change."""
        if self.config.replay:
            self.notify(
                f"{what} does not apply to a replay: it plays the run recorded in "
                f"{self.config.replay}. Quit and start sockviz again to change it.",
                timeout=5,
            )
            return True
        if self.config.outside:
            self.notify(
                f"{what} does not apply to --{self.config.outside}: the other end is "
                "a real program. Quit and start sockviz again to change it.",
                timeout=5,
            )
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

        # (imported when asked for: the picker is not part of the start)
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
        self.notify(
            f"Now on {FAMILY_LABEL[self.config.family]} ({FAMILIES[self.config.family].loopback})",
            timeout=3,
        )

    def on_message_bar_typed(self, message: MessageBar.Typed) -> None:
        """A message for the client: queued into the run (sent at once to a real peer)."""
        if self.session.runner is None:
            return
        data = message.data
        try:
            at = self.session.runner.queue_message(data)
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
        self.run_screen.draw_panels()

    # --- what is kept -------------------------------------------------------------------
    def action_export(self) -> None:
        """Write the run so far as a Mermaid sequenceDiagram and as plain text."""
        # (imported when asked for: the export's words are not part of the start)
        from sockviz.app.saved_files import export_run

        export_run(self, self.run_screen.history.trace, self.config, self.scenario)

    def action_save_svg(self) -> None:
        """An SVG screenshot of the screen as it is."""
        from sockviz.app.saved_files import save_svg  # (as for the export)

        save_svg(self, self.config.scenario)

    def action_help(self) -> None:
        # (imported when asked for: the help is not part of the start)
        from sockviz.app.screens.help import HelpScreen

        self.push_screen(HelpScreen(self.run_screen.view.tcp))

    # --- quitting -----------------------------------------------------------------------
    async def action_quit(self) -> None:
        self._quitting = self.run_screen.closing = True
        self.session.stop(quitting=True)
        if self.run_screen.panels == "mounting":
            # Tearing down widgets still being mounted trips Textual's tabs (an error
            # instead of a quit): the panels are a few milliseconds from ready, and the
            # exit follows then - or in half a second whatever happens.
            self._exit_when_ready = True
            self.set_timer(0.5, lambda: self.exit(None))
            return
        self.exit(None)

    def on_lower_panels_ready(self) -> None:
        if self._exit_when_ready:
            self.exit(None)  # a quit waited for this (see action_quit)

    def on_unmount(self) -> None:
        self._quitting = True
        self._signals.release()
        self.session.stop(quitting=True)
        self.terminal_title.give_back()


def make_app(
    config: AppConfig | None = None,
    runner_factory: RunnerFactory | None = None,
    clock: Callable[[], float] = time.monotonic,
    theme: str | None = None,
    settings: UserSettings | None = None,
) -> SockvizApp:
    """The one way the CLI and the tests build the app."""
    return SockvizApp(
        config, runner_factory=runner_factory, clock=clock, theme=theme, settings=settings
    )


def _commands_provider() -> type:
    """The palette's provider of sockviz's commands (imported when the palette opens)."""
    from sockviz.app.commands import SockvizCommands

    return SockvizCommands
