"""Build sockviz/fonts/SockvizMono-*.ttf: DejaVu Sans Mono with the glyphs it lacks.

DejaVu Sans Mono (Debian's fonts-dejavu-core) has every glyph sockviz and Textual draw but
five: ⏸ ⏩ ⏪ (the status line and the held rows), ⭘ (Textual's header icon) and 🔎
(Textual's command palette) - and the braille patterns the time-sequence graph draws with.
They are drawn here as plain geometric outlines on the font's own grid - the same height
as its ▶; braille's dots filling the cell - and the font is renamed "Sockviz Mono", as the
Bitstream Vera licence asks of a font with glyphs added (sockviz/fonts/LICENSE).

Running it again writes the same bytes (the timestamps are the source font's):

    apt-get install fonts-dejavu-core && .venv/bin/pip install fonttools
    python scripts/build_font.py
"""

from __future__ import annotations

import math
import pathlib

from fontTools.pens.ttGlyphPen import TTGlyphPen
from fontTools.ttLib import TTFont

ROOT = pathlib.Path(__file__).resolve().parent.parent
SOURCE = pathlib.Path("/usr/share/fonts/truetype/dejavu")
OUT = ROOT / "sockviz" / "fonts"
FAMILY = "Sockviz Mono"

Point = tuple[float, float]

# The font's grid: 2048 units an em, every glyph 1233 wide; ▶ spans y -78..1142.
WIDTH = 1233
MID_X, MID_Y = WIDTH / 2, 532


def _clockwise(points: list[Point], clockwise: bool = True) -> list[Point]:
    """``points`` turned so they run clockwise (TrueType's filled outline; a hole runs the
    other way)."""
    area = sum(
        x0 * y1 - x1 * y0
        for (x0, y0), (x1, y1) in zip(points, points[1:] + points[:1], strict=True)
    )
    return points if (area < 0) == clockwise else points[::-1]


def _polygon(pen: TTGlyphPen, points: list[Point], clockwise: bool = True) -> None:
    first, *rest = _clockwise(points, clockwise)
    pen.moveTo(_round(first))
    for point in rest:
        pen.lineTo(_round(point))
    pen.closePath()


def _circle(pen: TTGlyphPen, cx: float, cy: float, r: float, clockwise: bool = True) -> None:
    """A circle of eight quadratic arcs (each off-curve point where two tangents meet)."""
    steps = 8
    step = 2 * math.pi / steps * (-1 if clockwise else 1)
    reach = r / math.cos(math.pi / steps)
    pen.moveTo(_round((cx + r, cy)))
    for i in range(steps):
        off = (i + 0.5) * step
        on = (i + 1) * step
        pen.qCurveTo(
            _round((cx + reach * math.cos(off), cy + reach * math.sin(off))),
            _round((cx + r * math.cos(on), cy + r * math.sin(on))),
        )
    pen.closePath()


def _round(point: Point) -> tuple[int, int]:
    return round(point[0]), round(point[1])


def pause(pen: TTGlyphPen, weight: int) -> None:
    """⏸: two upright bars."""
    bar = 250 + weight
    gap = 220
    left = MID_X - gap / 2 - bar
    for x0 in (left, MID_X + gap / 2):
        _polygon(pen, [(x0, -28), (x0, 1092), (x0 + bar, 1092), (x0 + bar, -28)])


def double_triangle(pen: TTGlyphPen, weight: int, leftward: bool) -> None:
    """⏩ or ⏪: two triangles, point to base."""
    low, high, half = 82, 982, 555
    for x0 in (MID_X - half, MID_X):
        base, tip = (x0 + half, x0) if leftward else (x0, x0 + half)
        _polygon(pen, [(base, low), (base, high), (tip, (low + high) / 2)])


def ring(pen: TTGlyphPen, weight: int) -> None:
    """⭘ (HEAVY LARGE CIRCLE): a ring."""
    _circle(pen, MID_X, MID_Y, 580)
    _circle(pen, MID_X, MID_Y, 420 - weight, clockwise=False)


