"""From checked options to something running: the TUI (its configuration and its runner),
a real outside peer's runner, and ``--serve``.

The one place that knows both the command line's options and the app: the app imports
nothing from here or from the command line, and Textual is imported only when the TUI or
the browser mode starts (``--list`` and ``--trace`` never load it).
"""

from __future__ import annotations

import collections
import os
import shlex
import socket
import subprocess
import sys
from collections.abc import MutableMapping

from sockviz.engine import scenarios as registry
from sockviz.engine.run.gate import Mode
from sockviz.engine.run.runner_protocols import RunnerFactory
from sockviz.engine.scenarios.scenario_types import Scenario
from sockviz.options import (
    EXIT_OK,
    EXIT_USAGE,
    SERVE_PORT,
    ErrorStream,
    Options,
    UsageError,
    command_link,
    link_of,
    resolve_scenario,
    say,
)


def run_tui(options: Options, err: ErrorStream) -> int:
    """The TUI for the options; its exit status."""
    try:  # (here: Textual may be missing, and --trace and --list never need it)
        from sockviz.app.app import AppConfig, SockvizApp
    except ImportError as exc:  # only a missing Textual is the user's to fix; not our bugs
        if not (exc.name or "").startswith(("textual", "rich")):
            raise
        say(
            err,
            "error: the TUI needs Textual, which is not installed here (pip install "
            "'textual==8.2.8'); --trace and --list work without it",
        )
        return EXIT_USAGE
    # The TUI's first frame waits for every module imported before it, and this process
    # runs no socket (its engine process does): a replay's runner, an outside peer's and
    # the capture are imported below only for the runs that use them.
    if not options.replay and not options.outside and link_of(options) is None:
        try:
            check_wire(options.wire, options.family)
        except UsageError as exc:
            say(err, f"error: {exc}")
            return EXIT_USAGE

    config = AppConfig(
        scenario=options.scenario,
        family=options.family,
        port=options.port,
        step=options.step,
        closer=options.closer,
        size=options.size,
        record=options.record,
        quiz=options.quiz,
        wire=options.wire,
        pcap=options.pcap,
    )
    # (only what the command line says: each run lays it over its own scenario's [link])
    config.link = command_link(options)
    factory: RunnerFactory | None = None  # (None: the app's own engine process)
    scenarios: MutableMapping[str, Scenario] | None = None
    if options.scenario_file:
        scenario = resolve_scenario(options)  # (resolved by check: no file read again)
        scenarios = collections.ChainMap(  # (only its first map is ever written to)
            {scenario.name: scenario},
            registry.REGISTRY,  # type: ignore[arg-type]  # (read-only: a lazy Mapping)
        )
        config.scenario, config.scenario_file = scenario.name, options.scenario_file
    if options.recording is not None:
        from sockviz.engine.run.replay_runner import replay_factory  # (first frame: see above)

        factory, config.replay = replay_factory(options.recording.events), options.replay
    if options.outside:
        from sockviz.peers import outside_engine_factory  # (first frame: see above)

        outside = outside_engine_factory(options)
        factory = outside
        config.scenario, config.outside = outside.scenario.name, options.outside
        config.where = str(outside.endpoint)
        scenarios = {outside.scenario.name: outside.scenario}
    app = SockvizApp(config, runner_factory=factory, scenarios=scenarios, **theme_of(options))
    if config.outside and not config.step:
        app.mode = Mode.FAST  # a real peer should not wait a classroom pace for each call
    app.run()
    return app.return_code or 0


def theme_of(options: Options) -> dict:
    """The TUI's theme and the user's settings (read from the config file, and written to
    when the theme changes): ``--theme`` wins over the theme the file remembers. A
    ``--serve`` tab reads the file but never writes it: a student pressing t in a browser
    changes that tab, not the teacher's remembered theme."""
    from sockviz.app.terminal import WEB_TAB_DRIVER
    from sockviz.app.user_settings import read_settings

    settings = read_settings()
    served = os.environ.get("TEXTUAL_DRIVER") == WEB_TAB_DRIVER
    return {"theme": options.theme or settings.theme, "settings": None if served else settings}


