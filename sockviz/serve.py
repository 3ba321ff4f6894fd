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

* a WebSocket upgrade whose ``Origin`` is not sockviz's own page is refused with 403 before
  any process starts (:func:`allowed_origins`);
* at most :data:`MAX_TABS` tab apps run at once; one more is refused with 503;
* each tab's app runs in a session of its own and is ended as a group (quit, then SIGTERM,
  then SIGKILL, each after a short wait) when its WebSocket closes, when the app's output
  ends, and for every tab when the server gets SIGTERM or SIGINT.

Written against textual-serve 1.1.x: :class:`TabApp` replaces ``AppService``'s process start
and stop, :class:`SockvizServer` its WebSocket handler and exit request.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import os
import shlex
import signal
from collections.abc import Callable, Sequence

from aiohttp import web
from aiohttp.web_runner import GracefulExit
from textual_serve.app_service import AppService
from textual_serve.server import Server, to_int

from sockviz.engine.inert import inert

log = logging.getLogger("textual-serve")

#: Tab apps running at once, at most. ``--serve`` is for one machine's browser (a teacher's
#: screen, a student's laptop): a few tabs are plenty, and each tab is two processes (the app
#: and its engine) with their own sockets.
MAX_TABS = 8

#: Seconds a tab's app has to quit when asked, and then to end after SIGTERM, before the
#: next, harder step. Quitting normally takes a fraction of a second (the app closes its
#: engine first); the two waits bound a server's shutdown to about two seconds.
QUIT_GRACE = 1.0
TERM_GRACE = 1.0

#: Seconds a closing handshake may wait for a browser that no longer answers.
WEBSOCKET_CLOSE_TIMEOUT = 2.0

_LOOPBACK_ORIGIN_HOSTS = ("127.0.0.1", "localhost", "[::1]")


def url_host(host: str) -> str:
    """``host`` as it goes in a URL: an IPv6 literal needs brackets (RFC 3986), or its
    colons would read as a port: ``http://::1:8767`` is no address at all."""
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


def server_url(host: str, port: int) -> str:
    return f"http://{url_host(host)}:{port}"


