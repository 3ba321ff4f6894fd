"""The terminal driver: Textual's Linux driver, made to notice a terminal that has gone away.

When the terminal goes (a closed window, ``tmux kill-session``, a dropped ssh link), the
pseudo-terminal is hung up: reading it gives end-of-file or EIO, writing it gives EIO, and
its session leader (usually the app) gets SIGHUP and SIGCONT. Textual 8.2.8 copes with
none of that, and the app never ended:

* its writer thread dies of the first EIO; the queue it drained (30 writes) fills, and the
  next write - at the latest ``WriterThread.stop`` putting its ``None`` during shutdown -
  waits forever for a reader that is gone, with the event loop (and so every signal
  handler) stuck behind it;
* its input thread spins on end-of-file (a tight select/read loop: the CPU it kept using),
  or on EIO panics the app (a traceback, exit status 1, no clean quit);
* its SIGCONT handler resumes application mode whether or not it was ever suspended, so
  the hang-up's SIGCONT starts a second writer (and input) thread on the dead terminal:
  the first is orphaned, the second dies at once.

:class:`TerminalDriver` keeps Textual's driver and changes only those edges: output that
cannot be written is dropped (the writer lives on, so no write and no stop can block);
EIO on either side, or POLLHUP on the terminal (its end-of-file, which select() cannot
tell from input), marks the terminal gone once: the input thread is stopped and
:class:`TerminalGone` posted, which the app answers as it answers SIGHUP (quit as q does:
sockets and engine process closed). SIGCONT resumes only what SIGTSTP suspended. The
hook names are Textual 8.2.8's (pinned); tests/app/test_terminal_gone.py fails if they
drift.

A ``--serve`` tab's terminal is two pipes to the server: :class:`WebTabDriver` (Textual's
web driver) answers the same way when they end or the server process is gone.

Two more edges of the terminal live here: :class:`QuitSignals` (SIGTERM, SIGHUP and SIGINT
quit as q does, while the app runs) and :class:`TerminalTitle` (the window's title, given
back as it was).
"""

from __future__ import annotations

import asyncio
import errno
import os
import select
import signal
import sys
import threading
from collections.abc import Callable
from typing import IO, Any, cast

from textual.app import App
from textual.message import Message

from sockviz.engine.run.parent_watch import end_with_parent

#: Signals that quit the app the way q does.
QUIT_SIGNALS = ("SIGTERM", "SIGHUP", "SIGINT")

#: Errors that mean the terminal (or the pipe standing in for it) is no longer there.
GONE_ERRNOS = frozenset(
    {errno.EIO, errno.ENXIO, errno.ENODEV, errno.EPIPE, errno.EBADF, errno.ECONNRESET}
)

#: Whether to watch for POLLHUP: Linux's poll() works on terminals; macOS's reports
#: POLLNVAL for every terminal, which would read as a terminal gone from the start.
WATCH_HANGUP = sys.platform.startswith("linux")


class TerminalGone(Message):
    """The app's terminal has gone away: nothing drawn can be seen, no key will come."""

    def __init__(self, reason: str) -> None:
        super().__init__()
        self.reason = reason
        """What showed it: ``"the terminal hung up"``, ``"writing the terminal: ..."``."""


class _Output:
    """The file Textual's writer thread writes the screen to, until the terminal is gone.

    A write that fails does not escape into the writer thread (which would die of it and
    leave its queue to fill up); it marks the terminal gone, and from then on everything
    is dropped, so the writer keeps draining its queue and its ``stop()`` always returns.
    """

    def __init__(self, file: IO[str], on_lost: Callable[[str], None]) -> None:
        self._file = file
        self._on_lost = on_lost
        self.lost = False

    def write(self, text: str) -> None:
        if self.lost:
            return
        try:
            self._file.write(text)
        except OSError as error:
            self._lose(error)

    def flush(self) -> None:
        if self.lost:
            return
        try:
            self._file.flush()
        except OSError as error:
            self._lose(error)

    def fileno(self) -> int:
        return self._file.fileno()

    def _lose(self, error: OSError) -> None:
        # Any write error, not only GONE_ERRNOS: the screen cannot be drawn either way, and
        # an error let through would kill the writer and hang the app as above.
        self.lost = True
        self._on_lost(f"writing the terminal: {error.strerror or error}")