def magnifier(pen: TTGlyphPen, weight: int) -> None:
    """🔎 (RIGHT-POINTING MAGNIFYING GLASS): a lens and a handle to the lower right."""
    cx, cy = 500, 700
    _circle(pen, cx, cy, 420)
    _circle(pen, cx, cy, 290 - weight, clockwise=False)
    dx, dy = math.cos(-math.pi / 4), math.sin(-math.pi / 4)
    nx, ny = -dy, dx
    half = 95 + weight / 2
    start, end = 380, 900
    _polygon(
        pen,
        [
            (cx + dx * start + nx * half, cy + dy * start + ny * half),
            (cx + dx * end + nx * half, cy + dy * end + ny * half),
            (cx + dx * end - nx * half, cy + dy * end - ny * half),
            (cx + dx * start - nx * half, cy + dy * start - ny * half),
        ],
    )


#: Braille's eight dots (U+2800 + the dots' bits): where each bit's dot stands - two
#: columns, four rows, filling the cell as a terminal's braille does (the time-sequence
#: graph draws with them).
BRAILLE_DOTS = {
    0x01: (0, 0),
    0x02: (0, 1),
    0x04: (0, 2),
    0x40: (0, 3),
    0x08: (1, 0),
    0x10: (1, 1),
    0x20: (1, 2),
    0x80: (1, 3),
}


def braille(pen: TTGlyphPen, weight: int, bits: int) -> None:
    """A braille cell: a round dot for each bit set."""
    for bit, (column, row) in BRAILLE_DOTS.items():
        if bits & bit:
            _circle(pen, (0.3 + 0.4 * column) * WIDTH, 1450 - row * 440, 135 + weight / 2)


GLYPHS = {
    0x23F8: ("uni23F8", pause),
    0x23E9: ("uni23E9", lambda pen, w: double_triangle(pen, w, leftward=False)),
    0x23EA: ("uni23EA", lambda pen, w: double_triangle(pen, w, leftward=True)),
    0x2B58: ("uni2B58", ring),
    0x1F50E: ("u1F50E", magnifier),
    **{
        0x2800 + bits: (f"uni{0x2800 + bits:04X}", lambda pen, w, bits=bits: braille(pen, w, bits))
        for bits in range(256)
    },
}
"""The glyphs added: code point -> (glyph name, how to draw it at a stroke weight)."""


def build(source: pathlib.Path, target: pathlib.Path, style: str, weight: int) -> None:
    font = TTFont(source, recalcTimestamp=False)
    glyf, hmtx = font["glyf"], font["hmtx"]
    order = list(font.getGlyphOrder())
    for code, (name, draw) in GLYPHS.items():
        if name in glyf:
            raise SystemExit(f"{source.name} already has {name}: nothing to add")
        pen = TTGlyphPen(None)
        draw(pen, weight)
        glyph = pen.glyph()
        glyph.recalcBounds(glyf)
        order.append(name)
        glyf[name] = glyph  # (glyf keeps its own order: set the font's after)
        hmtx[name] = (WIDTH, glyph.xMin)
        for table in font["cmap"].tables:
            if table.isUnicode() and (code <= 0xFFFF or table.format in (12, 13)):
                table.cmap[code] = name
    font.setGlyphOrder(order)
    full = FAMILY if style == "Book" else f"{FAMILY} {style}"
    postscript = f"{FAMILY.replace(' ', '')}-{'Regular' if style == 'Book' else style}"
    names = font["name"]
    for record in list(names.names):
        if record.nameID in (1, 3, 4, 6, 16, 17):
            names.removeNames(nameID=record.nameID)
    for name_id, text in ((1, FAMILY), (3, f"{postscript} (sockviz)"), (4, full), (6, postscript)):
        names.setName(text, name_id, 3, 1, 0x409)
        names.setName(text, name_id, 1, 0, 0)
    note = (
        "Sockviz Mono: DejaVu Sans Mono 2.37, renamed, with U+23E9, U+23EA, U+23F8, "
        "U+2B58, U+1F50E and the braille patterns U+2800-U+28FF added by sockviz "
        "(scripts/build_font.py)."
    )
    names.setName(note, 10, 3, 1, 0x409)
    del font["FFTM"]  # (FontForge's build timestamps: not this font's)
    font["post"].extraNames = []  # (rebuilt from the glyph order on save)
    font.save(target, reorderTables=True)
    print(target.relative_to(ROOT))


def main() -> None:
    OUT.mkdir(exist_ok=True)
    build(SOURCE / "DejaVuSansMono.ttf", OUT / "SockvizMono-Regular.ttf", "Book", 0)
    build(SOURCE / "DejaVuSansMono-Bold.ttf", OUT / "SockvizMono-Bold.ttf", "Bold", 60)


if __name__ == "__main__":
    main()
