"""The page ``--serve`` gives a browser, and the font it draws with.

textual-serve's own page loads Roboto Mono from Google's font service: offline (a classroom
without internet) the terminal falls back to whatever monospace font the browser has, and
even online Roboto Mono has no ``⏸``. This page loads nothing from outside: its font is
the bundled Sockviz Mono (:mod:`sockviz.fonts`, every glyph sockviz draws), served by this
server at :data:`FONT_PATH`.

textual-serve's terminal script (``textual.js``, xterm.js) asks for its font by the name
``'Roboto Mono'`` and starts the terminal on ``window.onload``, measuring a cell then. So
the page declares Sockviz Mono's files under that name too (a page's own ``@font-face``
goes before any font installed under the same name), and starts the script's terminal
only once the font has loaded: a cell measured in a fallback font would misplace every
glyph. Once the app has drawn, the page gives the terminal the keyboard, so → works without
a click first.

``?fontsize=N`` sets the terminal's text size in CSS pixels (default
:data:`DEFAULT_FONT_SIZE`, between :data:`MIN_FONT_SIZE` and :data:`MAX_FONT_SIZE`): larger
text is fewer columns and rows, and the app lays itself out for those. ``--serve`` prints
a URL with ``?fontsize=`` :data:`PROJECTOR_FONT_SIZE` for a projector.
"""

from __future__ import annotations

import html
import json

from sockviz.fonts import BOLD, REGULAR

#: Where this server serves the bundled fonts (the page's @font-face points here).
FONT_PATH = "/sockviz-fonts"

#: The files served there, by name: nothing else under that path is.
FONT_FILES = {REGULAR.name: REGULAR, BOLD.name: BOLD}

#: The name textual.js asks xterm.js for, which this page gives to Sockviz Mono.
SCRIPT_FONT_NAME = "Roboto Mono"

DEFAULT_FONT_SIZE = 16
PROJECTOR_FONT_SIZE = 24
MIN_FONT_SIZE, MAX_FONT_SIZE = 8, 72


def font_size(asked: str | None) -> int:
    """The text size ``?fontsize=`` asks for, as whole pixels within the bounds; the
    default for none, or for something that is not a number."""
    try:
        size = int(asked) if asked is not None else DEFAULT_FONT_SIZE
    except ValueError:
        size = DEFAULT_FONT_SIZE
    return max(MIN_FONT_SIZE, min(size, MAX_FONT_SIZE))


def page(websocket_url: str, size: int, static: str = "/static/") -> str:
    """The page for one tab: the terminal, pointed at ``websocket_url``."""
    faces = "\n".join(
        _face(family, name, weight)
        for family in (SCRIPT_FONT_NAME, "Sockviz Mono")
        for name, weight in ((REGULAR.name, 400), (BOLD.name, 700))
    )
    attribute = html.escape
    return _PAGE.format(
        faces=faces,
        static=attribute(static),
        websocket=attribute(websocket_url),
        size=size,
        size_js=json.dumps(size),
        family_js=json.dumps(SCRIPT_FONT_NAME),
    )


def _face(family: str, name: str, weight: int) -> str:
    return (
        f'@font-face {{ font-family: "{family}"; font-weight: {weight}; font-style: normal; '
        f'src: url("{FONT_PATH}/{name}") format("truetype"); }}'
    )


_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>sockviz</title>
<link rel="preload" href="{static}js/textual.js" as="script">
<link rel="stylesheet" href="{static}css/xterm.css">
<style>
{faces}
body {{ margin: 0; background: #0c181f; color: #e0e0e0; font-family: "Sockviz Mono", monospace; }}
.note {{ position: absolute; inset: 0; display: flex; align-items: center;
  justify-content: center; flex-direction: column; gap: 1em; font-size: 18px; }}
.note button {{ font: inherit; padding: 0.5em 1.5em; }}
body.-first-byte #connecting, #ended, #start {{ display: none; }}
body.-closed #ended {{ display: flex; background: #0c181f; z-index: 10; }}
#start.-delay {{ display: block; }}
body .textual-terminal {{ opacity: 0; }}
body.-first-byte .textual-terminal {{ opacity: 1; }}
</style>
<script src="{static}js/textual.js"></script>
<script>
// textual.js starts its terminal on window.onload and measures a cell then: first the font.
const startTerminal = window.onload;
window.onload = async (event) => {{
  const size = {size_js}, family = {family_js};
  try {{
    await Promise.all([
      document.fonts.load(`${{size}}px "${{family}}"`),
      document.fonts.load(`bold ${{size}}px "${{family}}"`),
    ]);
  }} catch (error) {{
    console.log("sockviz: the bundled font did not load", error);
  }}
  startTerminal(event);
  // Once the app has drawn, the keyboard goes to the terminal: → works without a click.
  const giveKeys = () => {{
    const keys = document.querySelector(".xterm-helper-textarea");
    if (document.body.classList.contains("-first-byte") && keys) keys.focus();
    else setTimeout(giveKeys, 100);
  }};
  giveKeys();
}};
function startNow() {{
  const url = new URL(location.href);
  url.searchParams.delete("delay");
  location.href = url.toString();
}}
</script>
</head>
<body>
<div class="note" id="connecting">sockviz: starting…</div>
<div class="note" id="ended">sockviz: this tab's session has ended.
<button type="button" onclick="location.reload()">Start again</button></div>
<button type="button" id="start" onclick="startNow()">Start</button>
<div id="terminal" class="textual-terminal"
 data-session-websocket-url="{websocket}" data-font-size="{size}"></div>
</body>
</html>
"""