class _HangupWatch(threading.Thread):
    """Waits, without polling, for the terminal to hang up, or to be told to stop.

    Textual reads input with select(), which cannot tell a hang-up from input: a hung-up
    terminal is "readable" forever and every read is empty. poll() with no events asked
    for reports only POLLHUP/POLLERR/POLLNVAL, so this thread sleeps until the terminal
    goes (even when nothing is being drawn or typed) or its wake-up pipe is written.
    """

    def __init__(self, fds: list[int], on_gone: Callable[[str], None]) -> None:
        super().__init__(name="terminal-watch", daemon=True)
        self._fds = fds
        self._on_gone = on_gone
        self._wake_read, self._wake_write = os.pipe()

    def run(self) -> None:
        # poll() reports these whether asked for or not: a hang-up, or an fd gone dead.
        hangup = select.POLLHUP | select.POLLERR | select.POLLNVAL
        poller = select.poll()
        for fd in self._fds:
            poller.register(fd, 0)
        poller.register(self._wake_read, select.POLLIN)
        try:
            while True:
                for fd, mask in poller.poll():
                    if fd == self._wake_read:
                        return
                    if mask & hangup:
                        self._on_gone("the terminal hung up")
                        return
        finally:
            os.close(self._wake_read)

    def stop(self, timeout: float = 0.5) -> None:
        try:
            os.write(self._wake_write, b"x")
        except OSError:  # it has ended already (it saw the hang-up): nobody reads the pipe
            pass
        os.close(self._wake_write)
        self.join(timeout)


def _is_tty(fd: int) -> bool:
    try:
        return os.isatty(fd)
    except OSError:
        return False


try:
    from textual.drivers.linux_driver import LinuxDriver
except ImportError:  # Windows: no termios; Textual's own driver is used there
    LinuxDriver = None  # type: ignore[assignment,misc]


if LinuxDriver is not None:

    class TerminalDriver(LinuxDriver):
        """Textual's Linux driver that ends quietly, and lets the app end, when the
        terminal goes (see the module docstring)."""

        def __init__(self, *args, **kwargs) -> None:
            super().__init__(*args, **kwargs)
            self._gone_lock = threading.Lock()
            self.gone: str | None = None
            """Why the terminal is known to be gone (None while it is there)."""
            self._output = _Output(cast(IO[str], self._file), self._terminal_gone)
            # (Textual's writer thread writes to _file: the wrapper stands in for it)
            self._file = self._output  # type: ignore[assignment]
            self._watch: _HangupWatch | None = None

        def start_application_mode(self) -> None:
            super().start_application_mode()
            fds = sorted({fd for fd in (self.fileno, self._output.fileno()) if _is_tty(fd)})
            if WATCH_HANGUP and fds and self.gone is None and self._watch is None:
                self._watch = _HangupWatch(fds, self._terminal_gone)
                self._watch.start()

        def close(self) -> None:
            # Called on shutdown and on suspend (Ctrl+Z); a resume starts a new watch.
            watch, self._watch = self._watch, None
            if watch is not None:
                watch.stop()
            super().close()

        def run_input_thread(self) -> None:
            """Textual's input loop; a read that fails because the terminal has gone ends
            it quietly (Textual would panic the app with a traceback nobody can see)."""
            try:
                super().run_input_thread()
            except OSError as error:
                if error.errno not in GONE_ERRNOS:
                    raise
                self._terminal_gone(f"reading the terminal: {error.strerror}")

        def _sigcont_application(self, *args) -> None:
            """Resume only what a SIGTSTP suspended. SIGCONT also comes with a hang-up (and
            from ``kill -CONT``): resuming then would start a second writer and input
            thread, on a terminal that may be gone."""
            if self._must_signal_resume and self.gone is None:
                super()._sigcont_application(*args)

        def _terminal_gone(self, reason: str) -> None:
            """Once, from whichever thread saw it first: drop all output, end the input
            thread, and tell the app (which quits as on SIGHUP)."""
            with self._gone_lock:
                if self.gone is not None:
                    return
                self.gone = reason
            self._output.lost = True
            # Textual's input loop stops when this is set (its reader would otherwise spin
            # on end-of-file until shutdown joins it).
            self.exit_event.set()
            try:
                self._app.post_message(TerminalGone(reason))
            except RuntimeError:  # the app's event loop has closed: it has ended already
                pass
else:
    TerminalDriver = None  # type: ignore[assignment,misc]


try:
    from textual.drivers.web_driver import WebDriver
