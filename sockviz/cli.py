"""The ``sockviz`` command: argument parsing, ``--list``, ``--trace``, and the TUI.

Every mistake a user can make on the command line ends in one line on stderr and exit
status 2; no traceback ever reaches a user. Textual is imported only when the TUI starts,
so ``--list`` and ``--trace`` start fast and run where Textual is not installed.
"""

from __future__ import annotations

import argparse
import errno
import os
import re
import signal
import socket
import sys
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, NoReturn, TextIO

from sockviz import __version__
from sockviz.engine import scenarios
from sockviz.engine.events import CallEvent, Event, KernelEvent, RunFinished
from sockviz.engine.families import FAMILIES, OUTSIDE_TIMEOUT
from sockviz.engine.gate import Mode
from sockviz.engine.inert import inert

if TYPE_CHECKING:  # the runners are imported where a run needs them: the TUI never does
    from sockviz.engine import outside

#: The port ``--serve`` listens on when no --port is given.
SERVE_PORT = 8000

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2


def say(err: TextIO, line: str) -> None:
    """One line to the user on stderr, made inert: it can quote a file, an argument or a
    peer (every message sockviz prints goes through here)."""
    err.write(f"sockviz: {inert(line)}\n")
    err.flush()


class UsageError(Exception):
    """A mistake in what the user asked for: reported in one line, exit status 2."""


class _Parser(argparse.ArgumentParser):
    """argparse, but an error is one line (no usage dump) and exit status 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, inert(f"{self.prog}: error: {message} (see {self.prog} --help)")
                  + "\n")


def port_number(text: str) -> int:
    """A TCP/UDP port, 0-65535 (0: let the kernel pick): ASCII digits only (``int()`` would
    also take spaces and other scripts' digits)."""
    if not re.fullmatch(r"-?[0-9]{1,6}", text):
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number (use 0-65535)")
    value = int(text)
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"{value} is out of range (use 0-65535)")
    return value


_UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}


