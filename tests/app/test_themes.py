"""The themes: measured contrast and distinct colours, --theme, t, and the remembered choice.

The contrast is WCAG 2's, computed here from the colours: each theme's declared ones, and
every glyph of real screens rendered in the projector theme (what a student reads there
must be at 4.5:1 or better against what it is drawn on).
"""

from __future__ import annotations

import io
import itertools
import subprocess
import sys

import pytest
from rich.console import Console
from rich.segment import Segment
from textual.color import Color

from sockviz.app.themes import BY_NAME, THEMES, next_theme
from sockviz.app.user_settings import DEFAULT_THEME, THEME_NAMES, read_settings
from sockviz.launch import theme_of
from sockviz.options import Options, check
from tests.app.app_helpers import jump, replay_app, settle

AA = 4.5
SIZE = (100, 30)


# --- WCAG 2 contrast --------------------------------------------------------------------
def luminance(rgb: tuple[int, int, int]) -> float:
    """WCAG 2 relative luminance of an sRGB colour (0-255 a channel)."""

    def linear(channel: int) -> float:
        c = channel / 255
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (linear(c) for c in rgb)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(a: tuple[int, int, int], b: tuple[int, int, int]) -> float:
    """WCAG 2 contrast ratio, 1 to 21."""
    light, dark = sorted((luminance(a), luminance(b)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


def test_the_formula_against_known_ratios():
    """Black on white is 21:1; #767676 on white is the well-known 4.54:1; equal is 1:1."""
    assert contrast((0, 0, 0), (255, 255, 255)) == pytest.approx(21)
    assert contrast((0x76, 0x76, 0x76), (255, 255, 255)) == pytest.approx(4.54, abs=0.01)
    assert contrast((0x12, 0x34, 0x56), (0x12, 0x34, 0x56)) == 1


def resolved(theme_name: str) -> dict[str, Color]:
    """The theme's variables as the app gets them (Textual's generated ones, then the
    theme's own), alpha blended over the background."""
    theme = BY_NAME[theme_name]
    variables = {**theme.to_color_system().generate(), **theme.variables}
    background = Color.parse(variables["background"])
    return {
        name: background + Color.parse(value)
        for name, value in variables.items()
        if value and not value.startswith(("auto", "ansi")) and _colour(value)
    }


def _colour(value: str) -> bool:
    try:
        Color.parse(value)
    except Exception:
        return False
    return True


def rgb(colour: Color) -> tuple[int, int, int]:
    return colour.rgb


LIFECYCLE = [f"state-{s}" for s in ("created", "bound", "listening", "connected", "half-closed")]
LIFECYCLE += ["state-closed", "state-future"]
KERNEL = [f"kernel-{k}" for k in ("listen", "syn", "established", "fin-wait", "close-wait")]
KERNEL += ["kernel-time-wait", "kernel-close"]
MARKS = ["wire", "lost", "held"]
#: A kernel state drawn in the colour of the lifecycle state it means (the same condition).
TWINS = {
    ("state-listening", "kernel-listen"),
    ("state-connected", "kernel-established"),
    ("state-half-closed", "kernel-fin-wait"),
}


def lab(colour: Color) -> tuple[float, float, float]:
    """CIE L*a*b* (D65) of an sRGB colour, for a perceptual distance."""

    def linear(channel: int) -> float:
        c = channel / 255
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (linear(c) for c in colour.rgb)
    x = (0.4124 * r + 0.3576 * g + 0.1805 * b) / 0.95047
    y = 0.2126 * r + 0.7152 * g + 0.0722 * b
    z = (0.0193 * r + 0.1192 * g + 0.9505 * b) / 1.08883

    def f(t: float) -> float:
        return t ** (1 / 3) if t > 216 / 24389 else (24389 / 27 * t + 16) / 116

    return 116 * f(y) - 16, 500 * (f(x) - f(y)), 200 * (f(y) - f(z))


def delta_e(a: Color, b: Color) -> float:
    """CIE76 colour difference: about 2.3 is just noticeable; 10 and more, plainly apart."""
    return sum((p - q) ** 2 for p, q in zip(lab(a), lab(b), strict=True)) ** 0.5


@pytest.mark.parametrize("name", THEME_NAMES)
def test_state_colours_are_distinct(name):
    """Every lifecycle state, kernel state, the wire and the lost and held marks differ
    plainly (CIE76 distance 10 or more) from each other, in every theme - but for a kernel
    state and the lifecycle state it means, which share a colour on purpose."""
    colours = resolved(name)
    close = []
    for a, b in itertools.combinations(LIFECYCLE + KERNEL + MARKS, 2):
        if (a, b) in TWINS:
            assert colours[a] == colours[b], (a, b)
            continue
        distance = delta_e(colours[a], colours[b])
        if distance < 10:
            close.append((a, b, round(distance, 1)))
    assert close == []


def test_the_themes_are_the_ones_named_without_textual():
    """The command line checks --theme against user_settings' names: the same, in order."""
    assert tuple(BY_NAME) == THEME_NAMES
    assert [t.name for t in THEMES] == list(THEME_NAMES)
    assert DEFAULT_THEME == "sockviz-dark"
    assert [next_theme(n) for n in THEME_NAMES] == [*THEME_NAMES[1:], THEME_NAMES[0]]
    assert next_theme("textual-dark") == DEFAULT_THEME


#: (text, background) pairs a student reads in the projector theme, by variable.
READ_ON = [
    *((f"{s}", "background") for s in LIFECYCLE + KERNEL + MARKS),  # as text on the screen
    *(("background", s) for s in LIFECYCLE + KERNEL),  # the card's strip and badge
    *((t, bg) for t in ("foreground", "text-quiet", "text-faint") for bg in ("background",)),
    *(("text-quiet", bg) for bg in ("surface", "panel", "block-cursor-background")),
    *(
        (t, bg)
        for t in ("text-accent", "text-warning", "text-error", "text-success", "text-primary")
        for bg in ("background", "surface", "panel")
    ),
    ("accent", "background"),
    ("footer-key-foreground", "footer-background"),
    ("footer-description-foreground", "footer-background"),
]


@pytest.mark.parametrize(("text", "ground"), READ_ON)
def test_projector_colours_read_at_aa(text, ground):
    """In sockviz-projector, each colour text is drawn in reads at 4.5:1 or better on each
    background it is drawn on."""
    colours = resolved("sockviz-projector")
    ratio = contrast(rgb(colours[text]), rgb(colours[ground]))
    assert ratio >= AA, f"{text} on {ground}: {ratio:.2f}"


def test_the_dark_greys_that_washed_out_would_fail():
    """The check can fail: 256-colour 242 on 233 (the dark theme's states not reached) is
    under AA - which is why the projector theme does not use them."""
    assert contrast((0x6C, 0x6C, 0x6C), (0x12, 0x12, 0x12)) < AA


# --- every glyph of real screens, in the projector theme ---------------------------------
LINES = set("─│┄╌━╸╺▔▁▏▕▊▎▐▌█▇▆▅▄▃▂╭╮╰╯┌┐└┘├┤┬┴┼═║╔╗╚╝")
"""Borders, rules and scrollbars: lines, not text (Textual draws them)."""


def unreadable(app) -> list[tuple[str, str, str, float]]:
    """Every glyph of the top screen (inside a modal's box, for a modal) under AA: (text,
    colour, background, ratio)."""
    width, height = app.size
    console = Console(
        width=width, height=height, file=io.StringIO(), force_terminal=True,
        color_system="truecolor", record=True, legacy_windows=False, safe_box=False,
    )  # fmt: skip
    console.print(app.screen._compositor.render_update(full=True, screen_stack=[]))
    box = None
    for selector in ("#help-box", "#picker-box", "#quiz-box"):
        if app.screen.query(selector):
            box = app.screen.query_one(selector).region
    bad = []
    for y, line in enumerate(Segment.split_and_crop_lines(console._record_buffer, width)):
        x = 0
        for segment in line:
            style, text = segment.style, segment.text
            inside = box is None or box.contains(x, y)
            x += segment.cell_length
            if not inside or style is None or not (set(text) - LINES - {" "}):
                continue
            fg, bg = (style.bgcolor, style.color) if style.reverse else (style.color, style.bgcolor)
            assert fg is not None and bg is not None, text
            ratio = contrast(fg.get_truecolor(), bg.get_truecolor())
            if ratio < AA:
                bad.append((text, fg.get_truecolor().hex, bg.get_truecolor().hex, round(ratio, 2)))
    return bad


SCREENS = [
    ("tcp-echo-ipv4", "tcp-echo", 11, ()),
    ("tcp-echo-ipv4", "tcp-echo", 15, ()),
    ("tcp-echo-ipv4", "tcp-echo", 9, ("p",)),
    ("tcp-echo-ipv4", "tcp-echo", 4, ("l",)),
    ("tcp-echo-wire-ipv4", "tcp-echo", 6, ()),
    ("lost-syn-ipv4", "lost-syn", 6, ()),
    ("tcp-echo-hold-ipv4", "tcp-echo", 6, ()),
    ("tcp-echo-port-in-use", "tcp-echo", 3, ()),
    ("backlog-full-ipv4", "backlog-full", 13, ()),
    ("tcp-echo-ipv4", "tcp-echo", 13, ("g", "right")),
    ("tcp-echo-ipv4", "tcp-echo", 4, ("question_mark",)),
    ("tcp-echo-ipv4", "tcp-echo", 2, ("s", "down")),
]


@pytest.mark.parametrize(("fixture", "scenario", "n", "keys"), SCREENS)
async def test_projector_screens_read_at_aa(fixture, scenario, n, keys):
    """Rendered in sockviz-projector, every glyph a student reads - cards, badges, ladder,
    wire, lost and held marks, panels, tabs, footer, and the help, picker and predict
    boxes - is at 4.5:1 or better against the colour under it."""
    app = replay_app(fixture, scenario)
    app.theme_name = "sockviz-projector"
    async with app.run_test(size=SIZE) as pilot:
        await jump(pilot, n)
        for key in keys:
            await pilot.press(key)
            await pilot.pause()
        await pilot.pause()
        assert app.theme == "sockviz-projector"
        assert unreadable(app) == []


async def test_the_screen_check_can_fail():
    """The same check over the dark default's first screen finds its dim greys."""
    app = replay_app("tcp-echo-ipv4", "tcp-echo")
    app.theme_name = "sockviz-dark"
    async with app.run_test(size=SIZE) as pilot:
        await jump(pilot, 4)
        assert unreadable(app) != []


# --- choosing, cycling, remembering ------------------------------------------------------
def test_an_unknown_theme_is_one_line_and_exit_2():
    """--theme with a name sockviz does not have: one line naming the choices, status 2."""
    proc = subprocess.run(
        [sys.executable, "-m", "sockviz", "--theme", "solarized"],
        capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    assert proc.returncode == 2
    assert proc.stdout == ""
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, lines
    assert "'solarized'" in lines[0]
    assert all(name.removeprefix("sockviz-") in lines[0] for name in THEME_NAMES)


@pytest.mark.parametrize("name", ["projector", "sockviz-projector"])
def test_a_theme_is_named_short_or_in_full(name):
    """--theme projector, as the docs write it, is sockviz-projector (Textual's name)."""
    assert check(Options(theme=name)).theme == "sockviz-projector"


def test_help_says_how_themes_are_chosen():
    proc = subprocess.run(
        [sys.executable, "-m", "sockviz", "--help"],
        capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    text = " ".join(proc.stdout.split())
    assert "--theme NAME" in text
    assert all(name.removeprefix("sockviz-") in text for name in THEME_NAMES)
    assert "TEXTUAL_THEME is not read" in text


@pytest.fixture
def config_home(tmp_path, monkeypatch):
    """A config directory of the test's own: never the real home's."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    return tmp_path / "sockviz" / "config.toml"


def app_as_launched(options: Options):
    """A replayed run, with the theme and the settings as ``sockviz`` starts the TUI."""
    app = replay_app("tcp-echo-ipv4", "tcp-echo")
    chosen = theme_of(options)
    app.theme_name, app.settings = chosen["theme"], chosen["settings"]
    return app


async def test_t_cycles_and_the_choice_is_remembered(config_home):
    """t goes dark -> light -> projector; the next run starts in the last one chosen; the
    file is TOML that reads back; --theme wins over it for its run, without changing it."""
    app = app_as_launched(Options())
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert app.theme == "sockviz-dark"
        assert not config_home.exists()
        await pilot.press("t")
        assert app.theme == "sockviz-light"
        await pilot.press("t")
        assert app.theme == "sockviz-projector"
        assert app.get_css_variables()["state-bound"].lower() == "#0039a6"
    assert read_settings(config_home).theme == "sockviz-projector"
    assert [p.name for p in config_home.parent.iterdir()] == ["config.toml"]  # (no temp left)

    again = app_as_launched(Options())
    async with again.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert again.theme == "sockviz-projector"

    given = app_as_launched(Options(theme="sockviz-light"))
    async with given.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert given.theme == "sockviz-light"
    assert read_settings(config_home).theme == "sockviz-projector"


async def test_a_served_tab_never_writes_the_teachers_choice(config_home, monkeypatch):
    """In a --serve tab (textual-serve runs it with sockviz's web driver) t changes that
    tab's theme only: the file keeps the teacher's choice."""
    from sockviz.app.terminal import WEB_TAB_DRIVER
    from sockviz.app.user_settings import write_atomically

    config_home.parent.mkdir(parents=True)
    write_atomically(config_home, 'theme = "sockviz-projector"\n')
    monkeypatch.setenv("TEXTUAL_DRIVER", WEB_TAB_DRIVER)
    app = app_as_launched(Options())
    monkeypatch.delenv("TEXTUAL_DRIVER")  # (the test's own app runs headless)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert app.theme == "sockviz-projector"
        await pilot.press("t")
        assert app.theme == "sockviz-dark"
    assert read_settings(config_home).theme == "sockviz-projector"


@pytest.mark.parametrize(
    ("content", "words"),
    [
        (b"theme = [\n", "is not valid TOML"),
        (b"\xff\xfe theme", "is not valid TOML"),
        (b'theme = "neon"\n', "'neon' is not one of"),
        (b"theme = 3\n", "'3' is not one of"),
    ],
)
async def test_a_broken_config_file_is_a_notice_and_the_default(config_home, content, words):
    """A config file sockviz cannot use: the default theme, and one notice saying why."""
    config_home.parent.mkdir(parents=True)
    config_home.write_bytes(content)
    app = app_as_launched(Options())
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert app.theme == DEFAULT_THEME
        notices = [n.message for n in app._notifications]
        assert len(notices) == 1 and words in notices[0], notices
        assert str(config_home) in notices[0]


async def test_an_unreadable_config_file_is_a_notice(config_home):
    """A directory where the file should be: cannot read it, the default, a notice; and
    choosing a theme then says it could not be remembered, without a crash."""
    config_home.mkdir(parents=True)
    app = app_as_launched(Options())
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert app.theme == DEFAULT_THEME
        await pilot.press("t")
        assert app.theme == "sockviz-light"
        notices = [n.message for n in app._notifications]
        assert any("cannot read" in n for n in notices), notices
        assert any("could not remember the theme" in n for n in notices), notices


def test_tests_do_not_reach_the_real_config(config_home):
    """The config path follows XDG_CONFIG_HOME (so these tests write only to tmp_path)."""
    assert read_settings().path == config_home


def test_served_tabs_get_the_theme():
    """--serve --theme: each browser tab's sockviz is started in that theme."""
    from sockviz.launch import serve_command

    command = serve_command(Options(serve=True, theme="sockviz-projector"))
    assert command[-2:] == ["--theme", "sockviz-projector"]
    assert "--theme" not in serve_command(Options(serve=True))
