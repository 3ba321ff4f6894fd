"""``--trace``: a run printed as JSON Lines (or, with ``--export``, as a diagram) - a
scenario's, a recording's, or one with a real outside peer.

The run plays as fast as it goes; SIGINT and SIGTERM end it cleanly (every socket closed,
each close a line). A run that fails ends in one line on stderr that says why in the user's
terms, with exit status 2 when it is something the user can change (a port in use, a host
that does not answer) and 1 otherwise. Standard library only.
"""

from __future__ import annotations

import errno
import signal
import threading
from collections.abc import Callable
from types import FrameType
from typing import BinaryIO, TextIO, cast

from sockviz.engine.events import (
    CallEvent,
    Checked,
    Event,
    KernelEvent,
    LinkEvent,
    RunFinished,
    Segment,
    TcpSettings,
)
from sockviz.engine.families import FAMILIES, OUTSIDE_TIMEOUT
from sockviz.engine.lab.link import Link, LinkSpec
from sockviz.engine.lab.two_hosts import Hosts, NoLink
from sockviz.engine.record.recordings import Recorder
from sockviz.engine.record.trace_lines import line
from sockviz.engine.record.user_files import create
from sockviz.engine.run.event_batcher import Tee
from sockviz.engine.run.gate import Mode
from sockviz.engine.run.outside_peers import Endpoint
from sockviz.engine.run.replay_runner import ReplayRunner
from sockviz.engine.run.runner import Runner
from sockviz.engine.run.runner_protocols import EventSink
from sockviz.engine.run.runner_protocols import Runner as RunnerLike
from sockviz.engine.wire.capture import Capture, WireUnavailable
from sockviz.engine.wire.capture import write_pcap as write_frames
from sockviz.engine.wire.watch_point import Watch, decide
from sockviz.options import (
    EXIT_FAILED,
    EXIT_OK,
    EXIT_USAGE,
    ErrorStream,
    Options,
    UsageError,
    link_of,
    resolve_scenario,
    say,
    say_merged_link,
    say_missed_drops,
)
from sockviz.output import Output
from sockviz.peers import outside_runner_factory
from sockviz.view.export import FORMATS

# --- what a failure means to the user ------------------------------------------------------
#: (call, errno) -> what to say; ``None`` as the call: any call. Filled in with the port,
#: host, family and advice of the run (``--port`` for a scenario, a port for a peer's).
_FAILURES = {
    ("bind", "EADDRINUSE"): "port {port} is already in use on {host} (EADDRINUSE); pick "
    "another{with_port}, or {zero} to let the kernel choose",
    ("bind", "EACCES"): "port {port} needs special privileges (EACCES); use a port above "
    "1023, or {zero}",
    ("connect", "ECONNREFUSED"): "connection refused by {where} (ECONNREFUSED): nothing is "
    "listening on that port",
    ("connect", "ETIMEDOUT"): "no answer from {where} within {timeout:g} s ({error}); check "
    "the host and port, or wait longer with --timeout",
    ("connect", "EHOSTUNREACH"): "{where} cannot be reached ({error}): no route to it",
    ("connect", "EINVAL"): "{where} cannot be connected to from here ({error}); a link-local "
    "address (fe80::...) is not supported: use a global or loopback one",
}
_SAME = {
    ("connect", "EINPROGRESS"): ("connect", "ETIMEDOUT"),
    ("connect", "EAGAIN"): ("connect", "ETIMEDOUT"),
    ("connect", "ENETUNREACH"): ("connect", "EHOSTUNREACH"),
    ("connect", "EADDRNOTAVAIL"): ("connect", "EINVAL"),
}
#: Only where the address is the user's own choice (--listen HOST).
_OUTSIDE_ONLY = {
    ("bind", "EADDRNOTAVAIL"): "{host} is not an address of this machine (EADDRNOTAVAIL); "
    "listen on one of its own addresses, or leave HOST out for "
    "loopback",
    (None, "EAFNOSUPPORT"): "{family} is not available on this machine ({call}() failed: {error})",
}


