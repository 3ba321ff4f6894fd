"""Recordings: a run kept as JSON Lines, to be played back later without opening a socket.

A recording is the trace format (``--trace``'s lines, see :mod:`sockviz.engine.record.trace_format`)
after one header line that says what replay needs to rebuild the run's scenario::

    {"sockviz-recording": 1, "scenario": "tcp-echo", "family": "ipv4", "closer": null, "size": null}

``sockviz --record FILE`` writes one (with ``--trace``, or from the TUI: the run on screen);
``sockviz --replay FILE`` plays it back through a
:class:`~sockviz.engine.run.replay_runner.ReplayRunner` - in the TUI with every control, or with
``--trace`` printing the same events. Every event in it stood for a real call once.
"""

from __future__ import annotations

import io
import threading
from dataclasses import dataclass

from sockviz.engine.events import CallEvent, Event, KernelEvent, LinkEvent, Segment, TcpSettings
from sockviz.engine.record.trace_format import TraceEvent, TraceFormatError, read_trace, to_line
from sockviz.engine.record.user_files import NotReadable, create, read_bounded

#: The largest recording read: a classroom run takes a few KB; a long multi-client one,
#: with every kernel change, well under this.
MAX_BYTES = 32 << 20

#: The header's key, and the format's version.
HEADER_KEY = "sockviz-recording"
FORMAT = 1


class RecordingError(ValueError):
    """A file that is not a whole recording: says which line and what was expected."""

    def __init__(self, path: str, line: int, reason: str) -> None:
        self.path, self.line, self.reason = path, line, reason
        super().__init__(f"{path}, line {line}: {reason}")


@dataclass(frozen=True)
class Recording:
    """What a recording holds: the run's scenario and options, and its trace events."""

    scenario: str
    family: str
    closer: str | None
    size: int | None
    events: list[TraceEvent]


def header(scenario: str, family: str, closer: str | None = None, size: int | None = None) -> str:
    import json  # (here: only --record writes a header, and the TUI's first frame needs no json)

    return json.dumps(
        {
            HEADER_KEY: FORMAT,
            "scenario": scenario,
            "family": family,
            "closer": closer,
            "size": size,
        },
        separators=(", ", ": "),
    )


class Recorder:
    """A consumer that writes a run to a file: the header, then each trace event's line.

    Opening the file may raise OSError (the caller says so to the user): FileExistsError
    when it exists and ``replace`` is not given. Lines are written
    as the events come, from whichever thread emits them; :meth:`close` flushes and closes.
    """

    def __init__(
        self,
        path: str,
        scenario: str,
        family: str,
        closer: str | None = None,
        size: int | None = None,
        replace: bool = False,
    ) -> None:
        self.path = path
        self._file: io.TextIOWrapper | None = create(
            path, replace
        )  # (never through a symlink; see create)
        self._lock = threading.Lock()
        self.failed: OSError | None = None
        self._file.write(header(scenario, family, closer, size) + "\n")

    def __call__(self, event: Event) -> None:
        if (
            not isinstance(event, (CallEvent, KernelEvent, Segment, LinkEvent, TcpSettings))
            or self._file is None
        ):
            return
        with self._lock:
            try:
                if self._file is not None:
                    self._file.write(to_line(event) + "\n")
            except OSError as exc:  # a full disk must not stop the run: say so at the end
                self.failed = exc

    def close(self) -> None:
        with self._lock:
            file, self._file = self._file, None
        if file is not None:
            try:
                file.close()
            except OSError as exc:
                self.failed = exc


def read_recording(path: str) -> Recording:
    """Read a recording; :class:`RecordingError` naming the line for anything else
    (OSError if the file cannot be read at all)."""
    # (here: the field checks cost ~10 ms of import that only a replay pays)
    from sockviz.engine.record.field_checks import loads

    try:
        raw = read_bounded(path, MAX_BYTES, "recording")
    except NotReadable as exc:
        raise RecordingError(path, 1, str(exc)) from None
    lines = raw.decode("utf-8", errors="replace").split("\n")
    if lines and not lines[-1]:
        lines.pop()  # (the newline that ends the last line)
    if not lines or not lines[0].strip():
        raise RecordingError(path, 1, "empty: expected a sockviz recording's header line")
    try:
        head = loads(lines[0])
    except (ValueError, RecursionError):
        head = None
    if not isinstance(head, dict) or HEADER_KEY not in head:
        raise RecordingError(
            path,
            1,
            f'expected the header {{"{HEADER_KEY}": {FORMAT}, '
            '"scenario": ...} that sockviz --record writes',
        )
    if type(head[HEADER_KEY]) is not int or head[HEADER_KEY] != FORMAT:
        raise RecordingError(
            path, 1, f"format {repr(head[HEADER_KEY])[:40]}; this sockviz reads {FORMAT}"
        )
    scenario, family = head.get("scenario"), head.get("family")
    if not isinstance(scenario, str) or not 0 < len(scenario) <= 4096:
        raise RecordingError(path, 1, "the header's scenario is not a scenario's name or file")
    if family not in ("ipv4", "ipv6", "unix"):
        raise RecordingError(
            path, 1, f"the header's family is {family!r}: expected ipv4, ipv6 or unix"
        )
    closer, size = head.get("closer"), head.get("size")
    if closer not in (None, "client", "server"):
        raise RecordingError(
            path, 1, f"the header's closer is {closer!r}: expected client, server or null"
        )
    if size is not None and (type(size) is not int or not 1 <= size <= 1 << 50):
        raise RecordingError(
            path, 1, f"the header's size is {size!r}: expected a number of bytes or null"
        )
    try:
        events = read_trace(lines[1:])
    except TraceFormatError as exc:
        reason = exc.reason
        if "column" in reason:  # json's own words count from this line's start: say it plainly
            reason = f"expected one whole JSON object (the file may have been cut short): {reason}"
        raise RecordingError(path, exc.line_number + 1, reason) from None
    if not events:
        raise RecordingError(path, len(lines) + 1, "no events after the header: nothing to play")
    return Recording(scenario=scenario, family=family, closer=closer, size=size, events=events)
