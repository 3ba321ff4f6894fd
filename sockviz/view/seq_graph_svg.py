"""The run's time-sequence graphs as a picture: laid out in pixels once, written as SVG here
(``--export graph``, and ``x`` in the TUI), painted as PNG by :mod:`sockviz.app.graph_png`.

One panel for each direction of a TCP connection that carried bytes, one under the other:
the same lines the terminal draws in braille (:func:`~sockviz.view.seq_graph_art.shapes`),
at full resolution, on a light background for slides, with the axes labelled in the run's
numbers and the caption's words under each. Standard library only.
"""

from __future__ import annotations

from collections.abc import Iterable
from html import escape
from typing import NamedTuple

from sockviz.engine.events import Event, Segment
from sockviz.engine.record.inert_text import inert
from sockviz.engine.scenarios.scenario_types import Scenario
from sockviz.view.seq_graph import Graphs, on_segment
from sockviz.view.seq_graph_art import (
    LAYERS,
    LEGEND,
    Line,
    Scale,
    bytes_label,
    caption,
    scale,
    shapes,
    time_label,
)

WIDTH = 900
PLOT_HEIGHT = 300
#: Room around the plot: left for the byte labels, then the title, legend and captions.
LEFT, RIGHT, TOP, BOTTOM = 90, 20, 56, 40
LINE_HEIGHT = 18
#: A character's width at the labels' 13 px (a monospace font's 0.6 em), and a tick's half.
CHAR, TICK = 7.8, 3.0
FONT = "DejaVu Sans Mono, Sockviz Mono, monospace"

#: Each layer's colour on white, and its stroke width.
COLOURS = {
    "data": ("#1f5fbf", 2),
    "resent": ("#d62728", 3),
    "lost": ("#d62728", 3),
    "ack": ("#2a9d3a", 1.5),
    "window": ("#b8860b", 1.5),
    "sack": ("#8e44ad", 3),
}


class Stroke(NamedTuple):
    layer: str
    x0: float
    y0: float
    x1: float
    y1: float


class Label(NamedTuple):
    x: float
    y: float
    text: str
    anchor: str  # start, middle, end
    bold: bool = False
    colour: str = "#222222"


class Panel(NamedTuple):
    """One direction's graph laid out: its top, height, strokes (clipped to ``box``) and
    labels, in pixels."""

    top: float
    height: float
    box: tuple[float, float, float, float]
    strokes: list[Stroke]
    labels: list[Label]


def panels(graphs: Graphs) -> list[Panel]:
    """Every direction that carried bytes, laid out under one another."""
    out: list[Panel] = []
    top = 0.0
    for index, side in graphs.directions():
        flow = graphs.flows[index]
        lines = shapes(flow, side)
        if not lines:
            continue
        words = caption(flow, side)
        s = scale(lines)
        x0, y0 = LEFT, top + TOP
        x1, y1 = WIDTH - RIGHT, y0 + PLOT_HEIGHT
        strokes = [_stroke(ln, s, (x0, y0, x1, y1)) for ln in lines]
        strokes += [  # (each segment's two ends ticked, as tcptrace does: a burst of
            Stroke(st.layer, st.x0 - TICK, y, st.x0 + TICK, y)  # them, one above
            for st in strokes  # another, still shows each)
            if st.layer in ("data", "resent", "lost") and st.x0 == st.x1
            for y in (st.y0, st.y1)
        ]
        strokes.sort(key=lambda st: LAYERS.index(st.layer))
        labels = [Label(12, top + 20, words[0], "start", bold=True)]
        present = [layer for layer in LAYERS if any(ln.layer == layer for ln in lines)]
        x = 12.0
        for layer in reversed(present):
            text = LEGEND[layer]
            if layer == "window" and s.above is not None:
                text += f" (up to {bytes_label(s.above)}: above the top)"
            labels.append(Label(x, top + 40, "■ " + text, "start", colour=COLOURS[layer][0]))
            x += CHAR * (len(text) + 4)
        labels += [
            Label(x0 - 6, y0 + 5, bytes_label(s.top), "end"),
            Label(x0 - 6, y1, "0", "end"),
            Label(x0, y1 + 18, time_label(s.t0, s.span), "start"),
            Label(x1, y1 + 18, time_label(s.t0 + s.span, s.span), "end"),
            Label((x0 + x1) / 2, y1 + 18, "time of the run →", "middle"),
            Label(12, y0 + PLOT_HEIGHT / 2, "seq ↑", "start"),
        ]
        below = y1 + BOTTOM
        for line in words[1:]:
            labels.append(Label(12, below, line, "start"))
            below += LINE_HEIGHT
        out.append(Panel(top, below - top + 8, (x0, y0, x1, y1), strokes, labels))
        top = below + 8
    return out


