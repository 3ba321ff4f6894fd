"""The engine process's own side: ``python -m sockviz.engine.run.engine_child [WIRE]``.

It reads controls from its stdin and plays each run with a real
:class:`~sockviz.engine.run.runner.Runner`, its events going back in batches on its stdout
(:mod:`sockviz.engine.run.engine_process` is the app's side, and has the frames and
:class:`Status`). Where the wire is watched is decided first, while the process has one
thread: a private network can only be entered then.
"""

from __future__ import annotations

import signal
import sys
import threading
from typing import IO, Any, BinaryIO, cast

from sockviz.engine.events import Event, LinkStatus, RunFinished, WireStatus
from sockviz.engine.lab.link import Link, LinkSpec
from sockviz.engine.lab.two_hosts import Hosts, NoLink
from sockviz.engine.record.user_files import create
from sockviz.engine.run.connect_runner import ConnectRunner
from sockviz.engine.run.engine_process import (
    CHILD_BATCH_RATE,
    Answer,
    LinkSettings,
    Message,
    Status,
    read_frame,
    write_frame,
)
from sockviz.engine.run.event_batcher import Batcher
from sockviz.engine.run.gate import Mode
from sockviz.engine.run.listen_runner import ListenRunner
from sockviz.engine.run.outside_runner import outside_runner
from sockviz.engine.run.parent_watch import end_with_parent
from sockviz.engine.run.runner import Runner
from sockviz.engine.scenarios.scenario_types import Scenario
from sockviz.engine.wire.capture import WireUnavailable, write_pcap
from sockviz.engine.wire.watch_point import MODES, Watch, decide


class _ChildRun:
    """One run in the child: the real Runner and the batcher that sends its events."""

    def __init__(
        self, child: _Child, run: int, scenario: Scenario, options: dict[str, Any]
    ) -> None:
        self.child, self.run = child, run
        self.done = 0
        self._last: tuple[int, int, int] | None = None
        self.batcher = Batcher(self._deliver, rate=CHILD_BATCH_RATE, acknowledge=True)
        self.runner: Runner | ListenRunner | ConnectRunner | None = None
        family = options.get("family", "ipv4")
        self.pcap = options.pop("pcap", None)
        outside = options.pop("outside", None)
        link = options.pop("link", None)
        try:
            if link is not None and scenario.link_only and not isinstance(child.hosts, Hosts):
                raise ValueError(
                    f"{scenario.name} needs two hosts and a link ({scenario.link_only}); "
                    f"none here: {child.hosts}"
                )
            made, wire = self._link(link, family, options["mode"])
            capture = child.watch.capture(family) if made is None else None
            if made is None:
                wire = child.watch.status(family, capture is not None)
            if outside is not None:  # (its child has no two hosts: never a link)
                self.runner = outside_runner(
                    outside,
                    self.batcher,
                    mode=options["mode"],
                    pace=options["pace"],
                    capture=capture,
                    wire=wire,
                )
            else:
                self.runner = Runner(
                    scenario, self.batcher, **options, capture=made or capture, wire=wire
                )
            wire_reader = self.runner.tracer.wire
            if wire_reader is not None and self.pcap:
                wire_reader.keep = True
        except (ValueError, OSError, KeyError) as exc:
            self.batcher(RunFinished("aborted", f"cannot start: {exc}"))
            return
        self.runner.gate.on_waiting = self.report
        self.runner.start()

    def _link(
        self, link: LinkSettings | None, family: str, mode: Mode
    ) -> tuple[Link | None, WireStatus | None]:
        """The run's link between the child's two hosts, and what the run says of its
        wire: (None, None) for a run on loopback; where the hosts could not be made, the
        run says why and goes on loopback."""
        if link is None:
            return None, None
        hosts = self.child.hosts
        if not isinstance(hosts, Hosts):
            self.batcher(LinkStatus("", "", "", missing=str(hosts)))
            return None, None
        settings, drops, hold = link
        return (
            Link(hosts, LinkSpec.parse(settings, drops), hold=hold and mode is Mode.STEP),
            WireStatus("link"),
        )

    def _deliver(self, events: list[Event]) -> None:
        self.child.send(("events", self.run, events))
        self.batcher.ack()  # written: the pipe itself holds back a slow reader

    def report(self, waiting: int | None = None) -> None:
        """Send how the run stands, among its events, when that changed."""
        runner = self.runner
        if runner is None:
            return
        if waiting is None:
            waiting = runner.gate.waiting
        now = (waiting, runner.total_steps, self.done)
        if now != self._last:
            self._last = now
            self.batcher(Status(*now))  # type: ignore[arg-type]  # (passed on as it is)

    def control(self, kind: str, args: Message) -> None:
        runner = self.runner
        if kind == "message":
            data, ask = args
            try:
                if runner is None:
                    raise ValueError("the run is over; press r to start again")
                at = runner.queue_message(data)
                answer: Answer = (True, (at, runner.total_steps))
            except ValueError as exc:
                answer = (False, str(exc))
            self.done += 1
            self.report()
            self.child.send(("answer", ask, *answer))
            return
        if runner is not None:
            if kind == "step":
                runner.step()
            elif kind == "mode":
                runner.gate.set_mode(args[0])
                link = getattr(runner, "link", None)
                if link is not None and link.hold and args[0].name != "STEP":
                    link.let_all_go()  # (holding is for step mode: play lets all cross)
            elif kind == "pace":
                runner.gate.set_pace(args[0])
        self.done += 1
        self.report()

    def stop(self, timeout: float) -> bool:
        joined = self.runner.stop(timeout) if self.runner is not None else True
        self._write_pcap()
        self.batcher.close(0.5)  # the run's last events go out before the answer
        return joined

    def _write_pcap(self) -> None:
        """The run's frames into the --pcap file (each run writes it afresh; the command
        line refused a file already there unless --overwrite). Never through a symlink."""
        wire = self.runner.tracer.wire if self.runner is not None else None
        if not self.pcap or wire is None:
            return
        try:
            with create(self.pcap, True) as text:
                # (a text file opened for writing: its buffer is the binary file beneath)
                write_pcap(cast(BinaryIO, text.buffer), wire.frames)
        except OSError as exc:
            self.batcher(WireStatus("pcap", f"cannot write {self.pcap}: {exc.strerror or exc}"))


