"""One browser tab's sockviz for ``--serve``: the app process textual-serve starts for a
WebSocket, started in a session of its own and certain to end.

Apart from :mod:`sockviz.serve` (the server: who may open a tab, how many, the page and its
messages) because how a tab's process starts, relays its output and ends - quit, then
SIGTERM, then SIGKILL to its process group - is a subject of its own, and the server
module grew past what one reads at a sitting. Written against textual-serve 1.1.x.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shlex
import signal
from collections.abc import Callable, Sequence

from textual_serve.app_service import AppService

from sockviz.engine.record.inert_text import inert
from sockviz.engine.run.parent_watch import PARENT_ENV

log = logging.getLogger("textual-serve")

#: The tab app's Textual driver: Textual's web driver, made to end with the server.
TAB_DRIVER = "sockviz.app.terminal:WebTabDriver"

#: Seconds a tab's app has to quit when asked, and then to end after SIGTERM, before the
#: next, harder step. Quitting normally takes a fraction of a second (the app closes its
#: engine first); the two waits bound a server's shutdown to about two seconds.
QUIT_GRACE = 1.0
TERM_GRACE = 1.0


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

    def __init__(self, argv: Sequence[str], *, ended: Callable[[TabApp], None], **kwargs) -> None:
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
        env = self._build_environment(width=width, height=height)
        env["TEXTUAL_DRIVER"] = TAB_DRIVER
        env[PARENT_ENV] = str(os.getpid())  # (the app ends with this server, however it dies)
        self._process = process = await asyncio.create_subprocess_exec(
            *self.argv,
            stdin=pipe,
            stdout=pipe,
            stderr=pipe,
            env=env,
            start_new_session=True,
        )
        self._stdin = process.stdin
        return process

    async def run(self) -> None:
        """Relay the app's output to the browser until it ends (textual-serve's loop, but
        for what the app wrote on stderr: textual-serve copied all of it, a traceback
        too, onto the server's console, and said "failed to start" of an app it had
        ended itself). Here an app that ends by itself, unstarted or failing, is one line
        with its last line of stderr; an app the server ended is nothing."""
        process = self._process
        if process is None or process.stdout is None or process.stderr is None:
            return  # (never: start() has made the process, with its pipes)
        stdout, stderr = process.stdout, process.stderr
        tail = bytearray()

        async def read_stderr() -> None:
            while data := await stderr.read(4096):
                tail.extend(data)
                del tail[:-4096]

        stderr_task = asyncio.ensure_future(read_stderr())
        started = False
        try:
            for _ in range(10):  # (the app's prelude, before its first packet)
                line = await stdout.readline()
                if not line or line == b"__GANGLION__\n":
                    started = bool(line)
                    break
            handlers = {b"D": self.on_data, b"M": self.on_meta, b"P": self.on_packed}
            while started:
                kind = await stdout.readexactly(1)
                payload = await stdout.readexactly(
                    int.from_bytes(await stdout.readexactly(4), "big")
                )
                if kind in handlers:
                    await handlers[kind](payload)
        except (asyncio.IncompleteReadError, ConnectionResetError, asyncio.CancelledError):
            pass
        except Exception as exc:  # (a packet the relay could not pass on: the tab ends)
            log.error("a tab's output could not be relayed: %s", inert(exc, 200))
        finally:
            stderr_task.cancel()
            await asyncio.gather(stderr_task, return_exceptions=True)
        if self._ending is None:  # it ended by itself
            try:
                status = await asyncio.wait_for(process.wait(), QUIT_GRACE)
            except TimeoutError:
                status = None
            lines = bytes(tail).decode("utf-8", "replace").strip().splitlines()
            if not started or (status and lines):
                log.error(
                    "a tab's app %s: %s",
                    "did not start" if not started else f"ended with status {status}",
                    inert(lines[-1] if lines else "(it said nothing)", 300),
                )

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
            await self._download_manager.cancel_app_downloads(app_service_id=self.app_service_id)
        except Exception:  # (the process ends whatever the downloads do)
            log.exception("cancelling a tab's downloads")
        if process.returncode is None:
            await self.send_meta({"type": "quit"})  # False if its stdin is gone: no matter
        for signum, grace in (
            (None, QUIT_GRACE),
            (signal.SIGTERM, TERM_GRACE),
            (signal.SIGKILL, None),
        ):
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
