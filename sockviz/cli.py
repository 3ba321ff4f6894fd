"""The ``sockviz`` command: argument parsing, ``--list``, ``--trace``, and the TUI.

Every mistake a user can make on the command line ends in one line on stderr and exit
status 2; no traceback ever reaches a user. Textual is imported only when the TUI starts,
so ``--list`` and ``--trace`` start fast and run where Textual is not installed.
"""

from __future__ import annotations

import argparse
import signal
import socket
import sys
import threading
from collections.abc import Sequence
from typing import NoReturn, TextIO

from sockviz import __version__
from sockviz.engine import scenarios
from sockviz.engine.events import CallEvent, Event, KernelEvent, RunFinished
from sockviz.engine.gate import Mode
from sockviz.engine.runner import FAMILIES, Runner
from sockviz.engine.trace import to_line

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2


class UsageError(Exception):
    """A mistake in what the user asked for: reported in one line, exit status 2."""


class _Parser(argparse.ArgumentParser):
    """argparse, but an error is one line (no usage dump) and exit status 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def port_number(text: str) -> int:
    """A TCP/UDP port, 0-65535 (0: let the kernel pick)."""
    try:
        value = int(text, 10)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number (use 0-65535)") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"{value} is out of range (use 0-65535)")
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
        metavar="NAME",
        default=scenarios.DEFAULT,
        help=f"which scenario to run (default: {scenarios.DEFAULT}; see --list)",
    )
    parser.add_argument(
        "--family",
        metavar="F",
        default="ipv4",
        help="address family: ipv4 (127.0.0.1) or ipv6 (::1); default ipv4",
    )
    parser.add_argument(
        "--port",
        metavar="N",
        type=port_number,
        default=0,
        help="the server's port (default 0: the kernel picks a free one, and it is shown)",
    )
    parser.add_argument(
        "--step",
        action="store_true",
        help="TUI: start paused in step mode (each key press makes one real call)",
    )
    return parser


def _check_choices(args: argparse.Namespace) -> None:
    try:
        scenario = scenarios.get(args.scenario)
    except scenarios.UnknownScenario as exc:
        raise UsageError(str(exc)) from None
    if args.family not in FAMILIES:
        raise UsageError(f"unknown family {args.family!r} (use: {', '.join(FAMILIES)})")
    if args.family not in scenario.families:
        raise UsageError(f"{scenario.name} cannot run on {args.family}")
    if args.family == "ipv6" and not socket.has_ipv6:
        raise UsageError("IPv6 is not available in this Python; try --family ipv4")


def list_scenarios(out: TextIO) -> None:
    width = max(len(name) for name in scenarios.REGISTRY)
    for name, scenario in scenarios.REGISTRY.items():
        out.write(f"{name:<{width}}  {scenario.summary}\n")


def explain_abort(result: RunFinished, family: str, port: int) -> tuple[str, int]:
    """Turn an aborted run into one line for the user and an exit status."""
    event = result.failed
    host = FAMILIES[family].loopback
    if event is not None:
        call = event.call.value
        if event.error == "EADDRINUSE":
            return (
                f"port {port} is already in use on {host} (EADDRINUSE); "
                "pick another with --port, or --port 0 to let the kernel choose",
                EXIT_USAGE,
            )
        if event.error in ("EAFNOSUPPORT", "EADDRNOTAVAIL") and family == "ipv6":
            return (
                f"IPv6 is not available on this machine ({call}() failed: {event.error}); "
                "try --family ipv4",
                EXIT_USAGE,
            )
        if event.error == "EACCES" and call == "bind":
            return (
                f"port {port} needs special privileges (EACCES); use a port above 1023 "
                "or --port 0",
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
        with self.lock:
            try:
                self.out.write(to_line(event) + "\n")
                self.out.flush()
            except BrokenPipeError:
                self.broken = True  # e.g. `sockviz --trace | head`: stop writing, keep going
            except OSError:
                self.broken = True


def run_trace(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    writer = _TraceWriter(out)
    runner = Runner(
        scenarios.get(args.scenario), writer, family=args.family, port=args.port, mode=Mode.FAST
    )
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
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGTERM, previous)
    result = runner.result
    if result is not None and result.outcome == "aborted":
        message, status = explain_abort(result, args.family, args.port)
        err.write(f"sockviz: error: {message}\n")
        return status
    return EXIT_OK


def _raise_interrupt(signum, frame) -> NoReturn:
    raise KeyboardInterrupt


def run_tui(args: argparse.Namespace, err: TextIO) -> int:
    try:
        from sockviz.app.app import run_app
    except ImportError:
        err.write(
            "sockviz: error: the TUI is not part of this build yet; "
            "try sockviz --trace or sockviz --list\n"
        )
        return EXIT_USAGE
    return run_app(args)


def main(argv: Sequence[str] | None = None) -> int:
    out, err = sys.stdout, sys.stderr
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        _check_choices(args)
        if args.list:
            list_scenarios(out)
            return EXIT_OK
        if args.trace:
            return run_trace(args, out, err)
        return run_tui(args, err)
    except UsageError as exc:
        err.write(f"sockviz: error: {exc}\n")
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130