def byte_size(text: str) -> int:
    """``64M``, ``4G``, ``1.5G``, ``1000``: a size in bytes (K, M, G, T are powers of 1024)."""
    match = re.fullmatch(r"\s*([0-9]{1,20}(?:\.[0-9]{1,20})?)\s*([KMGT]?)(?:i?B)?\s*", text,
                         re.IGNORECASE)
    if not match:
        raise argparse.ArgumentTypeError(f"{text!r} is not a size (e.g. 1000, 64M, 4G)")
    value = int(float(match.group(1)) * _UNITS[match.group(2).upper()])
    if not 1 <= value <= 1 << 50:
        raise argparse.ArgumentTypeError(f"{text!r} is out of range (1 byte to 1P)")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="sockviz",
        description=(
            "Watch a real TCP or UDP socket live: sockviz runs a server and a client on this "
            "machine and shows every real socket call, the bytes that cross, and the "
            "kernel's own TCP state. With no options it opens the TUI on tcp-echo."
        ),
        epilog="Examples: sockviz --step | sockviz --trace --scenario udp-echo --family ipv6",
    )
    parser.add_argument("--version", action="version", version=f"sockviz {__version__}")
    parser.add_argument(
        "--list", action="store_true", help="list the scenarios, one a line, and exit"
    )
    parser.add_argument(
        "--trace",
        action="store_true",
        help="run the scenario for real, as fast as it goes, and print one JSON line per event",
    )
    parser.add_argument(
        "--scenario",
        metavar="NAME|FILE",
        default=scenarios.DEFAULT,
        help=f"which scenario to run (default: {scenarios.DEFAULT}; see --list), or a "
             "scenario file written in TOML (e.g. examples/echo.toml)",
    )
    parser.add_argument(
        "--family",
        metavar="F",
        default="ipv4",
        help="address family: ipv4 (127.0.0.1), ipv6 (::1) or unix (a socket file in a "
        "private temporary folder, removed afterwards); default ipv4",
    )
    parser.add_argument(
        "--port",
        metavar="N",
        type=port_number,
        default=0,
        help="the server's port (default 0: the kernel picks a free one, and it is shown)",
    )
    parser.add_argument(
        "--closer",
        choices=("client", "server"),
        default=None,
        help="time-wait: which side closes first (default client)",
    )
    parser.add_argument(
        "--size",
        metavar="SIZE",
        type=byte_size,
        default=None,
        help="bulk: how many bytes to send, e.g. 64M or 4G (default 64M)",
    )
    parser.add_argument(
        "--step",
        action="store_true",
        help="TUI: start paused in step mode (each key press makes one real call)",
    )
    parser.add_argument(
        "--quiz",
        action="store_true",
        help="TUI: predict mode - before each call, guess what it will do (implies --step; "
        "g turns it on and off in the app)",
    )
    group = parser.add_argument_group(
        "record and replay",
        "keep a run in a file (the trace format after one header line) and play it back "
        "later, opening no socket",
    )
    group.add_argument(
        "--record", metavar="FILE",
        help="write the run to FILE as it happens: with --trace the run printed; in the TUI "
        "the run on screen (r or a new scenario starts the file afresh). FILE must not exist "
        "yet, unless --overwrite",
    )
    group.add_argument(
        "--overwrite", action="store_true",
        help="with --record: replace FILE if it exists (never through a symlink)",
    )
    group.add_argument(
        "--replay", metavar="FILE",
        help="play back a recording made with --record: in the TUI with every control, or "
        "with --trace printing its events; no socket is opened",
    )
    group = parser.add_argument_group(
        "browser", "serve the TUI to web browsers (each tab gets its own app and sockets)",
    )
    group.add_argument(
        "--serve", action="store_true",
        help=f"serve sockviz at http://HOST:PORT (--port, default {SERVE_PORT}); the scenario "
        "options given go to every tab's app",
    )
    group.add_argument(
        "--host", metavar="HOST", default=None,
        help="with --serve: the address to serve on (default 127.0.0.1: this machine only)",
    )
    parser.add_argument(
        "--export", choices=("mermaid", "text"),
        help="with --trace: print the run's ladder as a Mermaid sequenceDiagram or as plain "
        "text instead of JSON Lines (in the TUI, x writes both to files)",
    )
    _add_outside_arguments(parser)
    return parser


def is_scenario_file(name: str) -> bool:
    """``--scenario`` names a file (``path/to/file.toml``) rather than a built-in."""
    return name.endswith(".toml") or os.sep in name


def scenario_file(args: argparse.Namespace) -> str | None:
    """The absolute path of the scenario file ``--scenario`` names, if it names one."""
    return os.path.abspath(args.scenario) if is_scenario_file(args.scenario) else None


def resolve_scenario(args: argparse.Namespace):
    """The scenario the arguments ask for, built with its options (``--closer``), or read
    from the scenario file ``--scenario`` names."""
    if is_scenario_file(args.scenario):
        loaded = getattr(args, "loaded_scenario", None)
        if loaded is None:
            from sockviz.engine.scenarios.files import ScenarioFileError, load

            if args.closer is not None:
                raise UsageError("--closer applies to time-wait, not to a scenario file")
            try:
                loaded = args.loaded_scenario = load(args.scenario)
            except ScenarioFileError as exc:
                raise UsageError(f"scenario file {exc}") from None
        if args.size is not None:
            raise UsageError(f"--size applies to bulk, not to {loaded.name}")
        return loaded
    try:
        scenario = scenarios.get(args.scenario, closer=args.closer)
    except scenarios.UnknownScenario as exc:
        raise UsageError(str(exc)) from None
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    if args.size is not None and not scenario.bulk:
        raise UsageError(f"--size applies to bulk, not to {scenario.name}")
    return scenario


