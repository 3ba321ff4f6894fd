"""``--serve``: sockviz's TUI in this machine's web browser, through textual-serve.

textual-serve starts one app process per WebSocket and trusts whoever opens one. Left as it
is, that is a remote control for this machine: any web page the user visits can open
``ws://127.0.0.1:PORT/ws`` (browsers let pages open WebSockets to any address and leave the
check to the server), type keys into sockviz and make it write files. It also starts as many
processes as sockets arrive, and it ends an app only by asking it to quit and then waiting
for it without limit, so an app that does not listen - or a server stopped by a signal while
tabs are open - leaves processes behind.

:class:`SockvizServer` keeps textual-serve's page and protocol and changes who may start an
app, how many run at once, and how they end:

* every request must name the server by one of its own addresses (``Host``), and bound
  beyond loopback carry the join token; a WebSocket upgrade whose ``Origin`` is not
  sockviz's own page is refused with 403 before any process starts
  (:mod:`sockviz.serve_access`); the page points its WebSocket at the address the browser
  used;
* a message on a tab's WebSocket that is not textual-serve's (not JSON, the wrong shape)
  closes that tab with one line on the console, never a traceback;
* at most :data:`MAX_TABS` tab apps run at once; one more is refused with 503;
* each tab's app runs in a session of its own and is ended as a group (quit, then SIGTERM,
  then SIGKILL, each after a short wait) when its WebSocket closes, when the app's output
  ends, and for every tab when the server gets SIGTERM or SIGINT; and a tab's app ends by
  itself when the server dies any other way (``kill -9``): its input pipe ends and the
  server process is watched (:class:`~sockviz.app.terminal.WebTabDriver`).

The page is sockviz's own (:mod:`sockviz.serve_page`): it loads nothing from outside, draws
with the bundled font (served at :data:`~sockviz.serve_page.FONT_PATH`), and takes
``?fontsize=N`` for larger text on a projector.

A tab's process - how it starts, relays and ends - is :mod:`sockviz.serve_tabs`'s.

Written against textual-serve 1.1.x: :class:`TabApp` replaces ``AppService``'s process start
and stop, :class:`SockvizServer` its page (textual-serve's scripts and styles are kept), its
WebSocket handler and message reader, its logging and its exit request.
"""

from __future__ import annotations

import asyncio
import json
import logging
import shlex
import sys
from collections.abc import Sequence

from aiohttp import WSCloseCode, WSMsgType, web
from aiohttp.web_runner import GracefulExit
from textual_serve.app_service import AppService
from textual_serve.server import Server, to_int

from sockviz import serve_page
from sockviz.engine.record.inert_text import inert
from sockviz.serve_access import (  # noqa: F401 - (url_host, is_loopback: used by callers)
    Access,
    allowed_origins,
    is_loopback,
    server_url,
    url_host,
)
from sockviz.serve_page import DEFAULT_FONT_SIZE, PROJECTOR_FONT_SIZE  # noqa: F401 - (for launch)
from sockviz.serve_tabs import TabApp

log = logging.getLogger("textual-serve")

#: The terminal size a tab may ask for, at most (columns, rows): a page asks for what its
#: window holds; a size far beyond that would only make the app draw a screen nobody sees.
MAX_SIZE = (1000, 500)

#: Tab apps running at once, at most. ``--serve`` is for one machine's browser (a teacher's
#: screen, a student's laptop): a few tabs are plenty, and each tab is two processes (the app
#: and its engine) with their own sockets.
MAX_TABS = 8

#: Seconds a closing handshake may wait for a browser that no longer answers.
WEBSOCKET_CLOSE_TIMEOUT = 2.0