def _address(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


def is_loopback(host: str) -> bool:
    """Whether serving on ``host`` reaches this machine only."""
    address = _address(host)
    return host.lower() == "localhost" if address is None else address.is_loopback


def _is_wildcard(host: str) -> bool:
    address = _address(host)
    return host == "" or (address is not None and address.is_unspecified)


def allowed_origins(host: str, port: int) -> frozenset[str]:
    """The ``Origin`` values of pages that may open a tab: sockviz's own page, at the address
    served. On loopback (or every address, which includes loopback) the same page may have
    been opened as 127.0.0.1, localhost or [::1]; anything listening on those is this
    machine's already. Browsers write an origin in lower case and leave out port 80."""
    hosts = {url_host(host.lower())}
    if is_loopback(host) or _is_wildcard(host):
        hosts.update(_LOOPBACK_ORIGIN_HOSTS)
    ports = (f":{port}", "") if port == 80 else (f":{port}",)
    return frozenset(f"http://{name}{suffix}" for name in hosts for suffix in ports)


def _signal_group(pgid: int, signum: int) -> None:
    try:
        os.killpg(pgid, signum)
    except (ProcessLookupError, PermissionError):
        pass  # the group has ended (or its id is no longer ours to signal)


class TabApp(AppService):
    """One tab's sockviz: started in a session of its own, and certain to end.

    A session of its own makes the app and the engine process it starts one process group,
    which one signal ends together; it also keeps a Ctrl+C at the server's terminal from
    reaching the apps before the server has decided how to end them. The process is started
    from the argument list (no shell in between), so the signals reach sockviz itself.
    """

    def __init__(self, argv: Sequence[str], *, ended: Callable[[TabApp], None],
                 **kwargs) -> None:
        super().__init__(shlex.join(argv), **kwargs)
        self.argv = list(argv)
        self._ended = ended
        self._starting: asyncio.Future[None] | None = None
        self._ending: asyncio.Task[None] | None = None

    @property
    def pid(self) -> int | None:
        return None if self._process is None else self._process.pid

    @property
    def output(self) -> asyncio.Task[None] | None:
        """The task that relays the app's output; it finishes when the app's stdout closes."""
        return self._task

    async def _open_app_process(self, width: int = 80, height: int = 24):
        pipe = asyncio.subprocess.PIPE
        self._process = process = await asyncio.create_subprocess_exec(
            *self.argv, stdin=pipe, stdout=pipe, stderr=pipe,
            env=self._build_environment(width=width, height=height), start_new_session=True,
        )
        self._stdin = process.stdin
        return process

    async def start(self, width: int, height: int) -> None:
        # A tab the server has already begun to end (it is shutting down) starts nothing.
        if self._ending is not None:
            raise ConnectionAbortedError("the server is shutting down")
        self._starting = asyncio.get_running_loop().create_future()
        try:
            await super().start(width, height)
        finally:
            self._starting.set_result(None)

    def end(self) -> asyncio.Task[None]:
        """Begin ending the app (once, however many ask); the task finishes when it has."""
        if self._ending is None:
            self._ending = asyncio.ensure_future(self._end())
            self._ending.add_done_callback(lambda _: self._ended(self))
        return self._ending

    async def stop(self) -> None:
        # Shielded: a handler cancelled while it waits must not cancel the ending itself.
        await asyncio.shield(self.end())

    async def _end(self) -> None:
        if self._starting is not None:
            await self._starting  # a process being started is ended once it exists
        process = self._process
        if process is None:
            return
        try:
            await self._download_manager.cancel_app_downloads(
                app_service_id=self.app_service_id)
        except Exception:  # (the process ends whatever the downloads do)
            log.exception("cancelling a tab's downloads")
        if process.returncode is None:
            await self.send_meta({"type": "quit"})  # False if its stdin is gone: no matter
        for signum, grace in ((None, QUIT_GRACE), (signal.SIGTERM, TERM_GRACE),
                              (signal.SIGKILL, None)):
            if signum is not None:
                _signal_group(process.pid, signum)
            try:
                await asyncio.wait_for(process.wait(), grace)
                break
            except TimeoutError:
                continue
        # The app is gone; an engine it had no time to end would be its group's last member.
        _signal_group(process.pid, signal.SIGKILL)
        if self._task is not None:
            try:
                await asyncio.wait_for(self._task, TERM_GRACE)
            except TimeoutError:
                pass  # wait_for has cancelled the relay
            self._task = None

    def kill_now(self) -> None:
        """No more waiting (a second Ctrl+C, or the event loop is gone)."""
        if self._process is not None and self._process.returncode is None:
            _signal_group(self._process.pid, signal.SIGKILL)


class SockvizServer(Server):
    """textual-serve's Server with an Origin check, a cap on tabs, and apps that end."""

    def __init__(self, argv: Sequence[str], host: str, port: int,
                 max_tabs: int = MAX_TABS) -> None:
        super().__init__(shlex.join(argv), host=host, port=port, title="sockviz",
                         public_url=server_url(host, port))
        self.argv = list(argv)
        self.max_tabs = max_tabs
        self.origins = allowed_origins(host, port)
        self.tabs: set[TabApp] = set()
        """Tabs whose app may still be running: a slot is free once its app has ended."""
        self._exiting = False

    def _refusal(self, request: web.Request) -> web.Response | None:
        """Why this upgrade may not start an app, as the HTTP answer; None if it may.

        A missing Origin is refused too: every browser sends one with a WebSocket upgrade,
        so only a non-browser client lacks it, and such a client can send the right one.
        Refusing keeps the rule one line long, with no case where a page gets in."""
        origin = request.headers.get("Origin")
        if origin is None or origin.lower() not in self.origins:
            log.warning("refused a tab: Origin %s is not this server's page",
                        inert(origin if origin is not None else "(none)", 200))
            return web.Response(status=403, text=(
                f"sockviz --serve: refused: only a page opened from {self.public_url} may "
                "start a tab\n"))
        if self._exiting:
            return web.Response(status=503, text="sockviz --serve: shutting down\n")
        if len(self.tabs) >= self.max_tabs:
            log.warning("refused a tab: %d tabs are running, the most at once", self.max_tabs)
            return web.Response(status=503, text=(
                f"sockviz --serve: {self.max_tabs} tabs are open, the most it runs at once; "
                "close one and reload this page\n"))
        return None

    async def handle_websocket(self, request: web.Request) -> web.StreamResponse:
        """One tab: checked, counted, its app started, and ended whichever side goes first."""
        refusal = self._refusal(request)
        if refusal is not None:
            return refusal
        websocket = web.WebSocketResponse(heartbeat=15, timeout=WEBSOCKET_CLOSE_TIMEOUT)
        tab = TabApp(self.argv, ended=self.tabs.discard, write_bytes=websocket.send_bytes,
                     write_str=websocket.send_str, close=websocket.close,
                     download_manager=self.download_manager, debug=self.debug)
        self.tabs.add(tab)  # the slot is taken before the first await: no race past the cap
        try:
            await websocket.prepare(request)
            await tab.start(to_int(request.query.get("width", "80"), 80),
                            to_int(request.query.get("height", "24"), 24))
            browser = asyncio.ensure_future(self._process_messages(websocket, tab))
            try:
                done, _ = await asyncio.wait({browser, tab.output},
                                             return_when=asyncio.FIRST_COMPLETED)
            finally:
                browser.cancel()
            if browser in done and browser.exception() is not None:
                raise browser.exception()  # a message textual-serve could not read
        except (ConnectionAbortedError, ConnectionResetError):
            pass
        except Exception:  # (one tab's trouble is logged, not the server's end)
            log.exception("a tab failed")
        finally:
            await tab.stop()
            if websocket.prepared and not websocket.closed:
                await websocket.close()
        return websocket

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