def check_wire(mode: str, family: str) -> None:
    """``--wire host`` or ``private`` asked for by name in the TUI: UsageError now, in one
    line, when it cannot be had (the engine process decides for itself later, and ``auto``
    says why in the app when it falls back)."""
    if mode not in ("host", "private") or family == "unix":
        return
    if mode == "host":
        from sockviz.engine.wire.capture import Capture, WireUnavailable  # (see run_tui)

        try:
            Capture().close()
        except WireUnavailable as exc:
            raise UsageError(f"--wire host: {exc}") from None
        return
    # (a private network can only be tried in a process of its own)
    probe = subprocess.run(
        [sys.executable, "-c", "from sockviz.engine.lab.namespaces import enter_private as e; e()"],
        check=False,
        capture_output=True,
        text=True,
        timeout=10,
    )
    if probe.returncode != 0:
        reason = (probe.stderr.strip().splitlines() or ["it failed"])[-1].split(": ", 1)[-1]
        raise UsageError(f"--wire private: {reason}")


def serve_command(options: Options) -> list[str]:
    """The command each browser tab runs: this sockviz's TUI with the scenario options given."""
    command = [sys.executable, "-m", "sockviz"]
    if options.scenario_given:
        command += ["--scenario", options.scenario_file or options.scenario]
    if options.family != "ipv4":
        command += ["--family", options.family]
    for option, value in (("--closer", options.closer), ("--size", options.size)):
        if value is not None:
            command += [option, str(value)]
    command += [flag for flag, on in (("--step", options.step), ("--quiz", options.quiz)) if on]
    if options.wire not in (None, "auto"):
        command += ["--wire", options.wire]
    if options.link is not None:
        command += ["--link", options.link]
    for drop in options.drop or []:
        command += ["--drop", drop]
    if options.hold:
        command.append("--hold")
    if options.theme:
        command += ["--theme", options.theme]
    return command


def run_serve(options: Options, err: ErrorStream) -> int:
    """``--serve``: the TUI in this machine's web browser, through textual-serve (the
    Origin check, the cap on tabs and the ending of tab apps live in :mod:`sockviz.serve`)."""
    host = options.host or "127.0.0.1"
    port = options.port if options.port_given else SERVE_PORT
    try:  # (here: textual-serve may be missing, and only --serve needs it)
        from sockviz import serve
    except ImportError as exc:  # only a missing textual-serve is the user's to fix
        if not (exc.name or "").startswith(("textual_serve", "aiohttp", "jinja2")):
            raise
        raise UsageError("--serve needs textual-serve (pip install textual-serve)") from None
    try:  # a clear word now, rather than a traceback from the web server later
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        with socket.socket(infos[0][0], socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind(infos[0][4])
    except socket.gaierror:
        raise UsageError(f"--host {host!r} does not resolve") from None
    except OSError as exc:
        raise UsageError(f"cannot serve on {host}:{port}: {exc.strerror or exc}") from None
    access = serve.Access(host, port)
    argv = serve_command(options)
    tabs = f"at most {serve.MAX_TABS} tabs at once; each runs: {shlex.join(argv)}"
    if access.token is None:
        say(err, f"serving at {access.urls()[0]} for this machine's browser ({tabs}); Ctrl+C stops")
    else:  # (the token is printed here, once: whoever has this link can join)
        say(
            err,
            f"warning: serving beyond this machine: whoever has the link below and "
            f"can reach {serve.url_host(host)}:{port} can run sockviz on this machine",
        )
        say(err, f"serving at {', '.join(access.urls())} ({tabs}); Ctrl+C stops")
    say(  # (?fontsize= is the page's text size in pixels: serve_page)
        err,
        f"on a projector, open {access.urls(serve.PROJECTOR_FONT_SIZE)[0]} (larger text; "
        f"?fontsize= sets it, default {serve.DEFAULT_FONT_SIZE})",
    )
    serve.SockvizServer(argv, host=host, port=port, access=access).serve()
    return EXIT_OK
