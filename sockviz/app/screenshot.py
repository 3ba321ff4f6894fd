"""A screenshot of the screen as Textual drew it, as SVG and as PNG, both in Sockviz Mono.

Textual's own ``export_screenshot`` writes an SVG whose font is Fira Code from a CDN: offline,
or pasted where the CDN is not reached, the glyphs it lacks (``⏸``, ``⭘``) turn into boxes,
and a slide program that takes SVG at all does not take web fonts. Here the same screen -
the segments Textual's compositor renders, with their colours, bold, dim and reverse - is

* an SVG (Rich's exporter, as Textual's) that carries its font inside it: the bundled font
  (:mod:`sockviz.fonts`) cut down to the characters on that screen, as a ``data:`` URL, so
  it needs no network and shows the same glyphs anywhere a browser draws it; and
* a PNG painted cell by cell with Pillow from the same segments and the same font, for
  slides: no browser, no network, no font installed.

Both read colours as Rich's SVG exporter does (its export theme for a terminal default,
reverse swapped, dim blended 40% into the background), so the two pictures agree.
Italic is drawn upright (the font has no italic bundled); a character the font has no
glyph for (text a user typed, in a script the font lacks) is drawn as the font's box.
"""

from __future__ import annotations

import base64
import io
import logging
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from fontTools import subset  # type: ignore[import-untyped]
from fontTools.ttLib import TTFont  # type: ignore[import-untyped]
from PIL import Image, ImageDraw, ImageFont
from rich._export_format import CONSOLE_SVG_FORMAT
from rich.cells import cell_len
from rich.color import blend_rgb
from rich.color_triplet import ColorTriplet
from rich.console import Console
from rich.segment import Segment, Segments
from rich.style import Style
from rich.terminal_theme import SVG_EXPORT_THEME
from textual.app import App

from sockviz.fonts import BOLD, FAMILY, REGULAR

# fontTools says what it leaves out of a subset through logging; with no handler, Python
# would print that on stderr - over the TUI's screen.
logging.getLogger("fontTools").addHandler(logging.NullHandler())

#: The PNG's font size in pixels: a cell is 13 x 26 pixels (DejaVu Sans Mono's advance is
#: 0.602 em, its line 1.164 em), so a 100 x 30 screen is 1300 x 780 - sharp on a slide.
PNG_FONT_PX = 22

_UNITS_PER_EM = 2048
_ADVANCE, _ASCENT, _DESCENT = 1233, 1901, 483  # (the font's, in its units)

#: Rich's SVG page with its two Fira Code faces (loaded from a CDN) replaced by ours.
_FACES = CONSOLE_SVG_FORMAT[
    CONSOLE_SVG_FORMAT.index("    @font-face") : CONSOLE_SVG_FORMAT.index("    .{unique_id}-matrix")
]
SVG_FORMAT = (
    CONSOLE_SVG_FORMAT.replace(_FACES, "{faces}\n\n")
    .replace("font-family: Fira Code, monospace;", f'font-family: "{FAMILY}", monospace;')
    .replace("font-family: arial;", f'font-family: "{FAMILY}", monospace;')
)


