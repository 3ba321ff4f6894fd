"""ctrl+s writes a PNG beside the SVG, both drawn in the bundled font with no network: the
PNG has the screen's size in cells, and each cell's colours are the screen's."""

from __future__ import annotations

import base64
import importlib.util
import io
import pathlib
import re

from fontTools.ttLib import TTFont
from PIL import Image
from textual.widgets import Header

from sockviz.app import screenshot
from sockviz.fonts import FAMILY
from tests.app.app_helpers import jump, replay_app, steps


def dominant(image: Image.Image, box: tuple[int, int, int, int]) -> tuple[int, int, int]:
    """The colour most pixels of ``box`` have."""
    cell = image.crop(box)
    colours = cell.getcolors(cell.width * cell.height) or []
    return max(colours)[1]


async def test_ctrl_s_writes_a_png_beside_the_svg(tmp_path, monkeypatch):
    """Both files, named in the notice; the PNG is 13 x 26 pixels a cell; the header's
    cells are the header's background; every cell is mostly its own background or
    foreground as the screen has them."""
    monkeypatch.chdir(tmp_path)
    app = replay_app("tcp-echo-ipv4", "tcp-echo")
    async with app.run_test(size=(100, 30)) as pilot:
        await jump(pilot, 11)
        # (the screen as ctrl+s takes it: its notice then takes the footer's line)
        header = app.screen.query_one(Header).styles.background.rgb
        styles = {(x, y): app.screen.get_style_at(x, y) for x in range(100) for y in range(30)}
        await pilot.press("ctrl+s")
        await pilot.pause()
        said = [n.message for n in app._notifications]
    assert any("sockviz-tcp-echo-1.png" in m and "sockviz-tcp-echo-1.svg" in m for m in said)
    png = Image.open(tmp_path / "sockviz-tcp-echo-1.png")
    png.load()
    assert png.format == "PNG" and png.size == (100 * 13, 30 * 26)
    assert screenshot.png_cell() == (13, 26)
    image = png.convert("RGB")
    # A cell at the header's right end holds nothing but the header's background.
    assert image.getpixel((98 * 13 + 6, 13)) == header
    assert dominant(image, (98 * 13, 0, 99 * 13, 26)) == header
    wrong, on_background = [], 0
    for (x, y), style in styles.items():
        fg, bg = screenshot.colours(style)
        got = dominant(image, (x * 13, y * 26, (x + 1) * 13, (y + 1) * 26))
        on_background += got == bg
        if got not in (fg, bg):
            wrong.append((x, y, got, fg, bg))
    assert wrong == []
    assert on_background > 0.9 * len(styles)  # (a glyph covers less than half its cell)
    svg = (tmp_path / "sockviz-tcp-echo-1.svg").read_text()
    assert svg.startswith("<svg") and "ESTABLISHED" in svg


async def test_the_svg_carries_its_font_and_loads_nothing():
    """The SVG names no URL but its own data: its font is the bundled one, cut down to
    the characters on the screen (⏸ and ⭘ among them), its licence notices kept."""
    app = replay_app("tcp-echo-ipv4", "tcp-echo")
    async with app.run_test(size=(100, 30)) as pilot:
        await steps(pilot, 4)
        shot = screenshot.take(app, "sockviz — test")
        svg = shot.svg()
    assert re.findall(r"url\((?!#|\"data:)", svg) == [] and "Fira" not in svg
    assert "@import" not in svg and "href" not in svg
    assert f'font-family: "{FAMILY}", monospace;' in svg
    faces = re.findall(r'url\("data:font/woff;base64,([A-Za-z0-9+/=]+)"\)', svg)
    assert len(faces) == 2  # regular and bold: the screen has bold text
    font = TTFont(io.BytesIO(base64.b64decode(faces[0])))
    have = {chr(code) for code in font.getBestCmap()}
    assert {"⏸", "⭘", "→"} <= shot.chars() <= have | {" "}
    assert len(have) < 200  # (cut down: the whole font has thousands)
    assert font["name"].getDebugName(1) == FAMILY
    assert "Bitstream" in font["name"].getDebugName(0)  # (the notice the licence asks for)


async def test_a_screenshot_is_the_same_twice():
    """The same screen gives the same SVG bytes (screenshots/ is checked byte for byte)
    and the same PNG pixels."""
    made = []
    for _ in range(2):
        app = replay_app("tcp-echo-ipv4", "tcp-echo")
        async with app.run_test(size=(80, 24)) as pilot:
            await steps(pilot, 2)
            shot = screenshot.take(app, "sockviz")
            made.append((shot.svg(), shot.png()))
    assert made[0] == made[1]


def test_screenshots_has_a_png_beside_each_svg():
    """scripts/screenshots.py writes each screen as PNG too: each opens, at the size of
    its screen in cells (the pixels are FreeType's, so they are not held byte for byte)."""
    root = pathlib.Path(__file__).resolve().parents[2]
    spec = importlib.util.spec_from_file_location("shots", root / "scripts" / "screenshots.py")
    assert spec is not None and spec.loader is not None
    shots = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(shots)
    cell_w, cell_h = screenshot.png_cell()
    for name, *_, (columns, rows) in shots.SHOTS:
        with Image.open(root / "screenshots" / f"{name}.png") as png:
            assert png.format == "PNG" and png.size == (columns * cell_w, rows * cell_h), name
