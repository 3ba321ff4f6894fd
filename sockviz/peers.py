"""Runs with a real outside peer (``--listen``, ``--connect``), built from the options:
where the peer is, and the runner that meets it - for ``--trace`` and for the TUI alike."""

from __future__ import annotations

from typing import Any

from sockviz.engine.families import OUTSIDE_TIMEOUT
from sockviz.engine.run import outside_peers as outside
from sockviz.engine.run.engine_process import EngineProcess, RemoteRunner
from sockviz.engine.run.gate import Mode
from sockviz.engine.run.outside_runner import outside_runner
from sockviz.engine.run.runner_protocols import EventSink, Runner
from sockviz.engine.scenarios.scenario_types import Scenario
from sockviz.engine.wire.capture import WireUnavailable
from sockviz.engine.wire.watch_point import Watch, decide
from sockviz.options import ErrorStream, Options, UsageError, say


def outside_endpoint(options: Options, err: ErrorStream | None = None) -> outside.Endpoint:
    """Resolve --listen/--connect's HOST (UsageError if it does not resolve). With ``err``,
    a listener on an address other than loopback gets one warning line there."""
    given = options.listen if options.listen is not None else options.connect
    if given is None:
        raise UsageError("neither --listen nor --connect was given")  # (never: callers check)
    host, port = given
    try:
        endpoint = outside.resolve(host, port, options.family)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    if err is not None and options.listen is not None and not endpoint.loopback:
        say(
            err,
            f"warning: listening on {endpoint}: it is reachable from other machines, "
            "and whatever they send will be shown",
        )
    return endpoint


def outside_watch(options: Options) -> Watch:
    """Where an outside peer's segments are watched: this machine's loopback or nowhere (a
    real peer lives in this machine's network, not in a private one). UsageError when
    ``--wire host`` cannot be had."""
    try:
        return decide(options.wire, outside=True)
    except WireUnavailable as exc:
        raise UsageError(str(exc)) from None


class OutsideRunnerFactory:
    """A runner factory for the app, ``factory(scenario, consumer, *, family, port, mode,
    pace)``, that builds a :class:`~sockviz.engine.run.listen_runner.ListenRunner` or
    :class:`~sockviz.engine.run.connect_runner.ConnectRunner` from the options (the
    factory's own scenario, family and port are ignored: the address given decides). In the
    TUI a client reads until the server closes, so a user can keep typing lines; with
    ``--trace`` it stops after ``--timeout`` quiet seconds. :attr:`scenario` and
    :attr:`endpoint` describe the run before it starts. UsageError if the host does not
    resolve."""

    def __init__(self, options: Options, endpoint: outside.Endpoint | None = None) -> None:
        self.endpoint = endpoint if endpoint is not None else outside_endpoint(options)
        self.watch = outside_watch(options)
        self.spec = _spec(options, self.endpoint, idle=bool(options.trace))
        self.scenario: Scenario = (
            outside.listen_scenario(self.endpoint)
            if self.spec["listen"]
            else outside.connect_scenario(self.endpoint)
        )

    def __call__(
        self,
        scenario: Scenario | None,
        consumer: EventSink,
        *,
        family: str | None = None,
        port: int | None = None,
        mode: Mode = Mode.PLAY,
        pace: float = 1.0,
        **_: object,
    ) -> Runner:
        family_name = self.endpoint.family.name
        capture = self.watch.capture(family_name)
        runner: Runner = outside_runner(
            self.spec,
            consumer,
            mode=mode,
            pace=pace,
            capture=capture,
            wire=self.watch.status(family_name, capture is not None),
        )
        return runner


def outside_runner_factory(
    options: Options, endpoint: outside.Endpoint | None = None
) -> OutsideRunnerFactory:
    """The factory of the runners that meet the peer the options name (see the class)."""
    return OutsideRunnerFactory(options, endpoint)


def _spec(options: Options, endpoint: outside.Endpoint, idle: bool) -> dict[str, Any]:
    """What :func:`~sockviz.engine.run.outside_runner.outside_runner` builds the runner from
    (``idle``: a client stops after ``--timeout`` quiet seconds, as ``--trace`` wants)."""
    timeout = options.timeout or OUTSIDE_TIMEOUT
    return {
        "listen": options.listen is not None,
        "ip": endpoint.ip,
        "port": endpoint.port,
        "family": endpoint.family.name,
        "reply": options.reply,
        "send": options.send,
        "timeout": timeout,
        "idle": timeout if idle else None,
    }


class OutsideEngineFactory:
    """:class:`OutsideRunnerFactory`'s twin for the TUI: the same runner, played in an
    engine process of its own (:attr:`engine`, closed with the app), so that a flood's
    calls never wait for the app's frames - each process has its own interpreter lock.
    Checked here as there: UsageError for a host that does not resolve, or ``--wire host``
    where the wire cannot be watched (the engine process then decides for itself)."""

    def __init__(self, options: Options, endpoint: outside.Endpoint | None = None) -> None:
        local = OutsideRunnerFactory(options, endpoint)
        local.watch.close()
        self.endpoint, self.watch, self.scenario = local.endpoint, local.watch, local.scenario
        self.spec = _spec(options, self.endpoint, idle=False)
        self.engine = EngineProcess(options.wire, outside=True)

    def __call__(
        self,
        scenario: Scenario | None,
        consumer: EventSink,
        *,
        family: str | None = None,
        port: int | None = None,
        mode: Mode = Mode.PLAY,
        pace: float = 1.0,
        pcap: str | None = None,
        **_: object,
    ) -> RemoteRunner:
        return RemoteRunner(
            self.engine,
            self.scenario,
            consumer,
            family=self.endpoint.family.name,
            port=self.endpoint.port,
            mode=mode,
            pace=pace,
            pcap=pcap,
            outside=self.spec,
        )


def outside_engine_factory(
    options: Options, endpoint: outside.Endpoint | None = None
) -> OutsideEngineFactory:
    """The factory of the TUI's runners that meet the peer in an engine process."""
    return OutsideEngineFactory(options, endpoint)