except ImportError:  # (a Textual without it: --serve is then refused before it starts)
    WebDriver = None  # type: ignore[assignment,misc]


if WebDriver is not None:

    class WebTabDriver(WebDriver):
        """Textual's web driver for a ``--serve`` tab, made to end with its server.

        The tab's "terminal" is two pipes to the server. When the server dies (``kill -9``
        too), Textual's input thread reads end-of-file and just stops: the app ran on
        forever, unseen, with its engine and sockets. Here the end of input (or the server
        process ending, watched by :func:`~sockviz.engine.run.parent_watch.end_with_parent`) tells
        the app :class:`TerminalGone`, and it quits as on SIGHUP; output to a server that
        is gone is dropped rather than failing inside the app.
        """

        def __init__(self, *args, **kwargs) -> None:
            super().__init__(*args, **kwargs)
            self._gone_lock = threading.Lock()
            self.gone: str | None = None
            write = self._write

            def write_or_drop(data: bytes) -> None:
                if self.gone is not None:
                    return
                try:
                    write(data)
                except OSError as error:
                    self._terminal_gone(f"writing to the server: {error.strerror or error}")

            self._write = write_or_drop  # type: ignore[assignment]  # (Textual's, wrapped)
            end_with_parent(lambda: self._terminal_gone("the server has gone"))

        def run_input_thread(self) -> None:
            super().run_input_thread()
            if not self.exit_event.is_set():  # not the app stopping: the pipe ended
                self._terminal_gone("the server closed the tab's input")

        def _terminal_gone(self, reason: str) -> None:
            with self._gone_lock:
                if self.gone is not None:
                    return
                self.gone = reason
            try:
                self._app.post_message(TerminalGone(reason))
            except RuntimeError:  # the app's event loop has closed: it has ended already
                pass
else:
    WebTabDriver = None  # type: ignore[assignment,misc]

#: ``TEXTUAL_DRIVER`` for a ``--serve`` tab (textual-serve names Textual's own driver).
WEB_TAB_DRIVER = f"{__name__}:WebTabDriver"


def driver_class() -> type | None:
    """The driver for :class:`~textual.app.App`'s ``driver_class``: ours on Linux and
    macOS, None (Textual chooses) on Windows or when ``TEXTUAL_DRIVER`` names another -
    textual-serve (``--serve``) runs each tab with its web driver that way."""
    if TerminalDriver is None or os.environ.get("TEXTUAL_DRIVER"):
        return None
    return TerminalDriver


class QuitSignals:
    """SIGTERM, SIGHUP and SIGINT quit like q does: sockets closed, threads ended, terminal
    restored. The handlers are the app's only while it runs: :meth:`release` gives the
    signals back (at once when quitting starts: should quitting ever stall, a second one
    ends the process the ordinary way)."""

    def __init__(self) -> None:
        self._signals: list[int] = []

    def catch(self, quit_soon: Callable[[], None]) -> None:
        """Call ``quit_soon`` on any of them (only the main thread's loop can catch them)."""
        if threading.current_thread() is not threading.main_thread():
            return
        loop = asyncio.get_running_loop()
        for name in QUIT_SIGNALS:
            signum = getattr(signal, name, None)
            if signum is None:
                continue
            try:
                loop.add_signal_handler(signum, quit_soon)
            except (NotImplementedError, RuntimeError, ValueError):
                continue
            self._signals.append(signum)

    def release(self) -> None:
        signals, self._signals = self._signals, []
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        for signum in signals:
            loop.remove_signal_handler(signum)


class TerminalTitle:
    """The terminal window's title: set from the run on screen; the first time, the old
    title is saved (xterm's title stack), and it is given back when the app ends."""

    def __init__(self, app: App[Any]) -> None:
        self._app = app
        self._pushed = False
        self._shown: str | None = None

    def set(self, title: str) -> None:
        if title == self._shown:
            return  # (a title said again is not written again)
        if not self._pushed:
            self._pushed = self._write("\x1b[22;0t")
        if self._write(f"\x1b]2;{title}\x07"):
            self._shown = title

    def give_back(self) -> None:
        if self._pushed:
            self._write("\x1b[23;0t")

    def _write(self, sequence: str) -> bool:
        driver = getattr(self._app, "_driver", None)
        if driver is None or self._app.is_headless:
            return False
        try:
            driver.write(sequence)
            driver.flush()
        except Exception:
            return False
        return True
