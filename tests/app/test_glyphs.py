"""Every character sockviz can print has a glyph in the bundled font (regular and bold).

Three ways in, each of which can find a character the others miss: the string literals of
sockviz itself (and its .tcss and scenario files); the glyphs Textual draws for the widgets
sockviz uses (borders, scrollbars, key names, the header's ⭘, the palette's 🔎, and the
literals of those widgets' modules); and every character on the real app's screens -
a run with its wire, going back, predict mode, the help, the scenario picker.
"""

from __future__ import annotations

import ast
import functools
import inspect
import pathlib
import unicodedata

import pytest
from fontTools.ttLib import TTFont
from textual import widgets
from textual._border import BORDER_CHARS
from textual.command import SearchIcon
from textual.keys import KEY_DISPLAY_ALIASES
from textual.renderables import bar
from textual.scrollbar import ScrollBarRender
from textual.widgets._header import HeaderIcon

from sockviz.app import screenshot
from sockviz.fonts import BOLD, REGULAR
from tests.app.app_helpers import replay_app, settle, steps

ROOT = pathlib.Path(__file__).resolve().parents[2]

#: Characters that are never drawn as a glyph: controls, format marks (bidi overrides,
#: zero-width joiners: sockviz's inert text shows those escaped), line/paragraph separators.
INVISIBLE = {"Cc", "Cf", "Zl", "Zp"}

#: The Textual widgets (and screens) sockviz builds its screens from.
TEXTUAL_WIDGETS = [
    widgets.Footer,
    widgets.Header,
    widgets.Input,
    widgets.OptionList,
    widgets.Static,
    widgets.TabPane,
    widgets.TabbedContent,
    widgets.Tabs,
]


@functools.cache
def cmap(path: pathlib.Path) -> frozenset[int]:
    return frozenset(TTFont(path).getBestCmap())


def missing(chars, path=REGULAR) -> list[str]:
    """The drawn characters of ``chars`` the font at ``path`` has no glyph for."""
    have = cmap(path)
    return sorted(
        f"U+{ord(c):04X} {c} {unicodedata.name(c, '?')}"
        for c in set(chars)
        if unicodedata.category(c) not in INVISIBLE and ord(c) not in have
    )


def literals(source: str, docstrings: bool = True) -> str:
    """Every character of the string literals in Python ``source``."""
    tree = ast.parse(source)
    skip: set[int] = set()
    if not docstrings:
        for node in ast.walk(tree):
            body = getattr(node, "body", None)
            if isinstance(body, list) and body and isinstance(body[0], ast.Expr):
                skip.add(id(body[0].value))
    return "".join(
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in skip
    )


def sockviz_chars() -> str:
    """What sockviz's own files can print: literals, styles, scenario files."""
    text = []
    for path in sorted((ROOT / "sockviz").rglob("*")):
        if path.suffix == ".py":
            text.append(literals(path.read_text(encoding="utf-8")))
        elif path.suffix in (".tcss", ".toml"):
            text.append(path.read_text(encoding="utf-8"))
    return "".join(text)


def textual_chars() -> str:
    """What Textual draws for the widgets sockviz uses."""
    text = [
        "".join("".join(row) for chars in BORDER_CHARS.values() for row in chars),
        "".join(ScrollBarRender.VERTICAL_BARS + ScrollBarRender.HORIZONTAL_BARS),
        "".join(KEY_DISPLAY_ALIASES.values()),
        HeaderIcon.icon._default,
        SearchIcon.icon._default,
        literals(inspect.getsource(bar), docstrings=False),
    ]
    modules = {
        inspect.getmodule(cls)
        for widget in TEXTUAL_WIDGETS
        for cls in widget.__mro__
        if cls.__module__.startswith("textual.")
    }
    for module in sorted(modules, key=lambda m: m.__name__):
        text.append(literals(inspect.getsource(module), docstrings=False))
    return "".join(text)


@pytest.mark.parametrize("font", [REGULAR, BOLD], ids=["regular", "bold"])
def test_every_literal_sockviz_prints_has_a_glyph(font):
    """A character in any of sockviz's strings, styles or scenarios is in the font."""
    assert missing(sockviz_chars(), font) == []


@pytest.mark.parametrize("font", [REGULAR, BOLD], ids=["regular", "bold"])
def test_every_glyph_textual_draws_for_sockviz_is_in_the_font(font):
    """Borders, scrollbars, key names, the header icon ⭘, the palette's 🔎 and the
    literals of the widgets sockviz uses: each has a glyph."""
    chars = textual_chars()
    assert "⭘" in chars and "▁" in chars and "╭" in chars  # (the collection is real)
    assert missing(chars, font) == []


def test_the_check_finds_a_glyph_the_font_lacks():
    """The same check names a character the font has no glyph for (CJK, an emoji): it
    can fail. And it ignores what is never drawn (a bidi override, a control)."""
    assert missing("a中😀\u202e\x07") == [
        "U+1F600 😀 GRINNING FACE",
        "U+4E2D 中 CJK UNIFIED IDEOGRAPH-4E2D",
    ]
    assert missing('x = "⏸ held ⏩ ⭘"') == []  # (the five added glyphs are there)


async def test_every_character_on_the_apps_screens_has_a_glyph():
    """The real app's screens - the wire, going back, predict, help, the scenario
    picker - hold no character the font lacks, in either weight."""
    app = replay_app("tcp-echo-wire-ipv4", "tcp-echo")
    seen: set[str] = set()
    async with app.run_test(size=(100, 30)) as pilot:
        await steps(pilot, 6)
        seen |= screenshot.take(app).chars()
        for keys in (("left",), ("right", "g", "right"), ("escape", "question_mark")):
            await pilot.press(*keys)
            await pilot.pause()
            seen |= screenshot.take(app).chars()
        await pilot.press("escape", "s")
        await settle(pilot)
        seen |= screenshot.take(app).chars()
    assert {"⭘", "→", "│"} <= seen
    assert missing(seen, REGULAR) == [] and missing(seen, BOLD) == []


async def test_every_braille_dot_the_graph_draws_has_a_glyph():
    """The time-sequence graph (G) draws in braille: each of its 256 patterns is in the
    font, in either weight, and a real graph's screen holds none the font lacks."""
    assert missing("".join(chr(c) for c in range(0x2800, 0x2900)), REGULAR) == []
    assert missing("".join(chr(c) for c in range(0x2800, 0x2900)), BOLD) == []
    app = replay_app("graph-lost-data-ipv4", "lost-data")
    async with app.run_test(size=(100, 42)) as pilot:
        await steps(pilot, 9)
        await pilot.press("G")
        await pilot.pause()
        seen = screenshot.take(app).chars()
    assert any(0x2800 < ord(ch) < 0x2900 for ch in seen)
    assert missing(seen, REGULAR) == [] and missing(seen, BOLD) == []