def explain(
    result: RunFinished,
    *,
    family: str,
    port: int,
    host: str | None = None,
    where: str | None = None,
    timeout: float = OUTSIDE_TIMEOUT,
) -> tuple[str, int]:
    """An aborted run as one line for the user and an exit status. ``where``: the outside
    peer's address (a --listen/--connect run), None for a scenario."""
    event = result.failed
    if event is None or event.error is None:
        return f"the run stopped early: {result.reason}", EXIT_FAILED
    call, error = event.call.value, event.error
    if where is None and family == "ipv6" and error in ("EAFNOSUPPORT", "EADDRNOTAVAIL"):
        return (
            f"IPv6 is not available on this machine ({call}() failed: {error}); try --family ipv4"
        ), EXIT_USAGE
    key = _SAME.get((call, error), (call, error))
    template = _FAILURES.get(key)
    if where is not None:
        template = template or _OUTSIDE_ONLY.get(key) or _OUTSIDE_ONLY.get((None, error))
    elif key[0] == "connect":
        template = None  # (a scenario's connects fail as the lesson, or as a fault)
    if template is None:
        return f"the run stopped early: {result.reason}", EXIT_FAILED
    outside = where is not None
    return template.format(
        port=port,
        host=host or FAMILIES[family].loopback,
        where=where,
        timeout=timeout,
        call=call,
        error=error,
        family=family,
        with_port=" port" if outside else " with --port",
        zero="port 0" if outside else "--port 0",
    ), EXIT_USAGE


# --- running to the end --------------------------------------------------------------------
class TraceWriter:
    """The ``--trace`` consumer: one JSON line per trace event, through an
    :class:`~sockviz.output.Output` (a failed write is never silent, a slow reader is
    waited for). On a terminal each line is written as it happens; into a pipe or a file
    the lines are written by :meth:`flush`, which the run's main thread calls ten times a
    second and at the end (a flood's sixteen lines a connection were sixteen system
    calls)."""

    wants_steps = False
    """No :class:`~sockviz.engine.events.StepPending` announcements: a trace has no use."""

    def __init__(self, out: TextIO | None) -> None:
        self.output = Output(out)
        self.lock = threading.Lock()
        self._pending: list[str] = []
        self._each = self.output.isatty()

    @property
    def broken(self) -> bool:
        """Nothing more is written (the reader went away, or the output failed)."""
        return self.output.ended

    def __call__(self, event: Event) -> None:
        if not isinstance(event, _TRACED) or self.output.ended:
            return
        text = line(event) + "\n"
        if self._each:
            self.output.write(text)
            return
        with self.lock:
            self._pending.append(text)

    def flush(self) -> None:
        """Write out the lines kept so far."""
        with self.lock:
            pending, self._pending = self._pending, []
        if pending:
            self.output.write("".join(pending))


#: The events a trace prints, one line each (the others are the UI's).
_TRACED = (CallEvent, KernelEvent, Segment, LinkEvent, TcpSettings)


class Checks:
    """Counts a scenario file's expectations as the run checks them; keeps the unmet."""

    def __init__(self) -> None:
        self.count = 0
        self.unmet: list[Checked] = []

    def __call__(self, event: Event) -> None:
        if isinstance(event, Checked):
            self.count += 1
            if not event.met:
                self.unmet.append(event)


class _Interrupted:
    """The handler of the signals that end a run: it only notes that one came. Raising
    from a handler (KeyboardInterrupt) could land between a write to standard output
    and the count of what it wrote, and the lines went out twice."""

    def __init__(self) -> None:
        self.came = False

    def __call__(self, signum: int, frame: FrameType | None) -> None:
        self.came = True


