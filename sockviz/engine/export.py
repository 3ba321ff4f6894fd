"""The ladder of a run as a diagram to keep: Mermaid ``sequenceDiagram`` or plain text.

Both are made from trace events (``--trace``'s, a recording's, or the app's own), so they
show the calls that really happened, in order: calls with no peer (socket, bind, listen,
close ...) as notes on their socket, data as an arrow from the sender to the socket that
received it (found by address), kernel TCP states as notes. Peer bytes are previews,
escaped as the trace escapes them, and shortened.
"""

from __future__ import annotations

from collections.abc import Iterable

from sockviz.engine.events import CallEvent, Elided, KernelEvent
from sockviz.engine.inert import inert
from sockviz.engine.states import Call, Role

#: Characters of a data preview shown on an arrow.
PREVIEW = 24

#: Calls drawn as an arrow to the peer.
SENDS = frozenset({Call.SEND, Call.SENDALL, Call.SENDTO})

#: The width of the plain-text ladder.
WIDTH = 78


def _escape(data: bytes) -> str:
    from sockviz.engine.trace import escape_bytes

    text = escape_bytes(data)
    return text if len(text) <= PREVIEW else text[: PREVIEW - 1] + "…"


def _describe(event) -> tuple[str, str | None, str]:
    """(socket, peer socket or None, words) for one event."""
    if isinstance(event, KernelEvent):
        timer = f" ({event.timer:.0f} s)" if event.timer and event.kernel == "TIME_WAIT" else ""
        queue = f" · queue {event.queue[0]}/{event.queue[1]}" if event.queue else ""
        return event.socket, None, f"kernel: {event.kernel}{timer}{queue}"
    if isinstance(event, Elided):
        return event.socket, None, f"… {event.count} more {event.call.value}() calls, {event.nbytes} B"
    call = event.call.value
    if event.error is not None:
        return event.socket, None, f"{call}() ✗ {event.error}"
    if event.call in SENDS:
        words = f"{call} {event.nbytes} B"
        if event.data:
            words += f' "{_escape(event.data)}"'
        return event.socket, event.remote, words
    if event.call in (Call.RECV, Call.RECVFROM):
        end = " (end of stream)" if event.nbytes == 0 else ""
        return event.socket, None, f"{call}() → {event.nbytes} B{end}"
    if event.call is Call.CONNECT and event.type == "SOCK_STREAM":
        return event.socket, event.remote, "connect() · handshake"
    if event.call is Call.ACCEPT:
        return event.parent or event.socket, None, f"accept() → {event.socket}"
    if event.call is Call.BIND:
        return event.socket, None, f"bind {event.local}"
    if event.call is Call.SOCKET:
        return event.socket, None, f"{event.socket} = socket()"
    if event.call is Call.SETSOCKOPT and event.args:
        parts = [a.strip().removeprefix("socket.") for a in event.args.split(",")]
        return event.socket, None, f"setsockopt({parts[1]}={parts[2]})" if len(parts) == 3 \
            else f"setsockopt({event.args})"
    args = f"({event.args})" if event.args and event.call is Call.LISTEN else "()"
    return event.socket, None, f"{call}{args} → {event.state.value if event.state else '?'}"


