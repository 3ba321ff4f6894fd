"""--serve's page: the bundled font, served by sockviz itself, nothing from outside; the
text size a projector needs (``?fontsize=``), and the URL for it printed at the start."""

from __future__ import annotations

import asyncio
import pathlib
import re

import pytest

aiohttp = pytest.importorskip("aiohttp")
textual_serve = pytest.importorskip("textual_serve")

from sockviz import serve_page  # noqa: E402 - (after the skip: textual-serve may be missing)
from sockviz.fonts import BOLD, REGULAR  # noqa: E402
from sockviz.serve_access import Access  # noqa: E402
from tests.test_serve import read_line, start_server, stop_server  # noqa: E402

SCRIPT = pathlib.Path(textual_serve.__file__).parent / "static" / "js" / "textual.js"


def external_urls(page: str, own: str) -> list[str]:
    """Every absolute URL in the page (a scheme and a host) but for its own server's."""
    found = re.findall(r"""[a-z]*:?//[^\s"'<>)]+""", page)
    return [url for url in found if url.split("//", 1)[1].split("/")[0] != own]


def test_the_page_draws_with_the_bundled_font_and_loads_nothing_from_outside():
    page = serve_page.page("ws://127.0.0.1:8767/ws", 16)
    assert "googleapis" not in page and external_urls(page, "127.0.0.1:8767") == []
    assert external_urls('x <a href="https://a.example/f.css">', "h") == ["https://a.example/f.css"]
    for font in (REGULAR, BOLD):
        assert f'url("{serve_page.FONT_PATH}/{font.name}")' in page
    # textual.js asks xterm.js for 'Roboto Mono' by name and starts on window.onload:
    # the page gives that name to the bundled font and waits for it before starting.
    script = SCRIPT.read_text(encoding="utf-8")
    assert "fontFamily:\"'Roboto Mono'," in script and "window.onload=" in script
    assert f'font-family: "{serve_page.SCRIPT_FONT_NAME}"' in page
    assert "document.fonts.load" in page and "startTerminal(event)" in page


def test_fontsize_is_kept_and_bounded():
    """``?fontsize=`` sets the terminal's text size; nonsense gives the default, and a
    size is held between 8 and 72 pixels."""
    assert serve_page.font_size(None) == 16
    assert serve_page.font_size("24") == 24
    assert serve_page.font_size("huge") == 16
    assert serve_page.font_size("4") == 8 and serve_page.font_size("4000") == 72
    assert 'data-font-size="24"' in serve_page.page("ws://h/ws", 24)


def test_the_projector_url_carries_the_token_too():
    access = Access("192.0.2.7", 8767, token="abc")
    assert access.urls(24) == ["http://192.0.2.7:8767/?token=abc&fontsize=24"]
    assert Access("127.0.0.1", 8767).urls(24) == ["http://127.0.0.1:8767/?fontsize=24"]
    assert Access("127.0.0.1", 8767).urls() == ["http://127.0.0.1:8767"]


async def _get(session, url: str, tries: int = 100):
    for _ in range(tries):
        try:
            response = await session.get(url)
            return response.status, await response.read(), response.headers
        except aiohttp.ClientConnectorError:
            await asyncio.sleep(0.2)
    raise AssertionError("the server never answered")


def test_a_real_server_serves_the_page_and_its_fonts_and_prints_the_projector_url():
    proc, port = start_server()
    try:
        first = read_line(proc.stderr).decode()
        second = read_line(proc.stderr).decode()
        assert f"serving at http://127.0.0.1:{port} " in first
        assert f"on a projector, open http://127.0.0.1:{port}/?fontsize=24 " in second

        async def fetch():
            base = f"http://127.0.0.1:{port}"
            async with aiohttp.ClientSession() as session:
                page = await _get(session, base + "/?fontsize=24")
                regular = await _get(session, base + f"{serve_page.FONT_PATH}/{REGULAR.name}")
                other = await _get(session, base + f"{serve_page.FONT_PATH}/pyproject.toml")
                return page, regular, other

        page, regular, other = asyncio.run(fetch())
        assert page[0] == 200
        html = page[1].decode()
        assert 'data-font-size="24"' in html and external_urls(html, f"127.0.0.1:{port}") == []
        assert f'data-session-websocket-url="ws://127.0.0.1:{port}/ws"' in html
        assert regular[0] == 200 and regular[1] == REGULAR.read_bytes()
        assert regular[2]["Content-Type"] == "font/ttf"
        assert other[0] == 404
    finally:
        stop_server(proc)