def run_to_the_end(
    runner: RunnerLike,
    signals: tuple[int, ...],
    tick: Callable[[], None] | None = None,
    give_up: Callable[[], bool] | None = None,
) -> None:
    """Start ``runner`` and wait for its end; these signals (and Ctrl-C) end it early.
    Signals that come while it closes its sockets are ignored, so a trace always ends
    whole. ``tick`` (a trace's flush) is called ten times a second and at the end;
    ``give_up`` too, and when it is true the run ends early (its output cannot be
    written: a listener would otherwise serve on, unseen, until Ctrl-C).

    A signal only sets a flag that the loop reads: an exception raised by a handler lands
    between any two bytecodes, and one that landed just after a write to standard output
    returned, before its byte count was kept, had the same lines written twice (a CI run
    under load: every recv of a --listen run counted twice)."""
    main_thread = threading.current_thread() is threading.main_thread()
    interrupted = _Interrupted()
    wanted = (*signals, *(() if signal.SIGINT in signals else (signal.SIGINT,)))
    previous = {sig: signal.getsignal(sig) for sig in wanted} if main_thread else {}
    try:
        for sig in previous:
            signal.signal(sig, interrupted)
        runner.start()
        while not interrupted.came and not runner.wait(0.1):
            if tick is not None:
                tick()
            if give_up is not None and give_up():
                break
    except KeyboardInterrupt:  # (not in the main thread: Ctrl-C reached it there)
        pass
    finally:
        for sig in previous:
            signal.signal(sig, signal.SIG_IGN)
        runner.stop()
        if tick is not None:
            tick()
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def open_recorder(options: Options, scenario: str) -> Recorder:
    """The --record file, created with its header (UsageError if it cannot be: it exists
    and --overwrite was not given, it is a symlink, or it cannot be written)."""
    if options.record is None:
        raise UsageError("--record names no file")  # (never: the caller asks for --record)
    try:
        return Recorder(
            options.record,
            scenario,
            options.family,
            options.closer,
            options.size,
            replace=options.overwrite,
        )
    except FileExistsError:
        raise UsageError(
            f"{options.record} exists already: --record will not overwrite it "
            "(add --overwrite, or name a new file)"
        ) from None
    except OSError as exc:
        reason = (
            "it is a symlink, which --record never follows"
            if exc.errno == errno.ELOOP
            else exc.strerror or exc
        )
        raise UsageError(f"cannot write the recording {options.record}: {reason}") from None


def open_wire(
    options: Options, err: ErrorStream, outside: bool = False
) -> tuple[Watch | None, Capture | None]:
    """Where the run's segments are watched, as ``--wire`` asks, and its capture:
    ``(watch, capture)``; capture None when not watched (``auto`` then says why in one
    line). ``host`` and ``private`` asked for by name are a usage error when they cannot be
    had. ``private`` moves this process into a network of its own: it must come before any
    thread starts."""
    if options.family == "unix":
        return None, None  # (the kernel copies the bytes: no wire to watch)
    try:
        watch = decide(options.wire, outside)
    except WireUnavailable as exc:
        raise UsageError(str(exc)) from None
    capture = watch.capture(options.family)
    if capture is None and watch.note:
        say(err, f"note: {watch.note}; the run goes on without it")
    return watch, capture


def open_link(options: Options, err: ErrorStream) -> Link | None:
    """The run's :class:`~sockviz.engine.lab.link.Link` between two hosts, when the command
    line or the scenario asks for one (None: loopback). The hosts are made now, before any
    thread; where they cannot be, one line says why and the run goes on loopback."""
    link = link_of(options)
    if link is None:
        return None
    settings, drops, _hold = link  # (holding is for the TUI's step mode)
    try:
        hosts = Hosts()
    except NoLink as exc:
        scenario = resolve_scenario(options)
        why = scenario.link_only
        if why is not None:
            raise UsageError(
                f"{scenario.name} needs two hosts and a link ({why}); none here: {exc}"
            ) from None
        say(err, f"note: no two hosts here ({exc}); the run goes on loopback, with no link")
        return None
    say_merged_link(options, err)  # (a lab's [link] with --link/--drop laid over it)
    return Link(hosts, LinkSpec.parse(settings, drops), hold=False)


def open_pcap(options: Options) -> BinaryIO:
    """The --pcap file, opened (and so checked) before the run's first call, as --record
    is: a file that exists (without --overwrite), a folder that is missing, read-only or
    not the user's is a UsageError before anything runs. Its binary stream."""
    if options.pcap is None:
        raise UsageError("--pcap names no file")  # (never: the caller asks for --pcap)
    try:
        # (the text file's binary layer: a BufferedWriter, which is a BinaryIO)
        return cast(BinaryIO, create(options.pcap, options.overwrite).detach())
    except FileExistsError:
        raise UsageError(
            f"{options.pcap} exists already: --pcap will not overwrite it (add "
            "--overwrite, or name a new file)"
        ) from None
    except OSError as exc:
        raise UsageError(f"cannot write {options.pcap}: {exc.strerror or exc}") from None


def write_pcap(options: Options, runner: Runner, stream: BinaryIO) -> None:
    """The run's frames into the --pcap file opened by :func:`open_pcap`."""
    wire = runner.tracer.wire
    try:
        with stream:
            write_frames(stream, wire.frames if wire is not None else [])
    except OSError as exc:
        raise UsageError(f"cannot write {options.pcap}: {exc.strerror or exc}") from None


