"""A socket card: one socket's name, kind, addresses, lifecycle strip, kernel badge, bytes.

The card is a plain view of a :class:`~sockviz.view.run_view.CardModel` (the view of the run
keeps it; the stage calls :meth:`SocketCard.show`). Colours come from the stylesheet: the
card swaps CSS classes (``-state-bound``, ``-kernel-time-wait``, ``-error``), never sets a
colour itself.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from textual.content import Content
from textual.message import Message
from textual.timer import Timer
from textual.widget import Widget

from sockviz.engine.call_meanings import errno_help, kernel_meaning
from sockviz.engine.states import State
from sockviz.view.run_view import CardModel
from sockviz.view.words import human_bytes

KERNEL_CLASS = {
    "LISTEN": "listen",
    "SYN_SENT": "syn",
    "SYN_RECV": "syn",
    "NEW_SYN_RECV": "syn",
    "ESTABLISHED": "established",
    "FIN_WAIT1": "fin-wait",
    "FIN_WAIT2": "fin-wait",
    "CLOSING": "fin-wait",
    "CLOSE_WAIT": "close-wait",
    "LAST_ACK": "close-wait",
    "TIME_WAIT": "time-wait",
    "CLOSE": "close",
}

#: The classes :meth:`SocketCard.show` swaps (the stylesheet colours the card by them).
DYNAMIC_CLASSES = frozenset(
    {f"-state-{state.value}" for state in State}
    | {f"-kernel-{css}" for css in KERNEL_CLASS.values()}
    | {"-error", "-expected", "-moving"}
)


#: A rate line's bars, from nothing to the highest rate it shows.
BARS = " ▁▂▃▄▅▆▇█"


def rate_line(rates: list[float], width: int) -> str:
    """The last ``width`` rate samples as a line of bars, scaled to the highest of them.

    Plain text in a one-line Static: it is redrawn with every batch while bytes flow,
    and a line of characters costs far less to draw than a chart widget.
    """
    shown = rates[-max(width, 1) :]
    top = max(shown, default=0.0)
    if top <= 0:
        return ""
    last = len(BARS) - 1
    return "".join(BARS[max(1, round(last * r / top)) if r > 0 else 0] for r in shown)


def bytes_line(m: CardModel, width: int, wire: bool = True) -> str:
    """``↑ sent 14 B · ↓ received 14 B``, shortened to fit ``width``; while a bulk
    transfer runs, its share done and its rate come first among what is kept. ``wire``:
    the segments out and in too, where they fit."""
    sent, received = human_bytes(m.sent), human_bytes(m.received)
    if m.transfer is None:
        text = f"↑ sent {sent} · ↓ received {received}"
        if wire and (m.segments_out or m.segments_in):  # the wire, where it fits
            for line in (
                f"{text} · segments {m.segments_out} out, {m.segments_in} in",
                f"{text} · seg ↑{m.segments_out} ↓{m.segments_in}",
                (f"sent {sent} · recv {received} · seg ↑{m.segments_out} ↓{m.segments_in}"),
            ):
                if len(line) <= width:
                    return line
        for line in (text, f"sent {sent} · recv {received}", f"↑ {sent} · ↓ {received}"):
            if len(line) <= width:
                return line
        return f"↑{sent} ↓{received}"  # (a narrow card wraps even this, whole)
    done, total = m.transfer
    rate = f" {human_bytes(int(m.rates[-1]))}/s" if m.rates else ""
    share = f"{100 * done // max(total, 1)}%"
    for text in (
        f"↑ sent {sent} · ↓ received {received}  {share}{rate}",
        f"↑ {sent} · ↓ {received}  {share}{rate}",
        f"↑ {sent} ↓ {received} {share}",
        f"↑{sent} ↓{received} {share}",
    ):
        if len(text) <= width:
            return text
    return text


def flow_line(m: CardModel, width: int) -> str:
    """The kernel's view of the path (TCP_INFO, on a two-host run): ``RTT 41 ms · cwnd 10
    · sent again 1``."""
    # (any of the three may be unknown - "—" - or larger than a card: the file checks bound
    # them, events from elsewhere need not be; the shorter forms come before cutting)
    flow: tuple[object, ...] = m.flow or (None, None, None)
    rtt = "—" if flow[0] is None else f"{flow[0]:g}"
    cwnd, again = ("—" if n is None else str(n) for n in flow[1:])
    for text in (
        f"RTT {rtt} ms · cwnd {cwnd} · sent again {again}",
        f"RTT {rtt}ms cwnd {cwnd} again {again}",
        f"{rtt}ms cwnd {cwnd} ↻{again}",  # (↻: sent again, as the ladder marks a retry)
        f"{rtt}ms ↻{again}",
    ):
        if len(text) <= width:
            return text
    return text  # (whole: the card wraps it)


def window_line(m: CardModel, width: int) -> str:
    """The congestion window as it was read, oldest first, as bars (its growth is the
    kernel's congestion control's: the run's settings name it)."""
    return "cwnd " + rate_line([float(c) for c in m.cwnds], max(1, width - 5))


def strip_content(model: CardModel, moving: bool = False, width: int = 999) -> Content:
    """``created › bound › listening › closed`` with the current state lit.

    When the spaced form would not fit in ``width``, the arrows lose their spaces.
    """
    names = sum(len(s.value) for s in model.path) + 2
    spaced = names + 3 * (len(model.path) - 1) <= width
    tight = names + (len(model.path) - 1) <= width
    parts: list[tuple[str, str] | str] = []
    for i, state in enumerate(model.path):
        if i:
            arrow_into_current = moving and state is model.state and model.previous is not None
            if arrow_into_current:
                arrow = " ━▶ " if spaced else "▶"
            else:  # too narrow even for "›" alone: wrap at the spaces between states
                arrow = " › " if spaced else ("›" if tight else "› ")
            parts.append((arrow, "$accent bold" if arrow_into_current else "$state-future"))
        var = f"$state-{state.value}"
        if state is model.state:
            parts.append((f" {state.value} ", f"bold $background on {var}"))
        elif state in model.visited:
            parts.append((state.value, var))
        else:
            parts.append((state.value, "$state-future"))
    return Content.assemble(*parts)


def no_connection(model: CardModel) -> bool:
    """A socket not yet connecting, listening or connected: TCP_INFO says CLOSE of it, ``ss``
    does not list it at all - there is no connection, and a CLOSE badge would say one was
    closed."""
    return model.kernel == "CLOSE" and model.state in (State.CREATED, State.BOUND)


def orphaned_fin_wait2(model: CardModel) -> bool:
    """A FIN_WAIT2 whose program has closed its socket, with the kernel's timer read: the
    kernel drops it when that runs out (net.ipv4.tcp_fin_timeout)."""
    return (
        model.kernel == "FIN_WAIT2"
        and model.kernel_deadline is not None
        and model.state is State.CLOSED
    )


#: What a card's lower edge keeps beside its badge: the two corners, a line each side, and
#: the space Textual puts around a border title.
BADGE_FRAME = 6


def kernel_badge(model: CardModel, now: float | None, width: int = 999) -> str:
    """The kernel state, with TIME_WAIT's countdown when the timer is known (and an orphaned
    FIN_WAIT2's, from the timer the kernel showed); none for a socket with no connection.

    ``width``: the cells the card's edge has for it. A longer form that does not fit gives
    way to a shorter one that says the same (``LISTEN · queue 0/5``, ``LISTEN queue 0/5``,
    ``LISTEN 0/5``): Textual would cut it to ``LISTEN · queue 0/…`` - the backlog lost."""
    if model.kernel is None or no_connection(model):
        return ""
    forms = [f" {model.kernel} "]
    if (
        model.kernel in ("TIME_WAIT", "FIN_WAIT2")
        and model.kernel_deadline is not None
        and now is not None
    ):
        left = max(0, math.ceil(model.kernel_deadline - now))
        forms = [f" {model.kernel} {left}s ", f"{model.kernel} {left}s"]
    elif model.kernel == "LISTEN" and model.queue is not None:
        waiting, backlog = model.queue
        forms = [
            f" LISTEN · queue {waiting}/{backlog} ",
            f" LISTEN queue {waiting}/{backlog} ",
            f" LISTEN {waiting}/{backlog} ",
            f"LISTEN {waiting}/{backlog}",
        ]
    return next((form for form in forms if len(form) <= width), forms[-1])


def kernel_line(m: CardModel) -> str:
    """What the kernel state means, on a tall card."""
    if m.kernel is None:
        return ""
    if no_connection(m):
        return "kernel: no connection yet (ss does not list it; TCP_INFO says CLOSE)"
    if orphaned_fin_wait2(m):
        return (
            f"kernel: {kernel_meaning(m.kernel)} - orphaned (closed by its program): "
            "the kernel drops it when its timer runs out (net.ipv4.tcp_fin_timeout)"
        )
    return f"kernel: {kernel_meaning(m.kernel)}"


def card_content(
    m: CardModel, moving: bool, width: int, tall: bool, muted: str = "$text-muted"
) -> Content:
    """The card's lines: kind, addresses, the lifecycle strip, bytes (and their rate while a
    bulk transfer runs), on a tall screen what the kernel state means, and an error.
    (``muted``: the colour of muted text on the card's background.)"""
    lines = [
        Content.styled(f"{m.family} · {m.type}", muted),
        Content.assemble((m.local or "no address yet", "bold"), " ↔ ", m.remote or "—"),
        strip_content(m, moving, width),
        # (whole: on a card too narrow for its shortest form it wraps rather than loses bytes)
        Content(bytes_line(m, width, wire=not tall)),
    ]
    if m.rates:
        lines.append(Content.styled(rate_line(m.rates, width), "$accent"))
    if m.flow is not None:
        lines.append(Content.styled(flow_line(m, width), "$wire"))
        if len(m.cwnds) > 2:
            lines.append(Content.styled(window_line(m, width), "$wire"))
    if tall:
        lines.append(Content.styled(kernel_line(m), "italic $text-quiet"))
        if m.segments_out or m.segments_in:
            noun = "segment" if m.segments_out == 1 else "segments"
            lines.append(
                Content.styled(
                    f"on the wire: {m.segments_out} {noun} out, {m.segments_in} in", "$wire"
                )
            )
    if m.error:
        help_text = errno_help(m.error, m.type)
        text = f"{'→' if m.expected else '✗'} {m.error_call}(): {m.error} — {m.error_text or ''}"
        if help_text:
            text += f". {help_text}"
        lines.append(
            Content.styled(text, "bold $text-warning" if m.expected else "bold $text-error")
        )
    return Content("\n").join(lines)


class SocketCard(Widget):
    """One socket. See the module docstring."""

    DEFAULT_CLASSES = "card"

    def __init__(self, model: CardModel, **kwargs) -> None:
        # No id: a socket's card can be drawn again (going back) while its old one is still
        # being removed; the stage keeps its cards by socket name.
        super().__init__(**kwargs)
        self.model = model
        self._now: float | None = None
        self._flashing: Timer | None = None
        self._titles: tuple[str, str] | None = None
        self._content = Content("")
        self._shown: tuple | None = None
        """What the card shows (its text and styles), to redraw only when that changes."""
        self._width = 0
        """The content width last laid out (hidden, the card keeps drawing for it)."""
        self._resized = 0
        """How many times the card was resized..."""
        self._taken = 0
        """...and up to which of them its stage has taken the :class:`Relaid`."""

    class Relaid(Message):
        """The card was drawn again for a new size (its height may change with it): its
        lane may need to scroll to keep its newest card in sight."""

        def __init__(self, card: SocketCard) -> None:
            super().__init__()
            self.card = card
            self.resized = card._resized
            """The card's resizes this redrawing follows."""

    def on_resize(self) -> None:
        # After the refresh: a layout asked for while Textual is still handing out the
        # sizes of this one can be lost, and a card whose height changes with its width
        # (the strip wraps) would keep the old height.
        self._resized += 1
        self.call_after_refresh(self.relay)

    def relay(self) -> None:
        """Draw the card again for its size and tell its lane (done again harmlessly when
        asked twice: see :meth:`~sockviz.app.widgets.stage.Stage.placing`)."""
        self.show(self._now)
        self.post_message(self.Relaid(self))

    @property
    def relay_due(self) -> bool:
        """Resized, and its redrawing for the last new size not yet taken by its stage:
        until then the screen is not settled."""
        return self._taken < self._resized

    def taken(self, message: Relaid) -> None:
        """The stage has taken this redrawing (and those before it)."""
        self._taken = max(self._taken, message.resized)

    def flash(self, now: float | None, seconds: float, clock: Callable[[], float | None]) -> None:
        """Show the card moving into its new state (the lit arrow and border) for
        ``seconds``, then still, drawn at ``clock()``'s time. A newer flash replaces an
        older one: the older one's end cannot cut the newer one short."""
        if self._flashing is not None:
            self._flashing.stop()
        self._flashing = self.set_timer(seconds, lambda: self._end_flash(clock))
        self.show(now)

    def _end_flash(self, clock: Callable[[], float | None]) -> None:
        self._flashing = None
        self.show(clock())

    def still(self, now: float | None) -> None:
        """Draw the card still, ending a flash under way."""
        if self._flashing is not None:
            self._flashing.stop()
            self._flashing = None
        self.show(now)

    @property
    def moving(self) -> bool:
        """Whether the card is flashing into its new state just now."""
        return self._flashing is not None

    def show(self, now: float | None) -> None:
        """Redraw from the model, at time ``now`` (the TIME_WAIT countdown); a flash under
        way goes on. The card is one widget drawing all its lines (a card of widgets, one a
        line, made every layout of a screen of cards several times dearer)."""
        self._now = now
        moving = self._flashing is not None
        m = self.model
        role = "" if m.role.value == m.name else f" · {m.role.value}"
        # Setting a border title repaints the whole card, even to the same text. A title
        # given as a str would be parsed as markup: the name comes from data, so Content.
        outer = self.outer_size.width
        room = outer - BADGE_FRAME if outer else 999
        title, badge = f"{m.name}{role}", kernel_badge(m, now, room)
        if self._titles != (title, badge):
            self._titles = (title, badge)
            self.border_title = Content(title)
            self.border_subtitle = Content(badge)
        if self.content_size.width:  # (hidden or not laid out yet: the width it had stands)
            self._width = self.content_size.width
        content = card_content(m, moving, self._width or 99, self._tall(), self._muted())
        key = (content.plain, tuple(content.spans))  # Content's == compares the text only
        if key != self._shown:
            # A layout only when the card's height changes at the width it is laid out at
            # (the byte counters tick many times a second: never a layout for them).
            laid = self.content_size
            height = len(content.wrap(laid.width)) if laid.width else -1
            self._shown, self._content = key, content
            self.refresh(layout=height != laid.height)
        self._classes_for(m, moving)

    def _muted(self) -> str:
        """Muted text as the stylesheet's ``$text-muted`` gives it here: the background's
        contrasting text colour at 60% (a Content span cannot say "contrast with what is
        underneath")."""
        background = self.background_colors[1]
        return (background + background.get_contrast_text(0.6)).hex

    def _tall(self) -> bool:
        """The screen is tall enough for each card's line about the kernel state."""
        try:
            return self.screen.has_class("-tall")
        except Exception:
            return False

    def render(self) -> Content:
        return self._content

    def _classes_for(self, m: CardModel, moving: bool) -> None:
        """Swap the state/kernel/error classes in one go: each change restyles the card
        (and everything in it), so there is at most one restyle per show."""
        want = set()
        if m.state is not None:
            want.add(f"-state-{m.state.value}")
        if m.kernel in KERNEL_CLASS:
            want.add(f"-kernel-{KERNEL_CLASS[m.kernel]}")
        if m.error:
            want.add("-expected" if m.expected else "-error")
        if moving:
            want.add("-moving")
        have = set(self.classes)
        if have & DYNAMIC_CLASSES != want:
            self.set_classes((have - DYNAMIC_CLASSES) | want)
