"""The engine in a process of its own, for a UI that draws while the bytes flow.

A Textual app and the engine's threads in one process take turns holding Python's GIL:
while the app draws a frame (a few milliseconds, several times a second) no engine thread
runs, and a bulk transfer slows by about the share of time the UI is busy. Measured here
(2 vCPUs, plain loopback sockets moving 1 GiB): a thread busy 8 ms in every 70 slowed the
transfer to 0.88x; the same work in another process left it at 1.0x.

So the TUI plays its live runs in a child process: :class:`EngineProcess` starts
``python -m sockviz.engine.run.engine_child`` (:mod:`sockviz.engine.run.engine_child`) once
(on the first run) and ends it when the app quits. Each run is a :class:`RemoteRunner`, with
the controls of a :class:`~sockviz.engine.run.runner.Runner`. In the child a real Runner
plays the run - its threads, its sockets, its gate - and a
:class:`~sockviz.engine.run.event_batcher.Batcher` sends the events back in batches; the
parent sends the controls: start, step, mode, pace, a typed message, stop. Still one key,
one real call: a step travels down the pipe to the gate. The child says ``"ready"`` once it
reads controls: until then it is still starting, and has read none of them.

Frames on both pipes: a 4-byte big-endian length, then a pickle. Only these two processes,
parent and its own child, read them.
"""

from __future__ import annotations

import os
import pickle
import struct
import subprocess
import sys
import threading
from typing import IO, Any

from sockviz.engine.events import Event, RunFinished
from sockviz.engine.families import FAMILIES
from sockviz.engine.run.gate import GateSettings, Mode
from sockviz.engine.run.parent_watch import PARENT_ENV
from sockviz.engine.run.run_controls import RunControls
from sockviz.engine.run.runner_protocols import EventSink
from sockviz.engine.scenarios.scenario_types import Scenario

#: One frame on either pipe: a kind first (``"start"``, ``"events"``, ``"answer"`` ...), then
#: what that kind carries.
Message = tuple[Any, ...]

#: A run's link, as ``--link``, ``--drop`` and ``--hold`` give it: (settings, drops, hold).
LinkSettings = tuple[str, tuple[str, ...], bool]

#: A control's answer from the child: whether it was carried out, and its value or why not.
Answer = tuple[bool, Any]

_LENGTH = struct.Struct(">I")

#: Batches a second the child sends at most: the parent batches again for its UI.
CHILD_BATCH_RATE = 60

#: Seconds a control that needs an answer (a typed message) waits for it.
ANSWER_TIMEOUT = 2.0


class Status:
    """How a run in the child stands, sent among its events (never handed to a consumer)."""

    __slots__ = ("done", "total_steps", "waiting")

    def __init__(self, waiting: int, total_steps: int, done: int) -> None:
        self.waiting = waiting
        """Threads waiting at the gate."""
        self.total_steps = total_steps
        """Steps in the run (a queued message adds some)."""
        self.done = done
        """Controls (step, mode, pace, message) the child has carried out."""

    def __getstate__(self) -> tuple[int, int, int]:
        return (self.waiting, self.total_steps, self.done)

    def __setstate__(self, state: tuple[int, int, int]) -> None:
        self.waiting, self.total_steps, self.done = state


def write_frame(out: IO[bytes], message: object) -> None:
    data = pickle.dumps(message, pickle.HIGHEST_PROTOCOL)
    out.write(_LENGTH.pack(len(data)) + data)
    out.flush()


def _read_exactly(stream: IO[bytes], n: int) -> bytes | None:
    chunks: list[bytes] = []
    wanted = n
    while wanted:
        chunk = stream.read(wanted)
        if not chunk:
            return None
        chunks.append(chunk)
        wanted -= len(chunk)
    return b"".join(chunks)


def read_frame(stream: IO[bytes]) -> Message | None:
    """The next message, or None at the end of the stream (a torn frame is an end too)."""
    head = _read_exactly(stream, _LENGTH.size)
    if head is None:
        return None
    body = _read_exactly(stream, _LENGTH.unpack(head)[0])
    if body is None:
        return None
    message: Message = pickle.loads(body)  # our own child (or parent): a trusted pipe
    return message


