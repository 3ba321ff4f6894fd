"""Drawing the view on screen: the one path for the live run and for any moment of it.

:class:`Drawing` is the part of the app that puts a :class:`~sockviz.view.run_view.RunView`
on the widgets - the stage's cards and ladder, the log, the payload, the status line, the
explanation panels, the titles - whole (another moment, another run) or only as far as a
batch of events changed it. It reads the view and the app's own settings (mode, pace,
position); it keeps no fact of the run.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from textual.content import Content

from sockviz.app.config import FAMILY_LABEL, MESSAGE_LIMIT
from sockviz.app.widgets.explain_panel import (
    ExplainPanel,
    NextPanel,
    done_content,
    next_content,
)
from sockviz.app.widgets.ladder import Ladder
from sockviz.app.widgets.linkstrip import LinkStrip
from sockviz.app.widgets.payload import PayloadView
from sockviz.app.widgets.runlog import RunLog
from sockviz.app.widgets.stage import Stage
from sockviz.app.widgets.status import Position, StatusBar
from sockviz.engine.events import UNIX_NO_WIRE
from sockviz.engine.run.gate import Mode
from sockviz.engine.record.inert_text import inert
from sockviz.view import linkview

if TYPE_CHECKING:
    from sockviz.app.widgets.lower_row import MessageInput
    from sockviz.view.fold import Changes
    from sockviz.view.run_view import Row

#: One colour per lifecycle state and per kernel state family (used by the stylesheet).
STATE_COLOURS = {
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
    "wire": "#5fafd7",
}


class Drawing:
    """The app's drawing, as a part of :class:`~sockviz.app.app.SockvizApp` (which it is
    mixed into). See the module docstring."""

    _payload: Row | None = None
    """The message the payload view shows (the ladder's choice)."""

    def get_theme_variable_defaults(self) -> dict[str, str]:
        return dict(STATE_COLOURS)

    # --- the whole screen ---------------------------------------------------------------
    def _draw(self, changes: Changes | None = None, moved: set[str] = frozenset()) -> None:
        """Show :attr:`view`: whole (``changes`` None: the cards in ``moved`` move into
        their state as they did live), or as far as ``changes`` says it changed."""
        view = self.view
        stage = self.query_one(Stage)
        stage.show(view, self._now(), self._flash, changes, moved)
        if changes is None and self.position is None:
            stage.keep_only(view)  # (back at the live edge: cards of sockets long gone go)
        chosen = False
        if changes is None or changes.rows or changes.delivered:
            ladder = self.query_one(Ladder)
            chosen = ladder.show(view, again=changes is None)
            self._payload = ladder.selected
        if self._lower == "ready":
            self._log().show(view, None if changes is None else changes.lines)
            if chosen:
                self.query_one(PayloadView).show(self._payload)
        if changes is None or changes.panels:
            self._draw_panels()

    def _log(self) -> RunLog:
        return self.query_one(RunLog)  # (mounted with the lower panels)

    def _draw_panels(self) -> None:
        """The status line, and the panels that say what was done and what comes next."""
        view = self.view
        total = self.session.total_steps(self.scenario)
        live = self.history.moments
        self.query_one(StatusBar).show(
            mode=self.mode.value, pace=self.pace, done=view.steps_done, total=total,
            outcome=view.outcome.outcome if view.outcome else None,
            replay=bool(self.config.replay),
            position=Position(live if self.position is None else self.position, live, total),
            quiz=(self.predictions.score if self.predictions.on or self.predictions.answered
                  else None),
            held=linkview.next_key(view.link) if self.position is None else None,
        )
        self.query_one(LinkStrip).show(view.link)
        said = self.__dict__.setdefault("_wire_said", set())
        if view.link_missing and view.link_missing not in said:
            said.add(view.link_missing)
            self._update_titles()
            self.notify(f"No two hosts here ({view.link_missing}): the run goes on "
                        "loopback, with no link.", title="two hosts", timeout=10,
                        severity="warning")
        if self._lower != "ready":
            return  # drawn once they are mounted
        done = None
        if view.last_done is not None:
            event, before = view.last_done
            planned = event.error is not None and view.planned_error(event.step) == event.error
            wire = None
            if view.wire is not None and (view.wire.where is not None
                                          or view.wire.note == UNIX_NO_WIRE):
                from sockviz.view.wirewords import story

                wire = story(event, view.caused, view.models, view.wire)
                if view.link is not None:
                    from dataclasses import replace

                    from sockviz.view.linkview import link_story

                    link = view.link
                    if view.under_way is not None:  # (the pending call's since: its own)
                        link = replace(link, recent=tuple(
                            s for s in link.recent if s.seq < view.under_way))
                    wire = link_story(link, view.link_from, wire, view.link_during)
            done = done_content(event, before, view.explain(event.step), total, planned,
                                self.predictions.said.get(event.step),
                                view.checks.get(event.step), wire,
                                self._kernel_since(event.socket),
                                self._settings_of(event.socket))
        self.query_one(ExplainPanel).show(done)
        self._say_wire_once()
        self.query_one(PayloadView).decode_websocket = self.scenario.protocol is not None
        for panel in self.query(NextPanel):
            panel.show(self._upcoming(total))
        self._leave_next_tab_when_wide()

    def _settings_of(self, socket: str):
        """The kernel TCP settings the run read for ``socket``'s host (None: not said)."""
        from sockviz.engine.states import Role

        model, tcp = self.view.models.get(socket), self.view.tcp
        if model is None:
            return tcp.get(None)
        return tcp.get(None) or tcp.get("client" if model.role is Role.CLIENT else "server")

    def _kernel_since(self, socket: str) -> str | None:
        """What the kernel lines read since the call say of its socket: an orphaned
        FIN_WAIT2 and the time its timer had left (None: nothing to add)."""
        import math

        from sockviz.engine.states import State
        from sockviz.engine.kernel.tcp_settings import fin_timeout_words

        model = self.view.models.get(socket)
        if model is None or model.kernel != "FIN_WAIT2" or model.state is not State.CLOSED:
            return None
        said = (f"{socket} is in FIN_WAIT2, orphaned: its program closed it, so no call can "
                "read the peer's FIN. Its kernel drops the connection when its timer runs out")
        if model.kernel_deadline is None:  # (no kernel line with its timer came)
            settings = self._settings_of(socket)
            return f"{said}; its timer was not read here ({fin_timeout_words(settings)})."
        left = max(0, math.ceil(model.kernel_deadline - self._now()))
        return (f"{said} - {left} s left, as the kernel's timer was read (ss shows it too; "
                "net.ipv4.tcp_fin_timeout sets it).")

    def _say_wire_once(self) -> None:
        """When the wire is not watched, say why - once a session, not at every run."""
        status = self.view.wire
        if status is None or not status.note or status.where not in (None, "pcap") \
                or status.note == UNIX_NO_WIRE:  # (said where it matters: under each send)
            return
        said = self.__dict__.setdefault("_wire_said", set())
        if status.note in said:
            return
        said.add(status.note)
        words = "The wire is not shown" if status.where is None else "--pcap"
        self.notify(inert(f"{words}: {status.note}.", 300), timeout=8,
                    severity="information" if status.where is None else "error")

    def _upcoming(self, total: int) -> Content:
        view = self.view
        held = linkview.next_key(view.link) if self.position is None else None
        if held and self.mode is Mode.STEP:
            return Content(f"→ {held}: the link holds it at the sending side, and "
                           "the next call waits for it (the kernels' timers keep running).")
        if view.pending is not None:
            hint = "press → to make this call" if self.mode is Mode.STEP else ""
            if self.position is not None:
                hint = "made already: → shows it"
            under_way = None
            if view.under_way is not None and self.position is None:
                from sockviz.view.wirewords import under_way_story

                under_way = under_way_story(view.pending, view.during)
                hint = ""  # (made already: it runs)
            return next_content(view.pending, total, hint, explain=not self.predictions.on,
                                under_way=under_way)
        if view.outcome is not None and view.outcome.outcome == "done":
            return Content("Nothing: every call has been made and every socket is "
                           "closed. Watch the kernel badges; press r to run it again.")
        if view.outcome is not None:
            return Content("Nothing: the run stopped. Press r to run it again.")
        if self.config.outside:
            return Content("Waiting for the other end - a real program - to do something "
                           "(connect, send, close)…")
        return Content("Waiting for the first call…")

    def _update_titles(self) -> None:
        family = FAMILY_LABEL.get(self.config.family, self.config.family)
        mode = {"step": "step mode", "play": "playing", "fast": "fast"}[self.mode.value]
        where = "Unix sockets" if self.config.family == "unix" else f"{family} loopback"
        if (self.config.link or self.scenario.link) and self.config.family != "unix" \
                and not self.config.outside and not self.scenario.loopback_only:
            where = f"{family} · two hosts and a link"
            if self.view.link_missing:
                where = f"{family} loopback (no two hosts here)"
        if self.config.outside:
            where = self.config.where or ""
        if self.config.replay:
            where = f"replay of {os.path.basename(self.config.replay)}"
        self.sub_title = inert(f"{self.config.scenario} · {where} · {mode}", 200)
        set_terminal_title(self, inert(f"sockviz · {self.config.scenario} · {family}", 80))

    # --- the lower panels ---------------------------------------------------------------
    def _mount_lower(self) -> None:
        """Mount the lower panels, after the first frame - unless the app is quitting."""
        if self._quitting or not self._view_open():
            return
        self._lower = "mounting"
        from sockviz.app.widgets.lower_row import LowerPanels

        self.default_screen.mount(LowerPanels(id="lower"), after="#stage")
        self._message_input()

    def _message_input(self) -> MessageInput:
        """The message line, mounted (hidden in its bar) the first time it is needed."""
        from sockviz.app.widgets.lower_row import MessageInput

        existing = self.query(MessageInput)
        if existing:
            return existing.first()
        line = MessageInput(
            placeholder="a message for the client to send · Enter sends · Escape leaves",
            id="message", max_length=MESSAGE_LIMIT)
        self.query_one("#message-bar").mount(line)
        return line

    def on_lower_panels_ready(self) -> None:
        """The lower panels are mounted: bring them up to what the view shows."""
        if self._exit_when_ready:
            self.exit(0)  # a quit waited for this (see action_quit)
            return
        if self._quitting or not self._view_open():
            return
        self._lower = "ready"
        self.query_one("#explain").border_title = "what just happened"
        self.query_one("#next-wide").border_title = "next"
        for tabs in self.query("Tabs"):
            tabs.can_focus = False  # → must always step, never move between tabs
        self.query_one(PayloadView).show(self._payload)
        self._log().show(self.view)
        self._draw_panels()

    def on_ladder_message_chosen(self, message: Ladder.MessageChosen) -> None:
        self._payload = message.row
        if self._lower != "ready" or not self._view_open():
            return
        self.query_one(PayloadView).show(message.row)
        if message.by_user:
            self.action_show_tab("tab-payload")

    def action_show_tab(self, tab: str) -> None:
        if tab == "tab-next" and self.screen.has_class("-wide"):
            return  # the next call has its own column on a wide screen
        if self._lower == "ready":
            self.query_one("#tabs").active = tab

    def _leave_next_tab_when_wide(self) -> None:
        tabs = self.query_one("#tabs")
        if self.screen.has_class("-wide") and tabs.active == "tab-next":
            tabs.active = "tab-payload"


# --- the terminal's title -----------------------------------------------------------------
def set_terminal_title(app, title: str) -> None:
    """Name the terminal window; the first time, save the old title (xterm's stack)."""
    if not getattr(app, "_title_pushed", False):
        app._title_pushed = _write_terminal(app, "\x1b[22;0t")
    _write_terminal(app, f"\x1b]2;{title}\x07")


def give_title_back(app) -> None:
    if getattr(app, "_title_pushed", False):
        _write_terminal(app, "\x1b[23;0t")


def _write_terminal(app, sequence: str) -> bool:
    driver = getattr(app, "_driver", None)
    if driver is None or app.is_headless:
        return False
    try:
        driver.write(sequence)
        driver.flush()
    except Exception:  # noqa: BLE001 - a title is a nicety; never fail over it
        return False
    return True
