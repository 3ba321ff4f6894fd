"""Play a scenario on real sockets: one thread per actor, one baton, one gate.

Each actor (``server``, ``client``) runs in its own thread and makes only its own calls.
The steps are numbered; a thread waits for the baton to reach its step's number, waits at
the gate (step / play / fast), makes the call through its :class:`TracedSocket`, then
passes the baton on. So the calls always come in the scenario's order, whatever the mode.

:meth:`Runner.stop` ends the run from any point within half a second: it closes the gate,
drops the baton, and wakes every ``poll()`` through the tracer's wake-up pipe, so no thread
stays in ``accept``, ``connect`` or ``recv``. Then it closes every socket still open (real
``close()`` calls, so they are events too) and joins every thread.

A small watcher thread reads the kernel's TCP states at most 10 times a second, so that
changes between calls (a TIME_WAIT running out) become events as well.
"""

from __future__ import annotations

import secrets
import socket
import threading
import time
from dataclasses import replace
from typing import Any

from sockviz.engine.events import (
    CallEvent,
    LinkStatus,
    RunFinished,
    StepPending,
    WireStatus,
)
from sockviz.engine.families import FAMILIES as FAMILIES  # (also from here, as it was)
from sockviz.engine.families import Family as Family
from sockviz.engine.kernel.socket_registry import Address
from sockviz.engine.kernel.tcp_settings import read as read_tcp
from sockviz.engine.lab.link import Link, describe
from sockviz.engine.lab.two_hosts import host_of
from sockviz.engine.run.expectations import (
    abort_reason,
    check_expectation,
    is_unexpected_failure,
)
from sockviz.engine.run.gate import GateClosed, Mode
from sockviz.engine.run.live_run import LiveRun, one_line
from sockviz.engine.run.lost_datagrams import never_came
from sockviz.engine.run.one_key import OneKey
from sockviz.engine.run.run_controls import KERNEL_POLL_INTERVAL
from sockviz.engine.run.runner_protocols import EventSink
from sockviz.engine.run.strangers import failure_reason, stranger
from sockviz.engine.scenarios.scenario_types import (
    AddressOf,
    Marker,
    Produce,
    Scenario,
    Step,
    on_the_same_key,
)
from sockviz.engine.sockets import tls_calls
from sockviz.engine.sockets.call_words import call_args
from sockviz.engine.sockets.readiness import select_call
from sockviz.engine.sockets.traced_socket import TracedSocket
from sockviz.engine.sockets.tracer import Stopped
from sockviz.engine.states import Call
from sockviz.engine.wire.frame_source import FrameSource

#: The size a bulk transfer moves when nobody said (``--size``).
DEFAULT_BULK_SIZE = 64 * 1024 * 1024