class _Ladder:
    """Who is who: sockets in order of appearance, each on a side; a data call's receiver
    found by address (a TCP connection by both ends, a listener or UDP socket by its own)."""

    def __init__(self, events: list) -> None:
        self.order: list[str] = []
        self.side: dict[str, str] = {}
        self.rows: list[tuple[str, str | None, str]] = []
        ends: dict[str, tuple[str | None, str | None, Role]] = {}  # socket: local, remote, role
        kernel: dict[str, str] = {}  # socket: its kernel state as last seen
        for event in events:
            if not isinstance(event, (CallEvent, KernelEvent, Elided)):
                continue
            if not isinstance(event, Elided):
                self._meet(event.socket, "left" if event.role is Role.CLIENT else "right")
                ends[event.socket] = (event.local, event.remote, event.role)
            socket, remote, words = _describe(event)
            self._meet(socket, "right")  # (an accept's listener that never showed itself)
            if (isinstance(event, CallEvent) and event.kernel and event.error is None
                    and event.call is not Call.SOCKET  # (a new socket is CLOSE: nothing yet)
                    and kernel.get(event.socket) != event.kernel):
                words += f" · {event.kernel}"  # what the call did in the kernel
            if isinstance(event, (CallEvent, KernelEvent)) and event.kernel:
                kernel[event.socket] = event.kernel
            peer = None
            if remote is not None:
                mine = event.local
                both = [n for n, (lo, re, _) in ends.items() if lo == remote and re == mine]
                own = [n for n, (lo, _, role) in ends.items() if lo == remote
                       and (role is Role.LISTENER) == (event.call is Call.CONNECT)]
                peer = (both or own or [None])[0]
                if peer is None:  # an address outside this run: a real peer
                    peer = remote
                    self._meet(peer, "right" if self.side.get(socket) == "left" else "left")
            self.rows.append((socket, peer, inert(words)))

    def _meet(self, name: str, side: str) -> None:
        if name not in self.side:
            self.order.append(name)
            self.side[name] = side


#: What Mermaid would read as syntax, as its entity codes (``%%{init: ...}%%`` is a
#: directive wherever it appears, so ``%`` too); line breaks as spaces.
_MERMAID_CODES = {"#": "#35;", ";": "#59;", "%": "#37;", "<": "#lt;", ">": "#gt;",
                  "\r": " ", "\n": " "}


def _mermaid_text(words: str) -> str:
    """Words safe on a Mermaid line (and on a terminal: no control character passes)."""
    return "".join(_MERMAID_CODES.get(ch, ch) for ch in inert(words))


def to_mermaid(events: Iterable, title: str | None = None) -> str:
    """A Mermaid ``sequenceDiagram`` of the run (paste it in a ```` ```mermaid ```` block)."""
    ladder = _Ladder(list(events))
    rows = ladder.rows
    left = [n for n in ladder.order if ladder.side[n] == "left"]
    right = [n for n in ladder.order if ladder.side[n] == "right"]
    ids = {name: f"P{i + 1}" for i, name in enumerate(left + right)}
    lines = ["sequenceDiagram"]
    if title:
        lines.append(f"    title {_mermaid_text(title)}")
    for name in left + right:
        lines.append(f"    participant {ids[name]} as {_mermaid_text(name)}")
    for socket, peer, words in rows:
        text = _mermaid_text(words)
        if peer is not None and peer in ids:
            lines.append(f"    {ids[socket]}->>{ids[peer]}: {text}")
        else:
            lines.append(f"    Note over {ids[socket]}: {text}")
    return "\n".join(lines) + "\n"


def to_text(events: Iterable, title: str | None = None) -> str:
    """The ladder as plain text: client sockets' calls on the left, the server's on the
    right, data as arrows between them."""
    ladder = _Ladder(list(events))
    rows = ladder.rows
    half = WIDTH // 2
    lines = []
    if title:
        lines.append(title)
    lines.append("client".ljust(half) + "server".rjust(WIDTH - half))
    lines.append("─" * WIDTH)
    for socket, peer, words in rows:
        side = ladder.side.get(socket, "left")
        if peer is not None:
            label = f" {socket}: {words} "
            room = WIDTH - 2
            label = label if len(label) <= room - 4 else label[: room - 5] + "… "
            dashes = room - len(label)
            body = "─" * (dashes // 2) + label + "─" * (dashes - dashes // 2)
            lines.append("◀" + body + "─" if side == "right" else "─" + body + "▶")
        else:
            text = f"{socket}: {words}" if not words.startswith(f"{socket} =") else words
            text = text if len(text) <= WIDTH else text[: WIDTH - 1] + "…"
            lines.append(text if side == "left" else text.rjust(WIDTH))
    return "\n".join(inert(line) for line in lines) + "\n"


#: What ``--export`` takes, and the suffix a file of it gets.
FORMATS = {"mermaid": (to_mermaid, ".mmd"), "text": (to_text, ".txt")}