def _check_choices(args: argparse.Namespace) -> None:
    scenario = resolve_scenario(args)
    if args.family not in FAMILIES:
        raise UsageError(f"unknown family {args.family!r} (use: {', '.join(FAMILIES)})")
    if args.family not in scenario.families:
        raise UsageError(f"{scenario.name} cannot run on {args.family}")
    if args.family == "ipv6" and not socket.has_ipv6 and getattr(args, "replay_of", None) is None:
        raise UsageError("IPv6 is not available in this Python; try --family ipv4")


def list_scenarios(out: TextIO) -> None:
    width = max(len(name) for name in scenarios.REGISTRY)
    out.writelines(f"{name:<{width}}  {scenario.summary}\n" for name, scenario in scenarios.REGISTRY.items())


def explain_abort(result: RunFinished, family: str, port: int) -> tuple[str, int]:
    """Turn an aborted run into one line for the user and an exit status."""
    event = result.failed
    host = FAMILIES[family].loopback
    if event is not None:
        call = event.call.value
        if event.error == "EADDRINUSE":
            return (
                (f"port {port} is already in use on {host} (EADDRINUSE); "
                "pick another with --port, or --port 0 to let the kernel choose"),
                EXIT_USAGE,
            )
        if event.error in ("EAFNOSUPPORT", "EADDRNOTAVAIL") and family == "ipv6":
            return (
                (f"IPv6 is not available on this machine ({call}() failed: {event.error}); "
                "try --family ipv4"),
                EXIT_USAGE,
            )
        if event.error == "EACCES" and call == "bind":
            return (
                (f"port {port} needs special privileges (EACCES); use a port above 1023 "
                "or --port 0"),
                EXIT_USAGE,
            )
    return f"the run stopped early: {result.reason}", EXIT_FAILED


class _TraceWriter:
    """The ``--trace`` consumer: one JSON line per trace event, flushed as it happens."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.lock = threading.Lock()
        self.broken = False

    def __call__(self, event: Event) -> None:
        if not isinstance(event, (CallEvent, KernelEvent)) or self.broken:
            return
        from sockviz.engine.trace import to_line  # (imported once; then a dict lookup)

        with self.lock:
            try:
                self.out.write(to_line(event) + "\n")
                self.out.flush()
            except BrokenPipeError:
                self.broken = True  # e.g. `sockviz --trace | head`: stop writing, keep going
            except OSError:
                self.broken = True


def run_trace(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from sockviz.engine.runner import Runner
    from sockviz.engine.sink import Tee

    exported: list = []
    writer = _TraceWriter(out) if not args.export else exported.append
    consumer, recorder = writer, None
    scenario = resolve_scenario(args)
    checks = _Checks()
    consumer = Tee(checks, writer)
    if args.record:
        recorder = open_recorder(args, scenario_file(args) or scenario.name)
        consumer = Tee(recorder, checks, writer)
    if args.replay_of is not None:
        from sockviz.engine.replay import ReplayRunner

        runner = ReplayRunner(scenario, consumer, args.replay_of.events, family=args.family,
                              mode=Mode.FAST)
    else:
        runner = Runner(scenario, consumer, family=args.family, port=args.port,
                        mode=Mode.FAST, size=args.size)
    previous = signal.getsignal(signal.SIGTERM)
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        runner.start()
        while not runner.wait(0.1):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        runner.stop()
        if recorder is not None:
            recorder.close()
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGTERM, previous)
    if recorder is not None and recorder.failed is not None:
        say(err, f"error: the recording {args.record} is incomplete: "
                 f"{recorder.failed.strerror or recorder.failed}")
        return EXIT_FAILED
    result = runner.result
    if args.export:
        from sockviz.view.export import FORMATS

        draw = FORMATS[args.export][0]
        try:
            out.write(draw(exported, f"sockviz {scenario.name} · {args.family}", scenario))
            out.flush()
        except BrokenPipeError:
            pass
    for check in checks.unmet:
        say(err, f"expectation not met: step {check.step + 1} ({check.socket}."
                 f"{check.call.value}): expected {check.expected}, got {check.got}")
    if result is not None and result.outcome == "aborted":
        message, status = explain_abort(result, args.family, args.port)
        say(err, f"error: {message}")
        return status
    if checks.unmet:
        return EXIT_FAILED
    if checks.count and result is not None and result.outcome == "done" and scenario_file(args):
        say(err, f"{'the' if checks.count == 1 else f'all {checks.count}'} "
                 f"expectation{'s' * (checks.count > 1)} of {args.scenario} met")
    return EXIT_OK


class _Checks:
    """Counts a scenario file's expectations as the run checks them; keeps the unmet."""

    def __init__(self) -> None:
        self.count = 0
        self.unmet: list = []

    def __call__(self, event: Event) -> None:
        from sockviz.engine.events import Checked

        if isinstance(event, Checked):
            self.count += 1
            if not event.met:
                self.unmet.append(event)