class Runner(LiveRun):
    """Runs one scenario once. Create, :meth:`start`, then :meth:`step` or wait; :meth:`stop`.

    ``consumer`` gets every event, in order, from the engine's threads: it must be quick
    and must not touch a UI directly (a Textual app posts a message; ``--trace`` writes a line).
    """

    def __init__(
        self,
        scenario: Scenario,
        consumer: EventSink,
        *,
        family: str = "ipv4",
        port: int = 0,
        mode: Mode = Mode.FAST,
        pace: float = 1.0,
        size: int | None = None,
        capture: FrameSource | None = None,
        wire: WireStatus | None = None,
    ) -> None:
        """``capture``: a :class:`~sockviz.engine.wire.capture.Capture` to read the run's
        segments from, or a two-host run's :class:`~sockviz.engine.lab.link.Link` (None: the
        wire is not watched); ``wire``: where it watches, said to the consumer first (None:
        nothing said)."""
        scenario.validate()
        if family not in scenario.families:
            raise ValueError(f"{scenario.name} does not run on {family}")
        self.scenario = scenario
        self.family = FAMILIES[family]
        self.port = port
        self.size = size or scenario.default_size or DEFAULT_BULK_SIZE
        self.protocol = scenario.protocol() if callable(scenario.protocol) else None
        self._unix_dir: str | None = None
        """Unix sockets: the run's own abstract-namespace name (``"\\0sockviz-<random>"``):
        no socket file, so a run killed with SIGKILL leaves nothing behind."""
        super().__init__(
            consumer, list(scenario.steps_for(family)), mode=mode, pace=pace, wire=wire
        )
        self.link = capture if isinstance(capture, Link) else None
        """A two-host run's :class:`~sockviz.engine.lab.link.Link` (its capture too)."""
        self.hosts = None if self.link is None else self.link.hosts
        if self.hosts is not None and self.family.af not in (socket.AF_INET, socket.AF_INET6):
            raise ValueError("two hosts and a link need --family ipv4 or ipv6")
        if capture is not None:
            self.tracer.watch_wire(capture)
        self.tracer.hosts, self.tracer.flows = self.hosts, self.hosts is not None
        self.poll_interval = KERNEL_POLL_INTERVAL if self.hosts is None else 0.1
        """How often the watcher reads the kernel: on a link ten times a second (the
        congestion window of a transfer over it grows round trip by round trip)."""
        self._exchange_at = scenario.exchange_at_for(family)
        self._running_together: set[int] = set()
        self._claimed: int | None = None
        self._baton = 0
        self._baton_cond = threading.Condition()
        self._one_key = OneKey(self._baton_cond, self._halt, self._pass_baton)
        """Two calls made on one key (:class:`~sockviz.engine.run.one_key.OneKey`)."""
        self._live = 0
        self._live_lock = threading.Lock()
        self._calling = 0
        """Calls under way (let through the gate, not returned yet)."""

    # --- control ----------------------------------------------------------------------
    def _threads_to_start(self) -> list[threading.Thread]:
        """Say what the run stands on (its link, its kernel's settings); one thread per
        actor."""
        if self.link is not None and self.hosts is not None:
            self._consumer(
                LinkStatus(
                    describe(self.link.spec, self.link.hold),
                    self.hosts.ip("server", self.family.af),
                    self.hosts.ip("client", self.family.af),
                    self.link.hold,
                )
            )
            self.link.start()
        for settings in read_tcp(self.hosts):  # (this run's kernel's: words depend on them)
            self._consumer(settings)
        if self.family.af == getattr(socket, "AF_UNIX", None):
            self._unix_dir = f"\0sockviz-{secrets.token_hex(6)}"
        self._live = len(self.scenario.actors)
        return [
            threading.Thread(
                target=self._actor, args=(actor,), name=f"sockviz-{actor}", daemon=True
            )
            for actor in self.scenario.actors
        ]

    @property
    def next_step(self) -> int:
        """The index of the step holding the baton (``len(steps)`` when all have run)."""
        return self._baton

    def step(self) -> None:
        """Let exactly one call happen (in step mode) - or, on a link that holds segments,
        let the oldest held one cross when one is held."""
        link = self.link
        if link is not None and link.hold:
            if link.release():
                return
            if self._calling:
                link.credit()  # (a call is under way: the key is for its next segment)
                return
        self.gate.step()

    # --- two calls on one key ------------------------------------------------------
    # --- the threads ------------------------------------------------------------------
    def _pass_baton(self, index: int) -> None:
        """Step ``index`` may be claimed (the caller holds the baton's lock)."""
        self._baton = index
        self._baton_cond.notify_all()

    def _actor(self, actor: str) -> None:
        try:
            if self.hosts is not None:  # (every socket this thread makes is its host's)
                self.hosts.enter(host_of(actor))
            while True:
                with self._baton_cond:
                    while (
                        not self._halt.is_set()
                        and self._baton < len(self.steps)
                        and (self.steps[self._baton].actor != actor)
                    ):
                        self._baton_cond.wait()
                    if self._halt.is_set() or self._baton >= len(self.steps):
                        return
                    index = self._baton
                    step = self.steps[index]
                    self._claimed = index
                    if step.together:  # the next step starts without waiting for this one
                        self._running_together.add(index)
                        if not step.one_key:
                            self._pass_baton(index + 1)
                self._consumer(
                    StepPending(
                        step=index,
                        actor=actor,
                        socket=step.socket,
                        call=step.call,
                        args=self._preview_args(step),
                        explain=step.explain,
                        expect_error=step.expect_error,
                        with_previous=on_the_same_key(self.steps, index),
                        with_next=on_the_same_key(self.steps, index + 1),
                    )
                )
                if not on_the_same_key(self.steps, index):
                    self.gate.wait()
                elif not self.steps[index - 1].then:  # (another thread's call, at once)
                    self._one_key.second(index)
                if step.together and step.one_key:  # (the next step: on this same key)
                    self._one_key.first(index)
                began = time.monotonic()
                self._calling += 1
                try:
                    event = self._perform(index, step)
                finally:
                    self._calling -= 1
                if event is not None and step.expect is not None:
                    checked = check_expectation(
                        index,
                        step,
                        event,
                        time.monotonic() - began,
                        self._retried(step.socket) if self.hosts else None,
                    )
                    if checked is not None:
                        self._consumer(checked)
                gone = never_came(self, index, step, event)  # (UDP on a link: see there)
                if event is not None and is_unexpected_failure(step, event) and gone is None:
                    self._abort(
                        failure_reason(abort_reason(step, event), event, self.sockets), event
                    )
                    return
                if event is not None and (intruder := stranger(event, self.sockets)):
                    self._abort(intruder, event)
                    return
                with self._baton_cond:
                    if step.together:
                        self._running_together.discard(index)
                    else:
                        while self._running_together and not self._halt.is_set():
                            self._baton_cond.wait()
                        self._baton = index + 1 if gone is None else gone
                    self._baton_cond.notify_all()
        except (Stopped, GateClosed):
            return
        except Exception as exc:
            self._abort(f"internal error in the {actor} thread: {one_line(exc)}", None)
        finally:
            self._thread_done()

    def _retried(self, name: str) -> int:
        """Segments of socket ``name``'s connection sent again so far (on a link): which
        call a retry falls under depends on the kernel's timers, so a step's expectation
        counts them all, by the time its call returns."""
        ts = self.sockets.get(name)
        if ts is None or not ts.local or not ts.remote:
            return 0
        return self.tracer.retried.get(frozenset((ts.local, ts.remote)), 0)

    def queue_message(self, data: bytes) -> int:
        """Have the client send ``data`` (and the server answer) at the scenario's exchange point.

        The scenario's ``exchange`` steps, with ``data`` as the message, are inserted before
        its ``exchange_at`` step (after any messages queued before), so they run in the
        story where a conversation belongs, one gated call at a time. Returns the index of
        the first inserted step; ValueError with a reason a user can read if it is too late
        or the scenario has no conversation to join.
        """
        if not self.scenario.exchange:
            raise ValueError(f"{self.scenario.name} has no conversation to add a message to")
        if not data:
            raise ValueError("the message is empty")
        with self._baton_cond:
            if self._halt.is_set() or self.finished:
                raise ValueError("the run is over; press r to start again")
            at = self._exchange_at
            busy = self._claimed if self._claimed is not None else self._baton - 1
            if at <= busy or at > len(self.steps):
                raise ValueError(
                    "too late: the client is closing or closed; press r to start again"
                )
            inserted = tuple(
                replace(step, args=tuple(data if a is Marker.MESSAGE else a for a in step.args))
                for step in self.scenario.exchange
            )
            self.steps[at:at] = inserted
            self._exchange_at = at + len(inserted)
            self._baton_cond.notify_all()
            return at

    def _wake(self) -> None:
        with self._baton_cond:
            self._baton_cond.notify_all()

    def _thread_done(self) -> None:
        with self._live_lock:
            self._live -= 1
            last = self._live == 0
        if last and not self._halt.is_set():
            self.result = RunFinished("done")
            self._teardown("done")
        elif last and self.result is not None:
            self._teardown("aborted")

    def _ended(self) -> None:
        if self.link is not None:  # (its last segments have arrived: it ends with the run)
            self.link.stop()

    # --- one step -----------------------------------------------------------------------
    def _own_address(self, name: str) -> Address:
        """A bind address for socket ``name``: a path for Unix sockets, else loopback (on
        two hosts: the address of the host whose thread makes its calls)."""
        if self._unix_dir is not None:
            return f"{self._unix_dir}/{name}.sock"
        return (self._ip(name), 0)

    def _ip(self, name: str) -> str:
        """Loopback, or on two hosts the address of socket ``name``'s host."""
        if self.hosts is None:
            return self.family.loopback
        actor = next((s.actor for s in self.steps if s.socket == name), "server")
        return self.hosts.ip(host_of(actor), self.family.af)

    def _address_of(self, name: str) -> Address:
        ts = self.sockets.get(name)
        if ts is None or ts.last_local is None:
            return self._own_address(name) if self._unix_dir else (self._ip(name), self.port)
        if isinstance(ts.last_local, bytes):  # (an abstract name: written as it was bound)
            return ts.last_local.decode("utf-8", "surrogateescape")
        if isinstance(ts.last_local, str):
            return ts.last_local
        return tuple(ts.last_local[:2])

    def _resolve(self, step: Step, value: object) -> Any:
        """A step's argument as its call takes it: an address, a message, a produced
        value (a scenario's argument may be any of these, so the call's own types decide)."""
        if isinstance(value, AddressOf):
            return self._address_of(value.socket)
        if isinstance(value, Produce):
            if self.protocol is None:
                raise ValueError(f"{self.scenario.name} has no protocol to produce {value.name}")
            return getattr(self.protocol, value.name)(self)
        if not isinstance(value, Marker):
            return value
        if value is Marker.BIND_ADDRESS:
            if self._unix_dir is not None:
                return self._own_address(step.socket)
            return (self._ip(step.socket), self.port)
        if value is Marker.OWN_ADDRESS:
            return self._own_address(step.socket)
        if value is Marker.SERVER_ADDRESS:
            return self._address_of("server")
        if value is Marker.ECHO:
            return self.sockets[step.socket].last_received
        if value is Marker.MESSAGE:
            raise ValueError("MESSAGE is filled in when a message is queued")
        if value is Marker.LAST_PEER:
            peer = self.sockets[step.socket].last_peer
            if isinstance(peer, bytes):  # (an abstract name: as str, as it was bound)
                return peer.decode("utf-8", "surrogateescape")
            if peer is None or isinstance(peer, str):
                return peer
            return tuple(peer[:2])
        raise ValueError(value)

    def _wait_until_done(self, index: int | None) -> None:
        """Wait until the step ``index`` that runs alongside this one has finished."""
        if index is None:
            return
        with self._baton_cond:
            while index in self._running_together and not self._halt.is_set():
                self._baton_cond.wait(0.1)
        if self._halt.is_set():
            raise Stopped()

    def _bulk_size(self, step: Step) -> int:
        """Bytes a bulk step moves (its ``size``; 0: the run's)."""
        return self.size if not step.size else step.size

    def _preview_args(self, step: Step) -> str | None:
        """The call's arguments as they will be written, without making anything happen."""
        if any(isinstance(a, Produce) for a in step.args):
            return ", ".join(repr(a) for a in step.args)  # made only when the step runs
        if step.size is not None and (self.scenario.bulk or step.call is Call.RECV):
            return (
                f"<{self._bulk_size(step)} bytes, {step.args[0]} at a time>"
                if step.call is Call.SENDALL
                else f"{step.args[0]}  # until {self._bulk_size(step)} bytes"
            )
        try:
            args = tuple(self._resolve(step, a) for a in step.args)
            if step.call is Call.SOCKET:
                spec = self.scenario.socket_spec(step.socket)
                return call_args(Call.SOCKET, self.family.af, spec.transport)
            if step.call is Call.ACCEPT:
                return ""
            if step.call is Call.SHUTDOWN:
                return call_args(Call.SHUTDOWN, getattr(socket, args[0]))
            return call_args(step.call, *args)
        except (KeyError, ValueError, TypeError, AttributeError):
            return None

    def _perform(self, index: int, step: Step) -> CallEvent | None:
        args = tuple(self._resolve(step, a) for a in step.args)
        call = step.call
        if call is Call.SOCKET:
            spec = self.scenario.socket_spec(step.socket)
            event, ts = TracedSocket.create(
                self.tracer, step.socket, spec.role, self.family.af, spec.transport, step=index
            )
            self.sockets[step.socket] = ts
            return event
        ts = self.sockets[step.socket]
        if tls_calls.takes(ts, call):  # (TLS over the socket: Python's ssl)
            return tls_calls.perform(ts, call, args, index, step.timeout)
        if call is Call.ACCEPT:
            event, conn = ts.accept(args[0], step=index, timeout=step.timeout)
            if conn is not None:
                self.sockets[conn.name] = conn
            return event
        if call is Call.SETSOCKOPT:
            level, option, value = args
            return ts.setsockopt(level, option, value, step=index)
        if call is Call.SETBLOCKING:
            return ts.setblocking(args[0], step=index)
        if call is Call.SELECT:
            reads, writes, timeout = args
            return select_call(
                ts,
                [self.sockets[n] for n in reads],
                [self.sockets[n] for n in writes],
                timeout,
                step=index,
            )
        if call is Call.BIND:
            return ts.bind(args[0], step=index)
        if call is Call.LISTEN:
            return ts.listen(args[0], step=index)
        if call is Call.CONNECT:
            return ts.connect(args[0], step=index, timeout=step.timeout, wait=step.wait)
        if call is Call.SEND:
            return ts.send(args[0], step=index, timeout=step.timeout)
        if call is Call.SENDALL and self.scenario.bulk and step.size is not None:
            return ts.send_stream(self._bulk_size(step), args[0], step=index, timeout=step.timeout)
        if call is Call.SENDALL:
            return ts.sendall(args[0], step=index, timeout=step.timeout)
        if call is Call.RECV and step.size is not None:  # (a lesson's: its segments each
            partner = index - 1 if index and self.steps[index - 1].together else None  # shown)
            return ts.recv_exact(
                self._bulk_size(step),
                args[0],
                step=index,
                timeout=step.timeout,
                before_emit=lambda: self._wait_until_done(partner),
                summed=self.scenario.bulk,
            )
        if call is Call.RECV:
            return ts.recv(args[0], step=index, timeout=step.timeout)
        if call is Call.SENDTO:
            return ts.sendto(args[0], args[1], step=index, timeout=step.timeout)
        if call is Call.RECVFROM:
            return ts.recvfrom(args[0], step=index, timeout=step.timeout)
        if call is Call.SHUTDOWN:
            return ts.shutdown(getattr(socket, args[0]), step=index)
        if call is Call.CLOSE:
            return ts.close(step=index)
        raise ValueError(f"no way to perform {call}")