@dataclass(frozen=True)
class Shot:
    """One screen as Textual rendered it: its lines of segments, and its size in cells."""

    lines: list[list[Segment]]
    width: int
    height: int
    title: str

    def chars(self) -> set[str]:
        """Every character on the screen, and in the title."""
        found = set(self.title)
        for line in self.lines:
            for segment in line:
                found.update(segment.text)
        return found

    def svg(self) -> str:
        """The screen as an SVG that carries its own font (no network needed)."""
        console = recording_console(self.width, self.height)
        ends = [Segment.line()]
        console.print(Segments([s for line in self.lines for s in line + ends]), end="")
        bold = any(s.style is not None and s.style.bold for line in self.lines for s in line)
        faces = [_face(REGULAR, 400, self.chars())]
        if bold:
            faces.append(_face(BOLD, 700, self.chars()))
        page = SVG_FORMAT.replace("{faces}", "\n".join(faces))
        return console.export_svg(
            title=self.title,
            code_format=page,
            font_aspect_ratio=_ADVANCE / _UNITS_PER_EM,
        )

    def png(self, font_px: int = PNG_FONT_PX) -> bytes:
        """The screen painted cell by cell, as PNG bytes."""
        cell_w, cell_h = png_cell(font_px)
        baseline = _ASCENT / _UNITS_PER_EM * font_px
        fonts = {
            False: ImageFont.truetype(str(REGULAR), font_px),
            True: ImageFont.truetype(str(BOLD), font_px),
        }
        image = Image.new("RGB", (self.width * cell_w, self.height * cell_h))
        for y, line in enumerate(self.lines):
            # (a row of its own: a glyph taller than the cell, █ or │, is cut at its edge)
            row = Image.new("RGB", (image.width, cell_h), SVG_EXPORT_THEME.background_color.rgb)
            draw = ImageDraw.Draw(row)
            x = 0
            for segment in line:
                fg, bg = colours(segment.style)
                style = segment.style or Style()
                width = cell_len(segment.text)
                if not width:
                    continue
                draw.rectangle((x * cell_w, 0, (x + width) * cell_w - 1, cell_h - 1), fill=bg)
                column = x
                for char in segment.text:
                    span = cell_len(char)
                    if char != " " and span:
                        centre = (column + span / 2) * cell_w
                        draw.text(
                            (centre, baseline),
                            char,
                            font=fonts[bool(style.bold)],
                            fill=fg,
                            anchor="ms",
                        )
                    column += span
                left, right = x * cell_w, (x + width) * cell_w - 1
                if style.underline:
                    under = round(baseline + 2)
                    draw.line((left, under, right, under), fill=fg, width=max(1, font_px // 12))
                if style.strike:
                    middle = round(baseline - font_px * 0.3)
                    draw.line((left, middle, right, middle), fill=fg, width=max(1, font_px // 12))
                x += width
            image.paste(row, (0, y * cell_h))
        out = io.BytesIO()
        image.save(out, "PNG")
        return out.getvalue()


def png_cell(font_px: int = PNG_FONT_PX) -> tuple[int, int]:
    """One cell of the PNG, in pixels (width, height)."""
    return (
        round(_ADVANCE / _UNITS_PER_EM * font_px),
        round((_ASCENT + _DESCENT) / _UNITS_PER_EM * font_px),
    )


def colours(style: Style | None) -> tuple[tuple[int, int, int], tuple[int, int, int]]:
    """(foreground, background) of a cell in this style, as Rich's SVG exporter reads it."""
    theme = SVG_EXPORT_THEME
    style = style or Style()
    fg: ColorTriplet = (
        theme.foreground_color
        if style.color is None or style.color.is_default
        else style.color.get_truecolor(theme)
    )
    bg: ColorTriplet = (
        theme.background_color
        if style.bgcolor is None or style.bgcolor.is_default
        else style.bgcolor.get_truecolor(theme)
    )
    if style.reverse:
        fg, bg = bg, fg
    if style.dim:
        fg = blend_rgb(fg, bg, 0.4)
    return (fg.red, fg.green, fg.blue), (bg.red, bg.green, bg.blue)


def take(app: App[Any], title: str | None = None) -> Shot:
    """The app's screen as it is now, as Textual's ``export_screenshot`` renders it."""
    width, height = app.size
    render = app.screen._compositor.render_update(
        full=True, screen_stack=app._background_screens, simplify=False
    )
    lines: list[list[Segment]] = [[]]
    for segment in recording_console(width, height).render(render) if render is not None else ():
        if segment.control:  # (cursor moves: the lines come in order, full width)
            continue
        first, *rest = segment.text.split("\n")
        lines[-1].append(Segment(first, segment.style))
        for text in rest:
            lines.append([Segment(text, segment.style)])
    cut = [Segment.adjust_line_length(line, width) for line in lines[:height]]
    cut += [[Segment(" " * width)] for _ in range(height - len(cut))]
    return Shot(cut, width, height, title or app.title)


def recording_console(width: int, height: int) -> Console:
    """A console that records what Textual renders, as its own screenshots do."""
    return Console(
        width=width,
        height=height,
        file=io.StringIO(),
        force_terminal=True,
        color_system="truecolor",
        record=True,
        legacy_windows=False,
        safe_box=False,
    )


def _face(path: Any, weight: int, chars: set[str]) -> str:
    """A CSS @font-face carrying the font at ``path`` cut down to ``chars``."""
    data = _subset(str(path), "".join(sorted(chars)))
    return (
        "    @font-face {{\n"
        f'        font-family: "{FAMILY}";\n'
        f'        src: url("data:font/woff;base64,{data}") format("woff");\n'
        "        font-style: normal;\n"
        f"        font-weight: {weight};\n"
        "    }}"
    )


@lru_cache(maxsize=16)
def _subset(path: str, chars: str) -> str:
    """The font at ``path`` with only the glyphs of ``chars`` (and its names: the licence
    asks that its notices go with every copy), as base64 WOFF. The same input gives the
    same bytes: the font's own timestamps are kept."""
    font = TTFont(path, recalcTimestamp=False)
    options = subset.Options()
    options.name_IDs = ["*"]
    options.name_languages = ["*"]
    options.name_legacy = True
    options.hinting = False
    options.notdef_outline = True
    options.layout_features = []
    options.drop_tables += ["FFTM"]  # (FontForge's timestamps: nothing to draw with)
    subsetter = subset.Subsetter(options)
    subsetter.populate(text=chars)
    subsetter.subset(font)
    font.flavor = "woff"
    out = io.BytesIO()
    font.save(out)
    return base64.b64encode(out.getvalue()).decode("ascii")
