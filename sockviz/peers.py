"""Runs with a real outside peer (``--listen``, ``--connect``), built from the options:
where the peer is, and the runner that meets it - for ``--trace`` and for the TUI alike."""

from __future__ import annotations

from typing import TYPE_CHECKING, TextIO

from sockviz.engine.families import OUTSIDE_TIMEOUT
from sockviz.engine.run.gate import Mode
from sockviz.options import Options, UsageError, say

if TYPE_CHECKING:
    from sockviz.engine.run import outside_peers as outside
def outside_endpoint(options: Options, err: TextIO | None = None) -> outside.Endpoint:
    """Resolve --listen/--connect's HOST (UsageError if it does not resolve). With ``err``,
    a listener on an address other than loopback gets one warning line there."""
    from sockviz.engine.run import outside_peers as outside
    host, port = options.listen if options.listen is not None else options.connect
    try:
        endpoint = outside.resolve(host, port, options.family)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    if err is not None and options.listen is not None and not endpoint.loopback:
        say(err, f"warning: listening on {endpoint}: it is reachable from other machines, "
                 "and whatever they send will be shown")
    return endpoint


def outside_watch(options: Options):
    """Where an outside peer's segments are watched: this machine's loopback or nowhere (a
    real peer lives in this machine's network, not in a private one). UsageError when
    ``--wire host`` cannot be had."""
    from sockviz.engine.wire.watch_point import decide
    from sockviz.engine.wire.capture import WireUnavailable

    try:
        return decide(options.wire, outside=True)
    except WireUnavailable as exc:
        raise UsageError(str(exc)) from None


def outside_runner_factory(options: Options, endpoint: outside.Endpoint | None = None):
    """A runner factory for the app, ``factory(scenario, consumer, *, family, port, mode,
    pace)``, that builds a :class:`~sockviz.engine.run.listen_runner.ListenRunner` or
    :class:`~sockviz.engine.run.connect_runner.ConnectRunner` from the options (the factory's own
    scenario, family and port are ignored: the address given decides). In the TUI a client
    reads until the server closes, so a user can keep typing lines; with ``--trace`` it
    stops after ``--timeout`` quiet seconds. ``factory.scenario`` and ``factory.endpoint``
    describe the run before it starts. UsageError if the host does not resolve."""
    from sockviz.engine.run import outside_peers as outside
    from sockviz.engine.run.outside_runner import outside_runner

    if endpoint is None:
        endpoint = outside_endpoint(options)
    watch = outside_watch(options)
    spec = _spec(options, endpoint, idle=bool(options.trace))

    def factory(scenario, consumer, *, family=None, port=None, mode=Mode.PLAY, pace=1.0):
        capture = watch.capture(endpoint.family.name)
        return outside_runner(
            spec, consumer, mode=mode, pace=pace, capture=capture,
            wire=watch.status(endpoint.family.name, capture is not None))

    factory.endpoint = endpoint
    factory.watch = watch
    factory.scenario = (outside.listen_scenario(endpoint) if spec["listen"]
                        else outside.connect_scenario(endpoint))
    return factory


def _spec(options: Options, endpoint: outside.Endpoint, idle: bool) -> dict:
    """What :func:`~sockviz.engine.run.outside_peers.outside_runner` builds the runner from (``idle``:
    a client stops after ``--timeout`` quiet seconds, as ``--trace`` wants)."""
    timeout = options.timeout or OUTSIDE_TIMEOUT
    return {"listen": options.listen is not None, "ip": endpoint.ip, "port": endpoint.port,
            "family": endpoint.family.name, "reply": options.reply, "send": options.send,
            "timeout": timeout, "idle": timeout if idle else None}


def outside_engine_factory(options: Options, endpoint: outside.Endpoint | None = None):
    """:func:`outside_runner_factory`'s twin for the TUI: the same runner, played in an
    engine process of its own (``factory.engine``, closed with the app), so that a flood's
    calls never wait for the app's frames - each process has its own interpreter lock.
    Checked here as there: UsageError for a host that does not resolve, or ``--wire host``
    where the wire cannot be watched (the engine process then decides for itself)."""
    from sockviz.engine.run.engine_process import EngineProcess, RemoteRunner

    local = outside_runner_factory(options, endpoint)
    local.watch.close()
    endpoint = local.endpoint
    spec = _spec(options, endpoint, idle=False)
    engine = EngineProcess(options.wire, outside=True)

    def factory(scenario, consumer, *, family=None, port=None, mode=Mode.PLAY, pace=1.0,
                pcap=None, **_):
        return RemoteRunner(engine, local.scenario, consumer, family=endpoint.family.name,
                            port=endpoint.port, mode=mode, pace=pace, pcap=pcap,
                            outside=spec)

    factory.endpoint, factory.watch, factory.scenario = endpoint, local.watch, local.scenario
    factory.engine = engine
    return factory