def open_recorder(args: argparse.Namespace, scenario: str):
    """The --record file, created with its header (UsageError if it cannot be: it exists
    and --overwrite was not given, it is a symlink, or it cannot be written)."""
    from sockviz.engine.recording import Recorder

    try:
        return Recorder(args.record, scenario, args.family, args.closer, args.size,
                        replace=args.overwrite)
    except FileExistsError:
        raise UsageError(f"{args.record} exists already: --record will not overwrite it "
                         "(add --overwrite, or name a new file)") from None
    except OSError as exc:
        reason = ("it is a symlink, which --record never follows" if exc.errno == errno.ELOOP
                  else exc.strerror or exc)
        raise UsageError(f"cannot write the recording {args.record}: {reason}") from None


def check_record_replay(args: argparse.Namespace) -> None:
    """UsageError for --record/--replay misused; with --replay, read the file and take the
    scenario and family from it (``args.replay_of``: the recording)."""
    args.replay_of = None
    outside_given = args.listen is not None or args.connect is not None
    if args.record and outside_given:
        raise UsageError("--record keeps scenario runs; it does not apply to --listen/--connect")
    if args.overwrite and not args.record:
        raise UsageError("--overwrite applies to --record")
    if args.replay is None:
        return
    if args.record:
        raise UsageError("--replay plays a recording; it cannot --record one at the same time")
    if outside_given:
        raise UsageError("--replay plays a recording; leave out --listen/--connect")
    for option, given in (("--scenario", not isinstance(args.scenario, _NotGiven)),
                          ("--port", not isinstance(args.port, _NoPort)),
                          ("--family", args.family != "ipv4"),
                          ("--closer", args.closer is not None),
                          ("--size", args.size is not None)):
        if given:
            raise UsageError(f"--replay plays what the recording says: leave out {option}")
    from sockviz.engine.recording import RecordingError, read_recording

    try:
        recording = read_recording(args.replay)
    except RecordingError as exc:
        raise UsageError(f"not a recording sockviz can play: {exc}") from None
    except OSError as exc:
        raise UsageError(f"cannot read {args.replay}: {exc.strerror or exc}") from None
    if is_scenario_file(recording.scenario):  # recorded from a scenario file: read it again
        if not os.path.isfile(recording.scenario):
            raise UsageError(f"{args.replay}, line 1: it was recorded from the scenario file "
                             f"{recording.scenario}, which is not there any more")
    elif recording.scenario not in scenarios.REGISTRY:
        raise UsageError(f"{args.replay}, line 1: unknown scenario {recording.scenario!r} "
                         "(see --list)")
    if recording.family not in FAMILIES:
        raise UsageError(f"{args.replay}, line 1: unknown family {recording.family!r}")
    args.scenario, args.family = _NotGiven(recording.scenario), recording.family
    args.closer, args.size = recording.closer, recording.size
    args.replay_of = recording


def serve_command(args: argparse.Namespace) -> list[str]:
    """The command each browser tab runs: this sockviz's TUI with the scenario options given."""
    command = [sys.executable, "-m", "sockviz"]
    if not isinstance(args.scenario, _NotGiven):
        command += ["--scenario", scenario_file(args) or args.scenario]
    if args.family != "ipv4":
        command += ["--family", args.family]
    for option, value in (("--closer", args.closer), ("--size", args.size)):
        if value is not None:
            command += [option, str(value)]
    if args.step:
        command.append("--step")
    if args.quiz:
        command.append("--quiz")
    return command


