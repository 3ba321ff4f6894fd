"""The time-sequence graph (``G``): one direction of a TCP connection, sequence numbers
against time, drawn in braille to the panel's size.

It draws what :mod:`sockviz.view.seq_graph` folded into the view on screen, so it steps and
goes back with everything else; it keeps only which direction it shows. The lines and the
words are :mod:`sockviz.view.seq_graph_art`'s.
"""

from __future__ import annotations

from textual.content import Content
from textual.widget import Widget

from sockviz.view.run_view import RunView
from sockviz.view.seq_graph import Graphs
from sockviz.view.seq_graph_art import (
    LAYERS,
    LEGEND,
    braille,
    bytes_label,
    caption,
    scale,
    shapes,
    time_label,
)

#: Each layer's colour (the theme's, so every theme keeps them apart).
COLOURS = {
    "data": "bold $text-primary",
    "resent": "bold $text-error",
    "lost": "bold reverse $text-error",
    "ack": "bold $text-success",
    "window": "$text-warning",
    "sack": "bold $text-accent",
}


def heading(graphs: Graphs, choice: int) -> tuple[Content, tuple[int, int] | None]:
    """The line above the graph, and the (flow, side) chosen (None: no TCP yet)."""
    ways = graphs.directions()
    if not ways:
        return (
            Content.styled(
                "No TCP segment yet: the graph draws a connection's data from its first "
                "segment (UDP has no sequence numbers).",
                "$text-quiet",
            ),
            None,
        )
    index = choice % len(ways)
    more = f" (and {graphs.dropped} earlier, let go)" if graphs.dropped else ""
    key = "   G: the next direction" if index + 1 < len(ways) else "   G: close"
    return (
        Content.assemble(
            (f"Time-sequence graph {index + 1} of {len(ways)}{more}", "bold"),
            (key, "$text-quiet"),
        ),
        ways[index],
    )


def picture(view: RunView, choice: int, width: int, height: int) -> Content:
    """The whole panel: heading, legend, graph with its axes, and what it shows in words."""
    head, chosen = heading(view.graphs, choice)
    if chosen is None:
        return head
    flow = view.graphs.flows[chosen[0]]
    lines = shapes(flow, chosen[1])
    words = caption(flow, chosen[1])
    out = [head, Content(words[0])]
    present = [layer for layer in LAYERS if any(line.layer == layer for line in lines)]
    frame = scale(lines)
    legend = dict(LEGEND)
    if frame.above is not None:
        legend["window"] += f" (up to {bytes_label(frame.above)}: above the top)"
    out.append(
        Content.assemble(
            *(
                part
                for layer in reversed(present)
                for part in (("⣿ ", COLOURS[layer]), (legend[layer] + "   ", ""))
            ),
        )
    )
    rows = max(3, height - len(out) - 2 - len(words[1:]))
    if not lines:
        out.append(Content.styled("Nothing sent this way yet.", "$text-quiet"))
    else:
        s = frame
        top, bottom = bytes_label(s.top), "0"
        margin = len(top) + 1
        grid = braille(lines, max(10, width - margin - 1), rows, s)
        for r, runs in enumerate(grid):
            label = top if r == 0 else bottom if r == rows - 1 else ""
            out.append(
                Content.assemble(
                    (label.rjust(margin - 1) + "│", "$text-quiet"),
                    *((text, COLOURS[layer] if layer else "") for text, layer in runs),
                ).rstrip()
            )
        left, right = time_label(s.t0, s.span), time_label(s.t0 + s.span, s.span)
        plot = max(10, width - margin - 1)
        middle = "time of the run →"
        gap = plot - len(left) - len(right)
        middle = middle.center(gap) if gap >= len(middle) + 2 else " " * max(1, gap)
        out.append(Content.styled(" " * margin + left + middle + right, "$text-quiet"))
        out.append(
            Content.styled(
                "↑ sequence number (from the sender's first) · a mark each segment, when its "
                "sender sent it",
                "$text-quiet",
            )
        )
    out += [Content.styled(line, "$text-quiet") for line in words[1:]]
    return Content("\n").join(out)


class SeqGraph(Widget):
    """See the module docstring."""

    DEFAULT_CSS = "SeqGraph { height: 1fr; padding: 0 1; }"

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.choice = 0
        """Which direction of which connection it shows (the only thing it keeps)."""
        self._view: RunView | None = None

    def show(self, view: RunView) -> None:
        self._view = view
        self.refresh()

    def render(self) -> Content:
        if self._view is None:
            return Content("")
        return picture(self._view, self.choice, self.content_size.width, self.content_size.height)

    def advance(self, view: RunView) -> bool:
        """Show the next direction; False once past the last (the graph closes)."""
        if self.choice + 1 >= max(1, len(view.graphs.directions())):
            self.choice = 0
            return False
        self.choice += 1
        self.show(view)
        return True
