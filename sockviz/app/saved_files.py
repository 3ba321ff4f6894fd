"""Keeping what is on screen: x writes the run's ladder (Mermaid and plain text), ctrl+s a
screenshot (PNG and SVG) - each into new files in the working folder, never over an existing
file and never through a symlink."""

from __future__ import annotations

import errno
import io
import os
from collections.abc import Iterable
from typing import Any

from textual.app import App

from sockviz.app.config import AppConfig
from sockviz.engine.events import Event
from sockviz.engine.record.inert_text import inert
from sockviz.engine.record.user_files import create
from sockviz.engine.scenarios.scenario_types import Scenario
from sockviz.view.export import FORMATS


def create_free(scenario: str, suffixes: tuple[str, ...]) -> tuple[str, list[io.TextIOWrapper]]:
    """New files ``sockviz-<scenario>-<n><suffix>`` in the working folder, for the first
    ``n`` none of them exists at; each created exclusively, never through a symlink (a name
    planted there is skipped, its target untouched). OSError if none can be."""
    stem = ""
    for n in range(1, 10_000):
        stem = os.path.abspath(inert(f"sockviz-{scenario}-{n}", 120))
        files: list[io.TextIOWrapper] = []
        try:
            for suffix in suffixes:
                files.append(create(stem + suffix))
        except FileExistsError:
            for f in files:  # (a later suffix was taken: this n is not free after all)
                f.close()
                os.unlink(f.name)
            continue
        except OSError:
            for f in files:
                f.close()
            raise
        return stem, files
    raise OSError(errno.EEXIST, "no free file name left", stem)


def export_run(
    app: App[Any], events: Iterable[Event], config: AppConfig, scenario: Scenario
) -> None:
    """Write the run so far (``events``: its trace) as a Mermaid sequenceDiagram and as
    plain text, and its time-sequence graphs as SVG and PNG; say where."""
    trace = list(events)
    if not trace:
        app.notify("No call has been made yet: nothing to draw.", timeout=3)
        return
    title = f"sockviz {config.scenario} · {config.family}"
    # (imported when asked for: Pillow is not part of the start)
    from sockviz.app.graph_png import to_graph_png

    suffixes = (*(suffix for _, suffix in FORMATS.values()), ".graph.png")
    try:
        stem, files = create_free(config.scenario, suffixes)
        for (draw, _suffix), f in zip(FORMATS.values(), files, strict=False):
            with f:
                f.write(draw(trace, title, scenario))
        with files[-1] as f:
            f.buffer.write(to_graph_png(trace, title))
    except OSError as exc:
        app.notify(
            f"{exc.strerror or exc}: {exc.filename or ''}",
            title="not exported",
            severity="error",
            timeout=8,
        )
        return
    app.notify(
        f"{stem}.mmd (Mermaid: paste it into a ```mermaid block), .txt (plain text), "
        ".graph.svg and .graph.png (time-sequence graphs)",
        title="ladder and graphs written",
        timeout=8,
    )


def save_screenshot(app: App[Any], scenario: str) -> None:
    """The screen as it is, as an SVG and a PNG beside it (both drawn in the bundled font,
    needing no network: :mod:`sockviz.app.screenshot`); say where."""
    try:
        from sockviz.app import screenshot  # (Pillow and fontTools: loaded when asked for)

        shot = screenshot.take(app, f"sockviz — {scenario}")
        svg, png = shot.svg(), shot.png()
    except (ImportError, OSError, ValueError) as exc:
        app.notify(f"{exc}", title="no screenshot", severity="error", timeout=8)
        return
    try:
        stem, (svg_file, png_file) = create_free(scenario, (".svg", ".png"))
        with svg_file, png_file:
            svg_file.write(svg)
            png_file.buffer.write(png)  # (create() opens text)
    except OSError as exc:
        app.notify(f"{exc.strerror or exc}", title="no screenshot", severity="error", timeout=8)
        return
    app.notify(
        f"{stem}.png (for slides) and {os.path.basename(stem)}.svg",
        title="screenshot written",
        timeout=8,
    )


save_svg = save_screenshot
"""(The name the app's ctrl+s action imports.)"""