def run_serve(args: argparse.Namespace, err: TextIO) -> int:
    """``--serve``: the TUI in this machine's web browser, through textual-serve (the
    Origin check, the cap on tabs and the ending of tab apps live in :mod:`sockviz.serve`)."""
    import shlex

    if not args.serve:
        raise UsageError("--host applies to --serve")
    for option, given in (("--trace", args.trace), ("--record", args.record),
                          ("--replay", args.replay), ("--export", args.export),
                          ("--list", args.list),
                          ("--listen/--connect", args.listen is not None or args.connect is not None)):
        if given:
            raise UsageError(f"--serve serves the TUI; it does not go with {option}")
    host = args.host or "127.0.0.1"
    port = SERVE_PORT if isinstance(args.port, _NoPort) else args.port
    if port == 0:
        raise UsageError("--serve needs a port a browser can be told: 1-65535")
    try:
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
    url = serve.server_url(host, port)
    if not serve.is_loopback(host):
        say(err, f"warning: serving on {url}: anyone who can reach it can "
                 "run sockviz on this machine")
    argv = serve_command(args)
    say(err, f"serving at {url} for this machine's browser (at most {serve.MAX_TABS} tabs "
             f"at once; each runs: {shlex.join(argv)}); Ctrl+C stops")
    serve.SockvizServer(argv, host=host, port=port).serve()
    return EXIT_OK


def _raise_interrupt(signum, frame) -> NoReturn:
    raise KeyboardInterrupt


def run_tui(args: argparse.Namespace, err: TextIO) -> int:
    try:
        from sockviz.launch import run_app
    except ImportError as exc:  # only a missing Textual is the user's to fix; not our bugs
        if not (exc.name or "").startswith(("textual", "rich")):
            raise
        err.write(
            "sockviz: error: the TUI needs Textual, which is not installed here "
            "(pip install 'textual==8.2.8'); --trace and --list work without it\n"
        )
        return EXIT_USAGE
    return run_app(args)


# --- real outside peers: --listen, --connect -----------------------------------------------


class _NotGiven(str):
    """A default that knows it is one, so ``--scenario tcp-echo`` differs from no --scenario."""


class _NoPort(int):
    """The same for ``--port``: ``--port 0`` differs from no --port."""


_ESCAPES = {"r": b"\r", "n": b"\n", "t": b"\t", "\\": b"\\"}


def escaped_text(text: str) -> bytes:
    r"""TEXT for ``--send``/``--reply``: ``\r``, ``\n``, ``\t``, ``\\`` and ``\xNN`` understood.

    Every other character stands for itself, in UTF-8. An unknown escape is a usage error
    (a typo should not go out on the wire).
    """
    out = bytearray()
    i = 0
    while i < len(text):
        ch = text[i]
        if ch != "\\":
            out += ch.encode("utf-8", "surrogateescape")
            i += 1
            continue
        code = text[i + 1 : i + 2]
        if code in _ESCAPES:
            out += _ESCAPES[code]
            i += 2
        elif code == "x" and re.fullmatch(r"[0-9a-fA-F]{2}", text[i + 2 : i + 4]):
            out.append(int(text[i + 2 : i + 4], 16))
            i += 4
        else:
            shown = "\\" + (text[i + 1 : i + 4] if code == "x" else code)
            if not (shown.isascii() and shown.isprintable()):
                shown = ascii(shown)
            raise argparse.ArgumentTypeError(
                f"{shown} is not an escape sockviz knows (use \\r \\n \\t \\\\ or \\xNN)"
                if code else "a lone backslash at the end (write \\\\ for a backslash)"
            )
    return bytes(out)


