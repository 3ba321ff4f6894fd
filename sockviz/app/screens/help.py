"""The ``?`` help screen: the keys, how to read the screen, and this machine's TCP settings
(as the run said them: folded from its :class:`~sockviz.engine.events.TcpSettings`, never
read here - so a replay shows the recorded machine's)."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, VerticalScroll
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Static

from sockviz.engine.kernel.tcp_settings import lines

#: The keys, in the footer's order (the most used first), then the rest by what they do.
KEYS = (
    (
        "→  or  n",
        (
            "one step: exactly one real socket call (pauses if playing); looking "
            "back, the next recorded call instead; on a link that holds segments "
            "(--hold), the held one crosses first; in simultaneous-open and "
            "simultaneous-close one key makes both ends' calls, as two programs at once; in "
            "nagle, the client's two writes, back to back"
        ),
    ),
    ("←  or  b", "back one call: the screen as it was then (no call is made; pauses)"),
    ("space", "play / pause"),
    ("?", "this help"),
    ("q  or  ctrl+q", "quit: every socket is closed first"),
    ("r", "run the scenario again from the start, on new sockets"),
    ("s", "choose a scenario"),
    ("f", "switch between IPv4 and IPv6 (and restart)"),
    ("i", "type a message for the client to send; Enter sends, Escape leaves"),
    ("+  /  -", "faster / slower (while playing)"),
    ("w", "show / hide the wire: the real segments under each call"),
    (
        "d",
        (
            "the TCP state diagram (RFC 9293): each end of a connection lit where the run "
            "has it, every arrow it took named by its segment or call; again, the next "
            "connection; after the last, the ladder again"
        ),
    ),
    (
        "G",
        (
            "the time-sequence graph: one direction of a connection, sequence numbers "
            "against time (segments, ACKs, the window's edge, SACKs, what was sent again "
            "or lost); again, the next direction; after the last, the ladder again"
        ),
    ),
    (
        "g",
        (
            "predict mode on/off: before each call, guess what it will do (a choice's "
            "number, or ↑↓ and enter); escape goes back without making the call"
        ),
    ),
    ("t", "the next theme: sockviz-dark, sockviz-light, sockviz-projector (remembered)"),
    ("e / p / l", "show the next call / the payload bytes / the log of every call"),
    (
        "↑  /  ↓",
        ("in the ladder (click it first): choose the message (or the segment) shown in Payload"),
    ),
    (
        "home / end",
        (
            "back to the start of the run / forward to the live edge (or click a "
            "mark of the timeline on the status line: that moment)"
        ),
    ),
    (
        "x",
        "export the ladder (Mermaid .mmd, plain text .txt) and the time-sequence graphs "
        "(.graph.svg, .graph.png)",
    ),
    ("ctrl+s", "save a screenshot (PNG and SVG)"),
    (
        "ctrl+p",
        "the command palette: scenario, family, wire, the TCP state diagram, the "
        "time-sequence graph, predict, "
        "export, screenshot, restart, help and the themes, by name",
    ),
)

READING = (
    (
        "Every card is one real socket. Its strip shows our lifecycle state "
        "(created → bound → listening → connected → closed); the badge on its lower edge is "
        "the kernel's own TCP state, read from the kernel: TCP_INFO for a socket the program "
        "holds; once it has closed it, the kernel's socket diagnostics over netlink (what ss "
        "uses), or /proc/net/tcp where netlink is refused."
    ),
    (
        "The ladder is the story between client and server. A dashed arrow means the bytes "
        "are waiting in the receiver's kernel buffer; it turns solid when the program calls "
        "recv() and takes them."
    ),
    (
        "The thin arrows in their own colour under a call are the wire: real TCP segments "
        "and UDP datagrams, captured as they crossed (SYN, SYN-ACK, ACK under connect(); FIN "
        "and its ACK under close()). Relative numbers, as Wireshark shows them."
    ),
    (
        "On two hosts (--link, --drop, the lost-* and slow-link labs) the strip under the "
        "status line is the link between them - the one part sockviz carries. ✗ marks a "
        "segment lost on it, ⏸ one held for a key, ↻ the kernel sending one again; the cards "
        "show each kernel's RTT and congestion window (TCP_INFO)."
    ),
    (
        "The TCP state diagram (d) is RFC 9293's: each end of a connection is lit in its "
        "own colour where the run has it, and every arrow it took is named by the segment "
        "that crossed or the call that was made (with the wire watched; without it, by the "
        "kernel's readings after each call, and it says so). Under it, each end's path, "
        "with the kernel's own reading beside it."
    ),
    (
        "The time-sequence graph (G) is Stevens' (tcptrace's, Wireshark's): for one "
        "direction of a connection, each segment its sender sent is a bar from its first "
        "byte to its last, at the moment it was sent; the other side's ACKs are the line "
        "below them, the edge of the window it offered the line above, its SACK blocks the "
        "bytes that came beyond a gap. A bulk transfer's segments are drawn from some of "
        "them, spread over it, where they were read; where the kernel only counted them "
        "(loopback, without --pcap), the graph says so."
    ),
    (
        "Nothing here is simulated: each line in the log is a system call that this "
        "program really made, in the same order every run."
    ),
)


class HelpScreen(ModalScreen[None]):
    """Keys and a short guide. Any of escape, q, ? closes it.

    The text scrolls by keys as soon as it opens (↓, PageDown, home, end: the box has
    the focus), and k, h, m go to its three parts.
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q,question_mark", "close", "Close", show=True),
        Binding("k", "go('help-keys')", "Keys"),
        Binding("h", "go('help-reading')", "How to read the screen"),
        Binding("m", "go('help-machine')", "This machine's TCP"),
    ]

    AUTO_FOCUS = "#help-box"

    def __init__(self, settings: dict | None = None) -> None:
        """``settings``: the run's kernel TCP settings as the view folded them (host ->
        TcpSettings); None or empty: not known."""
        super().__init__()
        self.settings = settings or {}

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help-box") as box:
            box.border_title = "sockviz · help"
            box.border_subtitle = "↓ PgDn scroll · k keys · h how to read · m TCP · esc closes"
            yield Static(Content.assemble(("Keys", "bold $text-accent")), id="help-keys")
            for key, what in KEYS:
                # Two columns, so a long description wraps under itself, not under the key.
                with Horizontal(classes="help-key-row"):
                    yield Static(Content(key), classes="help-key")
                    yield Static(Content(what), classes="help-what")
            yield Static(
                Content.assemble(("How to read the screen", "bold $text-accent")),
                id="help-reading",
                classes="help-heading",
            )
            for paragraph in READING:
                yield Static(Content(paragraph), classes="help-paragraph")
            yield Static(
                Content.assemble(("This machine's TCP", "bold $text-accent")), id="help-machine"
            )
            yield Static(
                Content(
                    "Read from /proc/sys/net/ipv4 at the run's start, in its "
                    "own network: what the retry, timer and congestion words "
                    "say comes from these."
                ),
                classes="help-paragraph",
            )
            yield Static(Content("\n".join(lines(self.settings))), classes="help-paragraph")

    def action_go(self, part: str) -> None:
        """Scroll the part ``part`` (a heading's id) to the top of the box."""
        self.query_one(f"#{part}").scroll_visible(top=True, animate=False)

    def action_close(self) -> None:
        self.dismiss(None)