class SockvizServer(Server):
    """textual-serve's Server with access checks, a cap on tabs, and apps that end."""

    def __init__(
        self,
        argv: Sequence[str],
        host: str,
        port: int,
        max_tabs: int = MAX_TABS,
        access: Access | None = None,
    ) -> None:
        super().__init__(
            shlex.join(argv),
            host=host,
            port=port,
            title="sockviz",
            public_url=server_url(host, port),
        )
        self.argv = list(argv)
        self.max_tabs = max_tabs
        self.access = access if access is not None else Access(host, port)
        self.tabs: set[TabApp] = set()
        """Tabs whose app may still be running: a slot is free once its app has ended."""
        self._exiting = False

    def initialize_logging(self) -> None:
        """One plain line per event on stderr. (textual-serve logs through Rich, with
        tracebacks that show every local variable: a malformed message from a browser
        printed ~130 lines.) Nothing is logged per request."""
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(_OneLine())
        # (aiohttp's own loggers too: a request it cannot parse was a traceback on stderr)
        for logger, level in ((log, logging.INFO), (logging.getLogger("aiohttp"), logging.WARNING)):
            logger.handlers[:] = [handler]
            logger.propagate = False
            logger.setLevel(logging.DEBUG if self.debug else level)

    async def on_startup(self, app: web.Application) -> None:
        """(The command line has said where it serves; textual-serve's banner would name
        the address bound, which for 0.0.0.0 is no address to open.)"""

    async def _make_app(self) -> web.Application:
        app = await super()._make_app()
        app.middlewares.append(self._guard)
        # The page's WebSocket URL carries the token in its path: textual-serve's script
        # appends a query of its own to the URL it is given.
        app.router.add_get("/ws/{token}", self.handle_websocket)
        app.router.add_get(serve_page.FONT_PATH + "/{name}", self.handle_font)
        return app

    @web.middleware
    async def _guard(self, request: web.Request, handler) -> web.StreamResponse:
        """Every request, before any handler: named by one of the server's own addresses,
        and bound beyond loopback, carrying the token (query, ``/ws/TOKEN``, or the cookie
        the first good page request left)."""
        access = self.access
        if not access.host_ok(request.headers.get("Host")):
            log.warning(
                "refused a request: Host %s is not an address this server listens on",
                inert(request.headers.get("Host", "(none)"), 200),
            )
            return _refused(
                f"refused: open {access.urls()[0]}"
                if access.token is None
                else "refused: not an address this server listens on"
            )
        token = request.match_info.get("token") or request.query.get("token")
        from_cookie = token is None
        if from_cookie:
            token = request.cookies.get(access.cookie)
        if not access.token_ok(token):
            return _refused("refused: open the URL with the token that sockviz --serve printed")
        response = await handler(request)
        if access.token is not None and not from_cookie and not response.prepared:
            response.set_cookie(
                access.cookie, access.token, httponly=True, samesite="Strict", path="/"
            )
        return response

    async def handle_index(self, request: web.Request) -> web.StreamResponse:
        """The page (:mod:`sockviz.serve_page`), pointing at the address the browser used
        (the guard has checked it is this server's), with the token passed on to its
        WebSocket, at the text size ``?fontsize=`` asks for."""
        host = request.headers["Host"]
        token = self.access.token
        text = serve_page.page(
            f"ws://{host}/ws" + (f"/{token}" if token else ""),
            serve_page.font_size(request.query.get("fontsize")),
        )
        return web.Response(text=text, content_type="text/html", charset="utf-8")

    async def handle_font(self, request: web.Request) -> web.StreamResponse:
        """One of the bundled fonts the page draws with; 404 for any other name."""
        path = serve_page.FONT_FILES.get(request.match_info["name"])
        if path is None:
            return web.Response(status=404, text="sockviz --serve: no such font\n")
        return web.FileResponse(path, headers={"Content-Type": "font/ttf"})

    def _refusal(self, request: web.Request) -> web.Response | None:
        """Why this upgrade may not start an app, as the HTTP answer; None if it may."""
        origin = request.headers.get("Origin")
        if not self.access.origin_ok(origin):
            log.warning(
                "refused a tab: Origin %s is not this server's page",
                inert(origin if origin is not None else "(none)", 200),
            )
            return _refused("refused: only a page opened from this server may start a tab")
        if self._exiting:
            return web.Response(status=503, text="sockviz --serve: shutting down\n")
        if len(self.tabs) >= self.max_tabs:
            log.warning("refused a tab: %d tabs are running, the most at once", self.max_tabs)
            return web.Response(
                status=503,
                text=(
                    f"sockviz --serve: {self.max_tabs} tabs are open, the most it runs at once; "
                    "close one and reload this page\n"
                ),
            )
        return None

    async def handle_websocket(  # type: ignore[override]  # (a refusal is plain HTTP)
        self, request: web.Request
    ) -> web.StreamResponse:
        """One tab: checked, counted, its app started, and ended whichever side goes first."""
        refusal = self._refusal(request)
        if refusal is not None:
            return refusal
        websocket = web.WebSocketResponse(heartbeat=15, timeout=WEBSOCKET_CLOSE_TIMEOUT)
        if not websocket.can_prepare(request).ok:  # (else prepare() raises, twice)
            return web.Response(status=400, text="sockviz --serve: not a WebSocket handshake\n")
        tab = TabApp(
            self.argv,
            ended=self.tabs.discard,
            write_bytes=websocket.send_bytes,
            write_str=websocket.send_str,
            close=websocket.close,
            download_manager=self.download_manager,
            debug=self.debug,
        )
        self.tabs.add(tab)  # the slot is taken before the first await: no race past the cap
        try:
            await websocket.prepare(request)
            await tab.start(*_size(request.query.get("width"), request.query.get("height")))
            browser = asyncio.ensure_future(self._process_messages(websocket, tab))
            relay = tab.output  # (set by start(): the app's output to the browser)
            either = {browser} if relay is None else {browser, relay}
            try:
                done, _ = await asyncio.wait(either, return_when=asyncio.FIRST_COMPLETED)
            finally:
                browser.cancel()
            failure = browser.exception() if browser in done else None
            if failure is not None:
                raise failure
        except (ConnectionAbortedError, ConnectionResetError):
            pass
        except Exception as exc:  # (one tab's trouble is logged, not the server's end)
            log.error("a tab failed: %s", inert(f"{type(exc).__name__}: {exc}", 300))
        finally:
            await tab.stop()
            if websocket.prepared and not websocket.closed:
                await websocket.close()
        return websocket

    async def _process_messages(self, websocket: web.WebSocketResponse, tab: AppService) -> None:
        """The browser's messages to its tab (textual-serve's, each checked first). One
        that is not what textual-serve's page sends closes the tab, in one line: the page
        never sends one, so whoever did is not the page."""
        async for message in websocket:
            if message.type != WSMsgType.TEXT:
                continue
            try:
                kind, data = _message(message.data)
            except ValueError as exc:
                log.warning("closed a tab: it sent %s", exc)
                await websocket.close(
                    code=WSCloseCode.UNSUPPORTED_DATA, message=b"not a textual-serve message"
                )
                return
            if kind == "stdin" and isinstance(data, bytes):
                await tab.send_bytes(data)
            elif kind == "resize" and isinstance(data, tuple):
                await tab.set_terminal_size(*data)
            elif kind == "ping":
                await websocket.send_json(["pong", data])
            elif kind == "blur":
                await tab.blur()
            elif kind == "focus":
                await tab.focus()

    def request_exit(self) -> None:
        """SIGTERM or SIGINT: every tab's app begins to end now; the server stops accepting
        and waits for them in :meth:`on_shutdown`. A second signal kills them at once."""
        if self._exiting:
            for tab in list(self.tabs):
                tab.kill_now()
            return
        self._exiting = True
        for tab in list(self.tabs):
            tab.end()
        raise GracefulExit()

    async def on_shutdown(self, app: web.Application) -> None:
        # aiohttp runs this before it waits for (up to a minute) or cancels the handlers.
        endings = [tab.end() for tab in list(self.tabs)]
        if endings:
            await asyncio.wait(endings)

    def serve(self, debug: bool = False) -> None:
        try:
            super().serve(debug)
        finally:  # however the event loop ended, no tab's app outlives the server
            for tab in list(self.tabs):
                tab.kill_now()