def host_port(text: str) -> tuple[str | None, int]:
    """``[HOST:]PORT``: ``8080``, ``localhost:8080``, ``0.0.0.0:8080``, ``[::1]:8080``.

    HOST None means "the loopback of --family". An IPv6 address must be in brackets, or
    its last group could not be told from the port.
    """
    if text.startswith("["):
        end = text.find("]")
        if end < 0 or text[end + 1 : end + 2] != ":" or end == 1:
            raise argparse.ArgumentTypeError(
                f"{text!r} is not [HOST]:PORT (e.g. [::1]:8080)"
            )
        host, port_text = text[1:end], text[end + 2 :]
    elif ":" in text:
        host, _, port_text = text.rpartition(":")
        if ":" in host:
            raise argparse.ArgumentTypeError(
                f"{text!r}: write an IPv6 address in brackets, e.g. [::1]:8080"
            )
    else:
        host, port_text = "", text
    if any(c.isspace() for c in host):
        raise argparse.ArgumentTypeError(f"{host!r} is not a host name or address")
    if not re.fullmatch(r"[0-9]{1,5}", port_text):
        raise argparse.ArgumentTypeError(f"{port_text!r} is not a port number (use 0-65535)")
    return host or None, port_number(port_text)


def seconds(text: str) -> float:
    """A timeout: a number of seconds above 0 (at most an hour)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not 0 < value <= 3600:
        raise argparse.ArgumentTypeError(f"{text} is out of range (use more than 0, up to 3600)")
    return value


def _add_outside_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group(
        "real outside peers",
        "one end of the conversation is a real program outside sockviz (curl, nc, a "
        "browser, a server); HOST defaults to the loopback of --family",
    )
    group.add_argument(
        "--listen", metavar="[HOST:]PORT", type=host_port, default=None,
        help="listen there for real outside clients and show each connection, its bytes and "
        "its close; with --trace, until Ctrl-C. A HOST other than loopback is reachable "
        "from other machines",
    )
    group.add_argument(
        "--connect", metavar="HOST:PORT", type=host_port, default=None,
        help="connect to a real outside server, send, and show what it answers",
    )
    group.add_argument(
        "--send", metavar="TEXT", type=escaped_text, default=None,
        help=r"--connect: the bytes to send once connected (\r \n \t \\ \xNN understood)",
    )
    group.add_argument(
        "--reply", metavar="TEXT", type=escaped_text, default=None,
        help="--listen: answer each connection's first bytes with TEXT, then end it "
        "(FIN; closed when the client closes too); escapes as for --send",
    )
    group.add_argument(
        "--timeout", metavar="SECONDS", type=seconds, default=None,
        help=f"--connect: how long to wait for the handshake, and for more bytes "
        f"(default {OUTSIDE_TIMEOUT:g})",
    )
    parser.set_defaults(scenario=_NotGiven(scenarios.DEFAULT), port=_NoPort(0))


def wants_outside(args: argparse.Namespace) -> bool:
    """True when the command line asks for a real outside peer."""
    return getattr(args, "listen", None) is not None or getattr(args, "connect", None) is not None


def check_outside(args: argparse.Namespace) -> None:
    """UsageError for options that do not go together with (or without) --listen/--connect."""
    listen, connect = args.listen, args.connect
    if listen is not None and connect is not None:
        raise UsageError("--listen and --connect cannot be used together")
    if listen is None and connect is None:
        for option, value, needs in (("--send", args.send, "--connect"),
                                     ("--reply", args.reply, "--listen"),
                                     ("--timeout", args.timeout, "--connect")):
            if value is not None:
                raise UsageError(f"{option} needs {needs}")
        return
    given = "--listen" if listen is not None else "--connect"
    if not isinstance(args.scenario, _NotGiven):
        raise UsageError(f"{given} runs no scenario: leave out --scenario")
    if not isinstance(args.port, _NoPort):
        raise UsageError(f"--port applies to scenarios; give the port with {given} "
                         f"{'[HOST:]PORT' if listen is not None else 'HOST:PORT'}")
    for option, value in (("--closer", args.closer), ("--size", args.size)):
        if value is not None:
            raise UsageError(f"{option} applies to scenarios, not to {given}")
    if listen is not None and (args.send is not None or args.timeout is not None):
        raise UsageError(f"{'--send' if args.send is not None else '--timeout'} applies to "
                         "--connect; --listen answers with --reply")
    if connect is not None and args.reply is not None:
        raise UsageError("--reply applies to --listen; --connect sends with --send")
    if connect is not None and connect[1] == 0:
        raise UsageError("argument --connect: port 0 cannot be connected to (use 1-65535)")
    if args.family not in ("ipv4", "ipv6"):
        raise UsageError(f"{given} uses TCP over ipv4 or ipv6, not {args.family!r}")
    if args.family == "ipv6" and not socket.has_ipv6:
        raise UsageError("IPv6 is not available in this Python; try --family ipv4")


def outside_endpoint(args: argparse.Namespace, err: TextIO | None = None) -> outside.Endpoint:
    """Resolve --listen/--connect's HOST (UsageError if it does not resolve).

    With ``err``, a listener on an address other than loopback gets one warning line there.
    """
    from sockviz.engine import outside

    host, port = args.listen if args.listen is not None else args.connect
    try:
        endpoint = outside.resolve(host, port, args.family)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    if err is not None and args.listen is not None and not endpoint.loopback:
        say(err, f"warning: listening on {endpoint}: it is reachable from other machines, "
                 "and whatever they send will be shown")
    return endpoint


def outside_runner_factory(args: argparse.Namespace, endpoint: outside.Endpoint | None = None):
    """A runner factory for the app, ``factory(scenario, consumer, *, family, port, mode,
    pace)``, that builds a :class:`~sockviz.engine.outside.ListenRunner` or
    :class:`~sockviz.engine.outside.ConnectRunner` from the command line.

    It reads ``args.listen``/``args.connect`` (``(host or None, port)``), ``args.family``,
    ``args.send``, ``args.reply``, ``args.timeout`` and ``args.trace``. The factory's own
    ``scenario``, ``family`` and ``port`` arguments are ignored: the command line's address
    decides. In the TUI (no ``--trace``) a client reads until the server closes, so a user
    can keep typing lines; with ``--trace`` it stops after ``--timeout`` quiet seconds.
    ``factory.scenario`` and ``factory.endpoint`` describe the run before it starts.
    Raises UsageError if the host does not resolve.
    """
    from sockviz.engine import outside

    if endpoint is None:
        endpoint = outside_endpoint(args)
    timeout = args.timeout or OUTSIDE_TIMEOUT
    listening = args.listen is not None

    def factory(scenario, consumer, *, family=None, port=None, mode=Mode.PLAY, pace=1.0):
        if listening:
            return outside.ListenRunner(
                consumer, endpoint.ip, endpoint.port, endpoint.family, reply=args.reply,
                mode=mode, pace=pace,
            )
        return outside.ConnectRunner(
            consumer, endpoint.ip, endpoint.port, endpoint.family, send=args.send,
            timeout=timeout, idle=timeout if args.trace else None, mode=mode, pace=pace,
        )

    factory.endpoint = endpoint
    factory.scenario = (outside.listen_scenario(endpoint) if listening
                        else outside.connect_scenario(endpoint))
    return factory


def explain_outside_abort(
    result: RunFinished, endpoint: outside.Endpoint, timeout: float
) -> tuple[str, int]:
    """Turn an aborted --listen/--connect run into one line for the user and an exit status."""
    event = result.failed
    if event is None:
        return f"the run stopped early: {result.reason}", EXIT_FAILED
    error, call = event.error, event.call.value
    where, port, ip = str(endpoint), endpoint.port, endpoint.ip
    if call == "connect":
        if error == "ECONNREFUSED":
            return ((f"connection refused by {where} (ECONNREFUSED): nothing is listening "
                    "on that port"), EXIT_USAGE)
        if error in ("ETIMEDOUT", "EINPROGRESS", "EAGAIN"):
            return ((f"no answer from {where} within {timeout:g} s ({error}); check the host "
                    "and port, or wait longer with --timeout"), EXIT_USAGE)
        if error in ("EHOSTUNREACH", "ENETUNREACH"):
            return f"{where} cannot be reached ({error}): no route to it", EXIT_USAGE
        if error in ("EINVAL", "EADDRNOTAVAIL"):
            return ((f"{where} cannot be connected to from here ({error}); a link-local "
                    "address (fe80::...) is not supported: use a global or loopback one"),
                    EXIT_USAGE)
    if call == "bind":
        if error == "EADDRINUSE":
            return ((f"port {port} is already in use on {ip} (EADDRINUSE); pick another "
                    "port, or port 0 to let the kernel choose"), EXIT_USAGE)
        if error == "EACCES":
            return ((f"port {port} needs special privileges (EACCES); use a port above 1023, "
                    "or port 0"), EXIT_USAGE)
        if error == "EADDRNOTAVAIL":
            return ((f"{ip} is not an address of this machine (EADDRNOTAVAIL); listen on one "
                    "of its own addresses, or leave HOST out for loopback"), EXIT_USAGE)
    if error == "EAFNOSUPPORT":
        return ((f"{endpoint.family.name} is not available on this machine ({call}() failed: "
                f"{error})"), EXIT_USAGE)
    return f"the run stopped early: {result.reason}", EXIT_FAILED


def run_outside_trace(
    args: argparse.Namespace, out: TextIO, err: TextIO, endpoint: outside.Endpoint
) -> int:
    """--listen/--connect with --trace: JSON Lines until the peer is done or Ctrl-C/SIGTERM.

    A listener runs until interrupted; then every socket is closed (each close a line) and
    the exit status is 0. Signals that come while it closes are ignored, so the trace is
    always finished.
    """
    writer = _TraceWriter(out)
    timeout = args.timeout or OUTSIDE_TIMEOUT
    runner = outside_runner_factory(args, endpoint)(
        None, writer, family=args.family, port=endpoint.port, mode=Mode.FAST, pace=1.0
    )
    main_thread = threading.current_thread() is threading.main_thread()
    handled = (signal.SIGINT, signal.SIGTERM)
    previous = {sig: signal.getsignal(sig) for sig in handled} if main_thread else {}
    try:
        for sig in previous:
            signal.signal(sig, _raise_interrupt)
        runner.start()
        while not runner.wait(0.1):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        for sig in previous:
            signal.signal(sig, signal.SIG_IGN)
        runner.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    result = runner.result
    if result is not None and result.outcome == "aborted":
        message, status = explain_outside_abort(result, endpoint, timeout)
        say(err, f"error: {message}")
        return status
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    out, err = sys.stdout, sys.stderr
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        check_record_replay(args)
        if args.export and not args.trace:
            raise UsageError("--export needs --trace (in the TUI, press x to export)")
        if args.quiz and args.trace:
            raise UsageError("--quiz asks questions in the TUI; leave out --trace")
        if args.export and (args.listen is not None or args.connect is not None):
            raise UsageError("--export draws scenario runs; not --listen/--connect")
        if args.serve or args.host is not None:
            if args.listen is None and args.connect is None:
                _check_choices(args)  # before serving, not in every tab
            return run_serve(args, err)
        _check_choices(args)
        if args.list:
            list_scenarios(out)
            return EXIT_OK
        check_outside(args)
        if wants_outside(args):
            endpoint = outside_endpoint(args, err)
            if args.trace:
                return run_outside_trace(args, out, err, endpoint)
            return run_tui(args, err)  # the app builds its runner with outside_runner_factory
        if args.trace:
            return run_trace(args, out, err)
        if args.record:  # can it be written? (the app writes it afresh at each run's start)
            open_recorder(args, scenario_file(args) or args.scenario).close()
        return run_tui(args, err)
    except UsageError as exc:
        say(err, f"error: {exc}")
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130