class _Child:
    """The engine process: reads controls from stdin, writes events to stdout."""

    def __init__(self, out: IO[bytes], watch: Watch, hosts: Hosts | NoLink | None = None) -> None:
        self.watch = watch
        self.hosts = hosts
        """Two hosts (:class:`~sockviz.engine.lab.two_hosts.Hosts`) for runs with a link, made as
        the process started; or why they could not be (a :class:`NoLink`); or None."""
        """Where the wire is watched (:mod:`sockviz.engine.wire.watch_point`)."""
        self._out = out
        self._lock = threading.Lock()
        self.runs: dict[int, _ChildRun] = {}
        self.gone = False

    def send(self, message: Message) -> None:
        if self.gone:
            return
        try:
            with self._lock:
                write_frame(self._out, message)
        except (OSError, ValueError):  # the parent has gone: nobody to tell
            self.gone = True

    def handle(self, message: Message) -> None:
        kind, run, *args = message
        if kind == "start":
            scenario, options = args
            self.runs[run] = _ChildRun(self, run, scenario, options)
            return
        child_run = self.runs.get(run)
        if kind == "stop":
            joined = child_run.stop(args[0]) if child_run is not None else True
            self.runs.pop(run, None)
            self.send(("answer", args[1], True, joined))
        elif child_run is not None:
            child_run.control(kind, tuple(args))
        elif kind == "message":
            self.send(("answer", args[1], False, "the run is over; press r to start again"))

    def stop_all(self) -> None:
        for child_run in list(self.runs.values()):
            child_run.stop(0.5)
        self.runs.clear()


def _watch(mode: str, outside: bool = False) -> Watch:
    """Where this process watches the wire: decided first, while it has one thread (a
    private network can only be entered then; ``outside``: runs that meet real peers stay
    in this machine's network). What cannot be had is said by each run."""
    try:
        return decide(mode if mode in MODES else "off", outside=outside)
    except WireUnavailable as exc:
        return Watch(None, f"the wire is not watched: {exc}")


def main() -> int:
    """The child: serve controls until the parent says exit or goes away."""
    # Ctrl+C in the terminal is the parent's to handle (it quits and ends this process).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    sys.stdout = sys.stderr  # the pipe carries frames only
    hosts: Hosts | NoLink | None = None
    if sys.argv[2:3] == ["link"]:  # (first: two hosts are made while it has one thread)
        try:
            hosts = Hosts()
        except NoLink as exc:
            hosts = exc
    made = hosts is not None and not isinstance(hosts, Exception)
    watch = _watch(
        "off" if made else sys.argv[1] if len(sys.argv) > 1 else "off", sys.argv[2:3] == ["outside"]
    )  # (no two hosts: the wire as asked)
    # (only now a second thread: the choices above needed the process to have one)
    end_with_parent()  # stdin's end says the app has gone; this, if that never comes
    child = _Child(stdout, watch, hosts)
    child.send(("ready",))  # (before any control is read: the parent may rely on that)
    try:
        while not child.gone:
            message = read_frame(stdin)
            if message is None or message[0] == "exit":
                break
            child.handle(message)
    finally:
        child.stop_all()
    return 0


if __name__ == "__main__":
    # Run as -m, this file is __main__; the frames must name the classes by the module's
    # real name, or the parent could not unpickle them.
    from sockviz.engine.run.engine_child import main as _main

    raise SystemExit(_main())