def _stroke(line: Line, s: Scale, box: tuple[float, float, float, float]) -> Stroke:
    """A line of the graph in pixels of the plot ``box`` (left, top, right, bottom)."""
    x0, y0, x1, y1 = box

    def px(t: float) -> float:
        return x0 + (t - s.t0) / s.span * (x1 - x0)

    def py(v: int) -> float:
        return y1 - v / s.top * (y1 - y0)

    return Stroke(line.layer, px(line.t0), py(line.y0), px(line.t1), py(line.y1))


def _svg_label(label: Label) -> str:
    weight = ' font-weight="bold"' if label.bold else ""
    return (
        f'<text x="{label.x:.1f}" y="{label.y:.1f}" text-anchor="{label.anchor}" '
        f'fill="{label.colour}"{weight}>{escape(inert(label.text))}</text>'
    )


def to_graph_svg(
    events: Iterable[Event], title: str | None = None, scenario: Scenario | None = None
) -> str:
    """The run's time-sequence graphs as one SVG (a note in their place when no TCP
    connection carried bytes)."""
    graphs = Graphs()
    for event in events:
        if isinstance(event, Segment):
            graphs = on_segment(graphs, event)
    laid = panels(graphs)
    head = 30 if title else 0
    height = head + sum(p.height for p in laid) if laid else head + 40
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height:.0f}" '
        f'viewBox="0 0 {WIDTH} {height:.0f}" font-family="{FONT}" font-size="13">',
        f'<rect width="{WIDTH}" height="{height:.0f}" fill="#ffffff"/>',
    ]
    if title:
        out.append(_svg_label(Label(12, 20, title, "start", bold=True)))
    if not laid:
        out.append(
            _svg_label(
                Label(12, head + 24, "No TCP connection carried bytes in this run.", "start")
            )
        )
    for n, panel in enumerate(laid):
        out.append(f'<g transform="translate(0 {head + panel.top:.1f})">')
        x0, y0, x1, y1 = panel.box
        y0, y1 = y0 - panel.top, y1 - panel.top
        out.append(
            f'<clipPath id="plot{n}"><rect x="{x0}" y="{y0}" width="{x1 - x0}" '
            f'height="{y1 - y0}"/></clipPath>'
        )
        out.append(
            f'<path d="M{x0} {y0} V{y1} H{x1}" stroke="#888888" fill="none" stroke-width="1"/>'
        )
        out.append(f'<g clip-path="url(#plot{n})" stroke-linecap="square">')
        for st in panel.strokes:
            colour, width = COLOURS[st.layer]
            dash = ' stroke-dasharray="3 2"' if st.layer == "lost" else ""
            out.append(
                f'<line x1="{st.x0:.1f}" y1="{st.y0 - panel.top:.1f}" x2="{st.x1:.1f}" '
                f'y2="{st.y1 - panel.top:.1f}" stroke="{colour}" stroke-width="{width}"{dash}/>'
            )
        out.append("</g>")
        for label in panel.labels:
            out.append(_svg_label(label._replace(y=label.y - panel.top)))
        out.append("</g>")
    out.append("</svg>")
    return "\n".join(out) + "\n"
