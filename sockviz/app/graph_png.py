"""The run's time-sequence graphs as a PNG for slides: the panels
:mod:`sockviz.view.seq_graph_svg` lays out, painted with Pillow in the bundled font - no
browser, no network, no font installed (as :mod:`sockviz.app.screenshot`'s PNG)."""

from __future__ import annotations

import io
from collections.abc import Iterable

from PIL import Image, ImageChops, ImageDraw, ImageFont

from sockviz import fonts
from sockviz.engine.events import Event, Segment
from sockviz.view.seq_graph import Graphs, on_segment
from sockviz.view.seq_graph_svg import COLOURS, WIDTH, Label, panels

#: Pixels per SVG pixel: a slide wants more than 900 across.
ZOOM = 2
_PX = 13 * ZOOM


def _rgb(colour: str) -> tuple[int, int, int]:
    return (int(colour[1:3], 16), int(colour[3:5], 16), int(colour[5:7], 16))


def to_graph_png(events: Iterable[Event], title: str | None = None) -> bytes:
    """The same picture as ``--export graph``'s SVG, as PNG bytes."""
    graphs = Graphs()
    for event in events:
        if isinstance(event, Segment):
            graphs = on_segment(graphs, event)
    laid = panels(graphs)
    head = 30 if title else 0
    height = head + (sum(p.height for p in laid) if laid else 40)
    image = Image.new("RGB", (WIDTH * ZOOM, round(height * ZOOM)), "white")
    draw = ImageDraw.Draw(image)
    regular = ImageFont.truetype(str(fonts.REGULAR), _PX)
    bold = ImageFont.truetype(str(fonts.BOLD), _PX)

    def text(label: Label, dy: float) -> None:
        anchor = {"start": "ls", "middle": "ms", "end": "rs"}[label.anchor]
        draw.text(
            (label.x * ZOOM, (label.y + dy) * ZOOM),
            label.text,
            fill=_rgb(label.colour),
            font=bold if label.bold else regular,
            anchor=anchor,
        )

    if title:
        text(Label(12, 20, title, "start", bold=True), 0)
    if not laid:
        text(Label(12, 24, "No TCP connection carried bytes in this run.", "start"), head)
    for panel in laid:
        dy = head
        x0, y0, x1, y1 = (v * ZOOM for v in panel.box)
        y0, y1 = y0 + dy * ZOOM, y1 + dy * ZOOM
        draw.line([(x0, y0), (x0, y1), (x1, y1)], fill=(136, 136, 136), width=ZOOM)
        plot = Image.new("RGBA", image.size, (0, 0, 0, 0))
        pen = ImageDraw.Draw(plot)
        for st in panel.strokes:
            colour, width = COLOURS[st.layer]
            pen.line(
                [(st.x0 * ZOOM, (st.y0 + dy) * ZOOM), (st.x1 * ZOOM, (st.y1 + dy) * ZOOM)],
                fill=_rgb(colour),
                width=max(1, round(width * ZOOM)),
            )
        clip = Image.new("L", image.size, 0)  # (only inside the plot: a window edge above
        ImageDraw.Draw(clip).rectangle([x0, y0, x1, y1], fill=255)  # its top is left out)
        image.paste(plot.convert("RGB"), (0, 0), ImageChops.multiply(plot.getchannel("A"), clip))
        for label in panel.labels:
            text(label, dy)
    out = io.BytesIO()
    image.save(out, "PNG", optimize=True)
    return out.getvalue()