def run_trace(options: Options, out: TextIO, err: ErrorStream) -> int:
    """``--trace`` of a scenario (or of a recording: ``--replay``)."""
    scenario = resolve_scenario(options)  # (resolved by check: no file read again)
    exported: list[Event] = []
    checks = Checks()
    recorder: Recorder | None = None
    pcap: BinaryIO | None = None
    writer = TraceWriter(out) if not options.export else None
    output = writer.output if writer is not None else Output(out)
    consumers: list[EventSink] = [checks, writer if writer is not None else exported.append]
    if options.pcap:
        pcap = open_pcap(options)
    try:
        if options.record:
            recorder = open_recorder(options, options.scenario_file or scenario.name)
            consumers.insert(0, recorder)
    except BaseException:
        if pcap is not None:
            pcap.close()
        raise
    runner: Runner | ReplayRunner
    live: Runner | None = None
    if options.recording is not None:
        runner = ReplayRunner(
            scenario,
            Tee(*consumers),
            options.recording.events,
            family=options.family,
            mode=Mode.FAST,
        )
    else:
        capture: Link | Capture | None = open_link(options, err)
        if capture is None:
            _watch, capture = open_wire(options, err)
        runner = live = Runner(
            scenario,
            Tee(*consumers),
            family=options.family,
            port=options.port,
            mode=Mode.FAST,
            size=options.size,
            capture=capture,
        )
        if capture is not None and options.pcap and live.tracer.wire is not None:
            live.tracer.wire.keep = True
    try:
        run_to_the_end(
            runner,
            (signal.SIGTERM,),
            writer.flush if writer else None,
            None if recorder is not None else lambda: output.failed is not None,
        )
    finally:
        if recorder is not None:
            recorder.close()
    if recorder is not None and recorder.failed is not None:
        if pcap is not None:
            pcap.close()
        say(
            err,
            f"error: the recording {options.record} is incomplete: "
            f"{recorder.failed.strerror or recorder.failed}",
        )
        return EXIT_FAILED
    if pcap is not None:
        if live is not None:
            write_pcap(options, live, pcap)
        else:  # (never: --pcap and --replay were refused together)
            pcap.close()
    if options.export:
        output.write(
            FORMATS[options.export][0](
                exported, f"sockviz {scenario.name} · {options.family}", scenario
            )
        )
    if output.say_failed(err, "the trace" if writer is not None else "the export"):
        return EXIT_FAILED
    say_missed_drops(options, getattr(runner, "link", None), err)  # (a --drop not made)
    for check in checks.unmet:
        say(
            err,
            f"expectation not met: step {check.step + 1} ({check.socket}."
            f"{check.call.value}): expected {check.expected}, got {check.got}",
        )
    result = runner.result
    if result is not None and result.outcome == "aborted":
        message, status = explain(result, family=options.family, port=options.port)
        say(err, f"error: {message}")
        return status
    if checks.unmet:
        return EXIT_FAILED
    if checks.count and result is not None and result.outcome == "done" and options.scenario_file:
        say(
            err,
            f"{'the' if checks.count == 1 else f'all {checks.count}'} "
            f"expectation{'s' * (checks.count > 1)} of {options.scenario} met",
        )
    return EXIT_OK


def run_outside_trace(options: Options, out: TextIO, err: ErrorStream, endpoint: Endpoint) -> int:
    """--listen/--connect with --trace: JSON Lines until the peer is done or Ctrl-C/SIGTERM;
    a listener runs until interrupted, and its every socket's close is a line too."""
    factory = outside_runner_factory(options, endpoint)
    if factory.watch.note:
        say(err, f"note: {factory.watch.note}; the run goes on without it")
    writer = TraceWriter(out)
    runner = factory(
        None, writer, family=options.family, port=endpoint.port, mode=Mode.FAST, pace=1.0
    )
    run_to_the_end(
        runner,
        (signal.SIGINT, signal.SIGTERM),
        writer.flush,
        lambda: writer.output.failed is not None,
    )
    if writer.output.say_failed(err, "the trace"):
        return EXIT_FAILED
    result = runner.result
    if result is not None and result.outcome == "aborted":
        message, status = explain(
            result,
            family=endpoint.family.name,
            port=endpoint.port,
            host=endpoint.ip,
            where=str(endpoint),
            timeout=options.timeout or OUTSIDE_TIMEOUT,
        )
        say(err, f"error: {message}")
        return status
    return EXIT_OK