class _OneLine(logging.Formatter):
    """A log record as one line: its message, and its exception's type and words, never a
    traceback (what a browser or a stranger sent is not this program's fault)."""

    def format(self, record: logging.LogRecord) -> str:
        text = record.getMessage()
        if record.exc_info and record.exc_info[1] is not None:
            error = record.exc_info[1]
            text += f": {type(error).__name__}: {error}"
        return "sockviz --serve: " + inert(" ".join(text.split()), 400)


def _refused(reason: str) -> web.Response:
    """403, with a one-line body saying why."""
    return web.Response(status=403, text=f"sockviz --serve: {reason}\n")


def _size(width: object, height: object) -> tuple[int, int]:
    """A terminal size a tab asked for, as whole columns and rows within :data:`MAX_SIZE`."""
    return (
        max(1, min(to_int(str(width), 80), MAX_SIZE[0])),
        max(1, min(to_int(str(height), 24), MAX_SIZE[1])),
    )


def _message(text: str) -> tuple[str, object]:
    """(kind, data) of one of textual-serve's page's messages (``["stdin", "q"]``,
    ``["resize", {"width": 80, "height": 24}]``, ``["ping", ...]``, ``["blur"]``...);
    ValueError saying what is wrong otherwise. Kinds it does not know pass, as in
    textual-serve, with no data."""
    try:
        envelope = json.loads(text)
    except ValueError:
        raise ValueError(f"a message that is not JSON ({len(text)} characters)") from None
    if not isinstance(envelope, list) or not envelope or not isinstance(envelope[0], str):
        raise ValueError("a message that is not a list starting with its kind")
    kind, data = envelope[0], envelope[1] if len(envelope) > 1 else None
    if kind == "stdin":
        if not isinstance(data, str):
            raise ValueError("a 'stdin' message without text")
        try:
            return kind, data.encode("utf-8")
        except UnicodeEncodeError:  # (a lone surrogate: "\ud800" is valid JSON)
            raise ValueError("a 'stdin' message with text that is not Unicode") from None
    if kind == "resize":
        size = data if isinstance(data, dict) else {}
        width, height = size.get("width"), size.get("height")
        if not all(type(n) is int and n > 0 for n in (width, height)):
            raise ValueError("a 'resize' message without a width and height")
        return kind, _size(width, height)
    if kind == "ping":
        return kind, data
    return kind, None
