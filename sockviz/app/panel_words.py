"""What the run screen's panels and titles say, as pure functions of the view and settings.

The run screen decides *when* to draw; these decide *what*: the "what just happened" block
(the call, its wire and link story, what the kernel said since), the "next" block, the
titles, and the notice when the wire is not watched. They read a
:class:`~sockviz.view.run_view.RunView` and plain values - no widget, no app - so each is
the same for a live run, a replay and any moment gone back to.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, replace

from textual.content import Content
from textual.notifications import SeverityLevel

from sockviz.app.config import FAMILY_LABEL, AppConfig
from sockviz.app.widgets.explain_panel import done_content, next_content
from sockviz.engine.events import UNIX_NO_WIRE, TcpSettings
from sockviz.engine.kernel.tcp_settings import fin_timeout_words
from sockviz.engine.record.inert_text import inert
from sockviz.engine.run.gate import Mode
from sockviz.engine.scenarios.scenario_types import Scenario
from sockviz.engine.states import State
from sockviz.view.linkview import link_story, next_key
from sockviz.view.run_view import RunView
from sockviz.view.wirewords import story, under_way_story


@dataclass(frozen=True)
class Reading:
    """How the screen reads the view it shows: the settings the words depend on."""

    total: int
    """The run's steps (0: not known)."""
    live: bool
    """The view is the live edge's (not a moment gone back to)."""
    mode: Mode
    quiz: bool
    """Predict mode is on: what a call does is told after the guess."""
    outside: bool
    """The other end is a real outside program."""


def done_words(
    view: RunView, reading: Reading, said: tuple[str, str] | None, now: float
) -> Content | None:
    """The block for the last call made (None: no call yet). ``said``: predict mode's
    guess and the truth for it; ``now``: the time the cards show."""
    if view.last_done is None:
        return None
    event, before = view.last_done
    planned = event.error is not None and view.planned_error(event.step) == event.error
    wire = None
    if view.wire is not None and (view.wire.where is not None or view.wire.note == UNIX_NO_WIRE):
        wire = story(event, view.caused, view.models, view.wire, view.flow_notes, view.earlier)
        if view.link is not None:
            link = view.link
            if view.under_way is not None:  # (the pending call's since: its own)
                link = replace(link, recent=tuple(s for s in link.recent if s.seq < view.under_way))
            wire = link_story(link, view.link_from, wire, view.link_during)
    return done_content(
        event,
        before,
        view.explain(event.step),
        reading.total,
        planned,
        said,
        None if event.step is None else view.checks.get(event.step),
        wire,
        kernel_since(view, event.socket, now),
        settings_of(view, event.socket),
    )


def settings_of(view: RunView, socket: str) -> TcpSettings | None:
    """The kernel TCP settings the run read for ``socket``'s host (None: not said)."""
    model, tcp = view.models.get(socket), view.tcp
    if model is None:
        return tcp.get(None)
    return tcp.get(None) or tcp.get(model.lane)


def kernel_since(view: RunView, socket: str, now: float) -> str | None:
    """What the kernel lines read since the call say of its socket: an orphaned
    FIN_WAIT2 and the time its timer had left (None: nothing to add)."""
    model = view.models.get(socket)
    if model is None or model.kernel != "FIN_WAIT2" or model.state is not State.CLOSED:
        return None
    said = (
        f"{socket} is in FIN_WAIT2, orphaned: its program closed it, so no call can "
        "read the peer's FIN. Its kernel drops the connection when its timer runs out"
    )
    if model.kernel_deadline is None:  # (no kernel line with its timer came)
        settings = settings_of(view, socket)
        return f"{said}; its timer was not read here ({fin_timeout_words(settings)})."
    left = max(0, math.ceil(model.kernel_deadline - now))
    return (
        f"{said} - {left} s left, as the kernel's timer was read (ss shows it too; "
        "net.ipv4.tcp_fin_timeout sets it)."
    )


def next_words(view: RunView, reading: Reading) -> Content:
    """The block for what comes next: the pending call, the held segment, or why nothing."""
    held = next_key(view.link) if reading.live else None
    if held and reading.mode is Mode.STEP:
        return Content(
            f"→ {held}: the link holds it at the sending side, and "
            "the next call waits for it (the kernels' timers keep running)."
        )
    if view.pending is not None:
        hint = "press → to make this call" if reading.mode is Mode.STEP else ""
        if not reading.live:
            hint = "made already: → shows it"
        under_way = None
        if view.under_way is not None and reading.live:
            under_way = under_way_story(view.pending, view.during)
            hint = ""  # (made already: it runs)
        return next_content(
            view.pending, reading.total, hint, explain=not reading.quiz, under_way=under_way
        )
    if view.outcome is not None and view.outcome.outcome == "done":
        return Content(
            "Nothing: every call has been made and every socket is "
            "closed. Watch the kernel badges; press r to run it again."
        )
    if view.outcome is not None:
        return Content("Nothing: the run stopped. Press r to run it again.")
    if reading.outside:
        return Content(
            "Waiting for the other end - a real program - to do something (connect, send, close)…"
        )
    return Content("Waiting for the first call…")


def titles(
    config: AppConfig, scenario: Scenario, mode: Mode, link_missing: str | None
) -> tuple[str, str]:
    """The header's sub-title and the terminal window's title, for what runs and how."""
    family = FAMILY_LABEL.get(config.family, config.family)
    playing = {"step": "step mode", "play": "playing", "fast": "fast"}[mode.value]
    where = "Unix sockets" if config.family == "unix" else f"{family} loopback"
    if (
        (config.link or scenario.link)
        and config.family != "unix"
        and not config.outside
        and not scenario.loopback_only
    ):
        where = f"{family} · two hosts and a link"
        if link_missing:
            where = f"{family} loopback (no two hosts here)"
    if config.outside:
        where = config.where or ""
    if config.replay:
        where = f"replay of {os.path.basename(config.replay)}"
    return (
        inert(f"{config.scenario} · {where} · {playing}", 200),
        inert(f"sockviz · {config.scenario} · {family}", 80),
    )


def wire_notice(view: RunView) -> tuple[str, str, SeverityLevel] | None:
    """When the wire is not watched: the reason (said once a session), the words, and how
    loud to say them; None when there is nothing to say here (a Unix socket's is said under
    each send)."""
    status = view.wire
    if (
        status is None
        or not status.note
        or status.where not in (None, "pcap")
        or status.note == UNIX_NO_WIRE
    ):
        return None
    words = "The wire is not shown" if status.where is None else "--pcap"
    return (
        status.note,
        inert(f"{words}: {status.note}.", 300),
        "information" if status.where is None else "error",
    )
