"""Reading a file the user named: a regular file, of bounded size, without blocking.

``--replay`` and ``--scenario`` take a path, and a path can name ``/dev/zero`` (endless),
a FIFO (``open`` blocks until a writer comes), a directory or a file of gigabytes. Each is
refused here with a plain reason before any of it is read into memory. Standard library
only.
"""

from __future__ import annotations

import errno
import io
import os
import stat


class NotReadable(ValueError):
    """The path names something that is not a file sockviz will read; says why."""


def read_bounded(path: str, cap: int, what: str = "file") -> bytes:
    """The whole of the regular file at ``path``, if it holds at most ``cap`` bytes.

    :class:`NotReadable` for anything else (a device, a FIFO, a directory, a file too big);
    OSError when it cannot be opened at all (missing, no permission).
    """
    # O_NONBLOCK: opening a FIFO for reading would wait for a writer; with it, open
    # returns at once and fstat tells what it is.
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | getattr(os, "O_CLOEXEC", 0))
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            kind = (
                "a folder"
                if stat.S_ISDIR(info.st_mode)
                else "a FIFO"
                if stat.S_ISFIFO(info.st_mode)
                else "a device"
                if stat.S_ISCHR(info.st_mode) or stat.S_ISBLK(info.st_mode)
                else "a socket"
                if stat.S_ISSOCK(info.st_mode)
                else "not a regular file"
            )
            raise NotReadable(f"{kind}, not a {what}")
        if info.st_size > cap:
            raise NotReadable(
                f"{info.st_size:,} bytes: larger than any {what} sockviz reads (at most {cap:,})"
            )
        chunks, total = [], 0
        while total <= cap:  # (the file may grow while it is read: never past the cap)
            chunk = os.read(fd, min(1 << 20, cap + 1 - total))
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
        if total > cap:
            raise NotReadable(f"larger than any {what} sockviz reads (at most {cap:,} bytes)")
        return b"".join(chunks)
    finally:
        os.close(fd)


def create(path: str, replace: bool = False) -> io.TextIOWrapper:
    """A new file at ``path`` for writing text, never through a symlink.

    Without ``replace`` it must not exist yet (``O_EXCL``: FileExistsError, even for a
    dangling symlink planted there, whose target would otherwise be created); with it an
    existing regular file is emptied, but a symlink is still refused (ELOOP). Either way
    no other file than the one named is ever touched.
    """
    flags = (
        os.O_WRONLY
        | os.O_CREAT
        | os.O_NONBLOCK  # (a FIFO there: ENXIO, not a wait)
        | getattr(os, "O_NOFOLLOW", 0)
        | getattr(os, "O_CLOEXEC", 0)
    )
    flags |= os.O_TRUNC if replace else os.O_EXCL
    fd = os.open(path, flags, 0o644)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(errno.EINVAL, "not a regular file", path)
        return os.fdopen(fd, "w", encoding="utf-8")
    except BaseException:
        os.close(fd)
        raise
