"""Standard output that never loses lines silently: ``--trace``, ``--export``, ``--list``.

Python's text layer turns each failure of a write into an exception somewhere (often at
exit, as a traceback) or, caught too broadly, into silence: a full disk kept 7 of 44
lines, the last torn mid-JSON, with exit status 0. Here the bytes go to the file
descriptor directly, and each failure means one thing:

* EAGAIN (standard output is a non-blocking pipe whose reader is slow): waited out, so
  every line arrives whole;
* EPIPE (the reader went away: ``sockviz --trace | head``): the output ends quietly, the
  run goes on to its end;
* anything else (ENOSPC, EIO, EBADF ...): the output ends, and :attr:`Output.failed` keeps
  why, for the one line and exit status 1 the command ends with. On a regular file a line
  torn by it is cut back, so the file ends with the last whole line.

Standard library only, and :func:`sockviz.options.say` for that one line.
"""

from __future__ import annotations

import errno
import os
import select
import stat
import threading
from typing import TextIO

from sockviz.options import ErrorStream, say


class Output:
    """Write text to ``out`` (standard output) whole, or say why not (see the module)."""

    def __init__(self, out: TextIO | None) -> None:
        self.out = out
        self.lock = threading.Lock()
        self.failed: OSError | None = None
        """Why the output ended early (not a reader that went away): for the last line."""
        self.gone = False
        """The reader went away (EPIPE): nothing more is written, and that is no error."""
        self.fd: int | None = None
        self._rest = b""  # (what a Ctrl-C mid-write left of a line: written first, next)
        if out is None:  # (`sockviz --trace >&-`: Python has no standard output at all)
            self.failed = OSError(errno.EBADF, "standard output is closed")
            return
        try:
            self.fd = out.fileno()
            out.flush()  # (anything Python holds goes first)
        except (AttributeError, ValueError, OSError):  # (a StringIO in a test: text)
            self.fd = None

    @property
    def ended(self) -> bool:
        """Nothing more will be written."""
        return self.gone or self.failed is not None

    def isatty(self) -> bool:
        try:
            return self.out is not None and self.out.isatty()
        except (AttributeError, ValueError, OSError):
            return False

    def write(self, text: str) -> None:
        """Write ``text`` whole, waiting for a slow reader, unless the output has ended."""
        with self.lock:
            if self.ended:
                return
            if self.fd is None:
                if self.out is None:  # (never: ended above; a closed output has no fd)
                    return
                try:
                    self.out.write(text)
                except BrokenPipeError:
                    self.gone = True
                except (OSError, ValueError) as exc:
                    self.failed = (
                        exc if isinstance(exc, OSError) else OSError(errno.EBADF, str(exc))
                    )
                return
            data, self._rest = self._rest + text.encode("utf-8", "surrogateescape"), b""
            self._write_bytes(self.fd, data)

    def _write_bytes(self, fd: int, data: bytes) -> None:
        view, done = memoryview(data), 0
        try:
            while done < len(data):
                try:
                    done += os.write(fd, view[done:])
                except (BlockingIOError, InterruptedError):
                    select.select([], [fd], [], 1.0)  # (a slow reader: wait it out)
                except BrokenPipeError:
                    self.gone = True
                    return
                except OSError as exc:
                    self.failed = exc
                    self._cut_torn(fd, data[:done])
                    return
        except BaseException:  # (Ctrl-C while waiting: the rest goes first next time, so
            self._rest = bytes(view[done:])  # the trace still ends with whole lines)
            raise

    def _cut_torn(self, fd: int, written: bytes) -> None:
        """A regular file that took part of a line: cut it back to the last whole one."""
        torn = len(written) - (written.rfind(b"\n") + 1)
        if not torn:
            return
        try:
            if stat.S_ISREG(os.fstat(fd).st_mode):
                os.ftruncate(fd, os.lseek(fd, 0, os.SEEK_CUR) - torn)
        except OSError:
            pass

    def say_failed(self, err: ErrorStream, what: str) -> bool:
        """One line on ``err`` when the output ended early for a reason other than a
        reader that went away; True then (the command's exit status is 1)."""
        if self.failed is None:
            return False
        exc = self.failed
        name = errno.errorcode.get(exc.errno or 0)
        reason = (exc.strerror or str(exc)) + (f" ({name})" if name else "")
        say(err, f"error: {what} is incomplete: standard output cannot be written: {reason}")
        return True