# --- the parent's side --------------------------------------------------------------------
class EngineProcess:
    """The child process that plays live runs; call it as a runner factory.

    ``engine(scenario, consumer, family=..., port=..., mode=..., pace=..., size=...)``
    returns a :class:`RemoteRunner`. The child starts with the first run and serves the
    runs after it (a restart costs no new process); :meth:`close` ends it.
    """

    def __init__(self, wire: str = "off", outside: bool = False) -> None:
        self.wire = wire
        """``--wire``: where the child watches its runs' segments (it decides as it starts,
        before it has a thread)."""
        self.outside = outside
        """Its runs meet real outside peers: it stays in this machine's network."""
        self._proc: subprocess.Popen[bytes] | None = None
        self._reader: threading.Thread | None = None
        self._lock = threading.Lock()
        self._runs: dict[int, RemoteRunner] = {}
        self._answers: dict[int, tuple[threading.Event, list[Answer]]] = {}
        """Questions sent, by number: the event set when the answer is in the list."""
        self._ended = False
        """The reader has seen the child's end (it may not have been reaped yet)."""
        self._counter = 0
        self._closed = False
        self._link = False
        """The child was started with two hosts (runs with a link need them made first)."""
        self._ready = threading.Event()
        """The child has said it reads controls (set by the reader; a new one per child)."""

    def __call__(
        self,
        scenario: Scenario,
        consumer: EventSink,
        /,
        *,
        family: str = "ipv4",
        port: int = 0,
        mode: Mode = Mode.FAST,
        pace: float = 1.0,
        size: int | None = None,
        pcap: str | None = None,
        link: LinkSettings | None = None,
    ) -> RemoteRunner:
        """A run of ``scenario`` in the child (see :class:`RemoteRunner`)."""
        return RemoteRunner(
            self,
            scenario,
            consumer,
            family=family,
            port=port,
            mode=mode,
            pace=pace,
            size=size,
            pcap=pcap,
            link=link,
        )

    @property
    def pid(self) -> int | None:
        """The child's process id while it runs (for tests that look inside it)."""
        proc = self._proc
        return proc.pid if proc is not None and proc.poll() is None else None

    @property
    def starting(self) -> bool:
        """The child runs but has not yet said it reads controls: it is still starting
        (Python, its imports, its hosts), so it has read none of the runs sent to it."""
        return self._proc is not None and not self._ready.is_set()

    def _next(self) -> int:
        with self._lock:
            self._counter += 1
            return self._counter

    def _ensure(self, link: bool = False) -> None:
        """Start the child if it is not running - with two hosts when ``link`` (a child
        that has them, or lacks them when needed, is ended and started again: they can only
        be made while it has one thread)."""
        if self._closed:
            raise OSError("the engine process was closed")
        if self._proc is not None and self._proc.poll() is None:
            if link == self._link:
                return
            self._end_child(0.5)
        self._link = link
        self._ready = ready = threading.Event()
        # The child must import this very sockviz, installed or not.
        root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
        env[PARENT_ENV] = str(os.getpid())  # (the child ends with this process)
        self._proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "sockviz.engine.run.engine_child",
                self.wire,
                *(["outside"] if self.outside else ["link"] if link else []),
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=env,
            close_fds=True,
        )
        self._ended = False
        self._reader = threading.Thread(
            target=self._read, args=(self._proc, ready), name="sockviz-engine-reader", daemon=True
        )
        self._reader.start()

    def _send(self, message: Message) -> bool:
        """Write one control to the child; False if it is gone."""
        return self._send_to(self._proc, message)

    def _ask(self, message: Message, timeout: float) -> Answer:
        """Send a control that is answered; (ok, value), or (False, reason) on no answer."""
        proc = self._proc
        if proc is None or proc.poll() is not None or self._ended:
            return False, "the engine process has ended"
        ask = self._next()
        answered = threading.Event()
        answer: list[Answer] = [(False, "the engine process did not answer")]
        self._answers[ask] = (answered, answer)
        try:
            if not self._send((*message, ask)):
                return False, "the engine process has ended"
            answered.wait(timeout)
            return answer[0]
        finally:
            self._answers.pop(ask, None)

    def _read(self, proc: subprocess.Popen[bytes], ready: threading.Event) -> None:
        """The reader thread: hand each run its events, each question its answer."""
        stream = proc.stdout
        assert stream is not None  # (made with stdout=PIPE)
        while True:
            try:
                message = read_frame(stream)
            except Exception:
                message = None
            if message is None:
                break
            kind = message[0]
            if kind == "events":
                runner = self._runs.get(message[1])
                if runner is not None:
                    runner._take(message[2])
            elif kind == "answer":
                slot = self._answers.get(message[1])
                if slot is not None:
                    slot[1][0] = (message[2], message[3])
                    slot[0].set()
            elif kind == "ready":
                ready.set()
        # The child has gone: no run of it goes on, no question gets an answer.
        if proc is not self._proc:
            return  # an older child's reader, ending late: today's runs are another's
        self._ended = True
        for runner in list(self._runs.values()):
            runner._lost()
        for slot in list(self._answers.values()):
            slot[0].set()

    def close(self, timeout: float = 0.5) -> None:
        """End the child (its runs stop, its sockets close) and the reader thread."""
        self._closed = True
        self._end_child(timeout)

    def _end_child(self, timeout: float) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        self._send_to(proc, ("exit",))
        try:
            proc.wait(timeout)
        except Exception:
            proc.kill()
            proc.wait(timeout)
        for stream in (proc.stdin, proc.stdout):
            try:
                if stream is not None:
                    stream.close()
            except OSError:
                pass
        if self._reader is not None:
            self._reader.join(timeout)

    def _send_to(self, proc: subprocess.Popen[bytes] | None, message: Message) -> bool:
        if proc is None or proc.stdin is None:
            return False
        try:
            with self._lock:
                write_frame(proc.stdin, message)
        except (OSError, ValueError):  # the child ended (broken pipe, closed pipe)
            return False
        return True


class RemoteGate(GateSettings):
    """The parent's view of a run's gate: controls go to the child, waiting comes back."""

    def __init__(self, runner: RemoteRunner, mode: Mode, pace: float) -> None:
        super().__init__(mode, pace)
        self._runner = runner

    @property
    def waiting(self) -> int:
        """Threads waiting at the child's gate, as last reported; 0 while a control is on
        its way (until the child has carried it out, nobody knows)."""
        runner = self._runner
        return runner._waiting if runner._done >= runner._sent else 0

    def set_mode(self, mode: Mode) -> None:
        self._mode = mode
        self._runner._control(("mode", mode))

    def set_pace(self, pace: float) -> None:
        self._pace = self.clamp(pace)
        self._runner._control(("pace", self._pace))

    def step(self) -> None:
        self._runner._control(("step",))


class RemoteRunner(RunControls[RemoteGate]):
    """One run, played in the engine process. Same controls as a live Runner."""

    def __init__(
        self,
        engine: EngineProcess,
        scenario: Scenario,
        consumer: EventSink,
        *,
        family: str = "ipv4",
        port: int = 0,
        mode: Mode = Mode.FAST,
        pace: float = 1.0,
        size: int | None = None,
        pcap: str | None = None,
        outside: dict[str, Any] | None = None,
        link: LinkSettings | None = None,
    ) -> None:
        """``outside``: a real outside peer's run - where it listens or connects, and what
        it answers or sends (see :func:`sockviz.peers.outside_engine_factory`); ``link``:
        two hosts and a link, (settings, drops, hold) as ``--link``, ``--drop`` and
        ``--hold`` give them."""
        # What the child's Runner would refuse, refused here and now, as a Runner does.
        scenario.validate()
        if family not in scenario.families:
            raise ValueError(f"{scenario.name} does not run on {family}")
        if family not in FAMILIES:
            raise ValueError(f"no {family} sockets on this machine")
        super().__init__(consumer, RemoteGate(self, mode, pace), list(scenario.steps_for(family)))
        self.engine = engine
        self.scenario = scenario
        self._options: dict[str, Any] = {
            "family": family,
            "port": port,
            "mode": mode,
            "pace": pace,
            "size": size,
        }
        """What the child's runner is made with."""
        if pcap:
            self._options["pcap"] = pcap  # (the child writes the run's frames there)
        if outside:
            self._options["outside"] = outside
        if link is not None:
            self._options["link"] = link
        self._total = len(self.steps)
        self._id = engine._next()
        self._sent = 0
        """Controls sent that the child reports on (step, mode, pace, message)."""
        self._done = 0
        self._waiting = 0
        self._gone = False

    @property
    def total_steps(self) -> int:
        return self._total

    def start(self) -> None:
        """Start the run in the engine process (the process itself on the first run)."""
        self._start_once()
        self.engine._ensure(link="link" in self._options)
        self.engine._runs[self._id] = self
        if not self.engine._send(("start", self._id, self.scenario, self._options)):
            self.engine._runs.pop(self._id, None)
            raise OSError("the engine process did not start")

    def _control(self, message: Message) -> None:
        if not self._started or self._finished.is_set():
            return
        self._sent += 1
        if not self.engine._send((message[0], self._id, *message[1:])):
            self._lost()

    def queue_message(self, data: bytes) -> int:
        """As :meth:`Runner.queue_message`: the index of the first step added; ValueError
        with the reason when it cannot be added."""
        if not self._started or self._finished.is_set():
            raise ValueError("the run is over; press r to start again")
        self._sent += 1
        ok, value = self.engine._ask(("message", self._id, data), ANSWER_TIMEOUT)
        if not ok:
            raise ValueError(str(value))
        at: int = value[0]
        self._total = value[1]
        return at

    def stop(self, timeout: float = 0.5) -> bool:
        """End the run in the child: sockets closed, threads joined; True if all ended in
        time. The run's last events arrive before this returns."""
        if not self._started or self._id not in self.engine._runs or self._gone:
            self.engine._runs.pop(self._id, None)
            self._finished.set()
            return True  # (a run whose process has gone has nothing left to stop)
        ok, joined = self.engine._ask(("stop", self._id, timeout), timeout + 1.0)
        self.engine._runs.pop(self._id, None)
        self._finished.set()
        return bool(ok and joined) or self.engine.pid is None

    def _take(self, events: list[Event | Status]) -> None:
        """(The reader thread.) Events of this run, from the child."""
        for event in events:
            if isinstance(event, Status):
                self._waiting, self._total = event.waiting, event.total_steps
                self._done = event.done
                continue
            self._consumer(event)
            if type(event) is RunFinished:
                self.result = event
                self._finished.set()

    def _lost(self) -> None:
        """The child ended under this run: say so, as a run that failed says it."""
        self._gone = True
        if self._finished.is_set():
            return
        self.result = RunFinished("aborted", "the engine process ended unexpectedly")
        self._consumer(self.result)
        self._finished.set()
