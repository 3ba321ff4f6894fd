"""The ``sockviz`` command: argument parsing, ``--list``, ``--trace``, and the TUI.

Every mistake a user can make on the command line ends in one line on stderr and exit
status 2; no traceback ever reaches a user. Textual is imported only when the TUI starts,
so ``--list`` and ``--trace`` start fast and run where Textual is not installed.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Sequence
from typing import NoReturn, TextIO

from sockviz import __version__
from sockviz.engine import scenarios
from sockviz.engine.families import OUTSIDE_TIMEOUT
from sockviz.engine.record.inert_text import inert
from sockviz.options import (
    EXIT_FAILED,
    EXIT_OK,
    EXIT_USAGE,
    SERVE_PORT,
    ErrorStream,
    UsageError,
    check,
    from_arguments,
    say,
)


class _Parser(argparse.ArgumentParser):
    """argparse, but an error is one line (no usage dump) and exit status 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(
            EXIT_USAGE, inert(f"{self.prog}: error: {message} (see {self.prog} --help)") + "\n"
        )


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
    match = re.fullmatch(
        r"\s*([0-9]{1,20}(?:\.[0-9]{1,20})?)\s*([KMGT]?)(?:i?B)?\s*", text, re.IGNORECASE
    )
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
        default=None,
        help=f"which scenario to run (default: {scenarios.DEFAULT}; see --list), or a "
        "scenario file written in TOML (e.g. examples/echo.toml)",
    )
    parser.add_argument(
        "--family",
        metavar="F",
        default="ipv4",
        help="address family: ipv4 (127.0.0.1), ipv6 (::1) or unix (an abstract-namespace "
        "name, @sockviz-<hex>/...: no socket file is left behind); default ipv4",
    )
    parser.add_argument(
        "--port",
        metavar="N",
        type=port_number,
        default=None,
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
        "--theme",
        metavar="NAME",
        default=None,
        help="TUI: dark (the default), light, or projector (black on white, high contrast; "
        "sockviz-dark and so on are the same); t switches in the app, and the choice is "
        "remembered in $XDG_CONFIG_HOME/sockviz/config.toml (~/.config/...). "
        "TEXTUAL_THEME is not read.",
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
        "--record",
        metavar="FILE",
        help="write the run to FILE as it happens: with --trace the run printed; in the TUI "
        "the run on screen (r or a new scenario starts the file afresh). FILE must not exist "
        "yet, unless --overwrite",
    )
    group.add_argument(
        "--overwrite",
        action="store_true",
        help="with --record: replace FILE if it exists (never through a symlink)",
    )
    group.add_argument(
        "--replay",
        metavar="FILE",
        help="play back a recording made with --record: in the TUI with every control, or "
        "with --trace printing its events; no socket is opened",
    )
    group = parser.add_argument_group(
        "browser",
        "serve the TUI to web browsers (each tab gets its own app and sockets)",
    )
    group.add_argument(
        "--serve",
        action="store_true",
        help=f"serve sockviz at http://HOST:PORT (--port, default {SERVE_PORT}); the scenario "
        "options given go to every tab's app",
    )
    group.add_argument(
        "--host",
        metavar="HOST",
        default=None,
        help="with --serve: the address to serve on (default 127.0.0.1: this machine only)",
    )
    group = parser.add_argument_group(
        "the wire",
        "the real TCP segments and UDP datagrams under the calls",
    )
    group.add_argument(
        "--wire",
        choices=("auto", "host", "private", "off"),
        default=None,
        help="where to watch them: host (this machine's loopback; needs root or "
        "CAP_NET_RAW), private (a network of the run's own: no privilege needed), off; "
        "default auto: host where allowed, else private, else off (saying why)",
    )
    group.add_argument(
        "--pcap",
        metavar="FILE",
        help="also write the run's frames to FILE, a pcap that tcpdump and Wireshark open "
        "(with --trace when the run ends; in the TUI each run's when it stops); opened "
        "before the run starts; a new file, unless --overwrite",
    )
    group = parser.add_argument_group(
        "two hosts and a link",
        "the client and the server on two hosts of their own (network namespaces: two real "
        "TCP/IP stacks) joined by a link sockviz carries, that you can slow down or break",
    )
    group.add_argument(
        "--link",
        metavar="SPEC",
        help="what the link does: delay=50ms, jitter=5ms, rate=1mbit, loss=2%%, seed=N "
        "(the same seed loses the same segments), mtu=1280 (the hosts' MTU, 1280 to 1500), "
        "queue=20 (with a rate: packets that may wait; one more is lost), pmtu=1280 (a "
        "router whose next hop takes at most that: a bigger packet gets ICMP back), "
        "joined by commas: delay=50ms,loss=2%%",
    )
    group.add_argument(
        "--drop",
        metavar="WHAT",
        action="append",
        help="lose one segment on the link: syn, syn-ack, ack, data or fin, :N for the Nth "
        "(--drop data:2); or break the link: cut:N loses the Nth TCP or UDP packet and every "
        "one after "
        "it; may be given more than once; implies two hosts",
    )
    group.add_argument(
        "--hold",
        action="store_true",
        help="TUI, step mode: hold each segment at its sending side until a key lets it "
        "cross (implies two hosts)",
    )
    parser.add_argument(
        "--export",
        choices=("mermaid", "text", "graph"),
        help="with --trace: print the run's ladder as a Mermaid sequenceDiagram or as plain "
        "text, or its time-sequence graphs as SVG (graph), instead of JSON Lines (in the "
        "TUI, x writes them all to files, and the graphs as PNG too)",
    )
    _add_outside_arguments(parser)
    return parser


def list_scenarios(out: TextIO | None, err: ErrorStream) -> int:
    """``--list``: the scenarios, one a line; one line on ``err`` and exit status 1 when
    standard output cannot take them (``--list > /dev/full``), never a traceback."""
    from sockviz.output import Output  # (and threading: --help needs neither)

    width = max(len(name) for name in scenarios.REGISTRY)
    output = Output(out)
    output.write(
        "".join(
            f"{name:<{width}}  {scenario.summary}\n"
            for name, scenario in scenarios.REGISTRY.items()
        )
    )
    return EXIT_FAILED if output.say_failed(err, "the list") else EXIT_OK


class _Stderr:
    """Standard error that cannot fail: closed (``2>&-``: Python has None there) or full,
    a message is lost, but the exit status stays the one the message goes with."""

    def __init__(self, err: ErrorStream | None) -> None:
        self.err = err

    def write(self, text: str, /) -> None:
        if self.err is None:
            return
        try:
            self.err.write(text)
        except (AttributeError, OSError, ValueError):
            pass

    def flush(self) -> None:
        if self.err is None:
            return
        try:
            self.err.flush()
        except (AttributeError, OSError, ValueError):
            pass


# --- real outside peers: --listen, --connect -----------------------------------------------


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
                if code
                else "a lone backslash at the end (write \\\\ for a backslash)"
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
            raise argparse.ArgumentTypeError(f"{text!r} is not [HOST]:PORT (e.g. [::1]:8080)")
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
        "--listen",
        metavar="[HOST:]PORT",
        type=host_port,
        default=None,
        help="listen there for real outside clients and show each connection, its bytes and "
        "its close; with --trace, until Ctrl-C. A HOST other than loopback is reachable "
        "from other machines",
    )
    group.add_argument(
        "--connect",
        metavar="HOST:PORT",
        type=host_port,
        default=None,
        help="connect to a real outside server, send, and show what it answers",
    )
    group.add_argument(
        "--send",
        metavar="TEXT",
        type=escaped_text,
        default=None,
        help=r"--connect: the bytes to send once connected (\r \n \t \\ \xNN understood)",
    )
    group.add_argument(
        "--reply",
        metavar="TEXT",
        type=escaped_text,
        default=None,
        help="--listen: answer each connection's first bytes with TEXT, then end it "
        "(FIN; closed when the client closes too); escapes as for --send",
    )
    group.add_argument(
        "--timeout",
        metavar="SECONDS",
        type=seconds,
        default=None,
        help=f"--connect: how long to wait for the handshake, and for more bytes "
        f"(default {OUTSIDE_TIMEOUT:g})",
    )


def main(argv: Sequence[str] | None = None) -> int:
    """The ``sockviz`` command; its exit status."""
    if sys.stderr is None:  # (`2>&-`: argparse writes its usage errors there too)
        sys.stderr = _Stderr(None)
    out, err = sys.stdout, _Stderr(sys.stderr)
    arguments = build_parser().parse_args(argv)
    try:
        options = check(from_arguments(arguments))
        # (the modes' modules are imported when chosen: --help and --list load none of
        # them, and the TUI's, Textual, is only loaded to draw)
        if options.serve:
            from sockviz.launch import run_serve

            return run_serve(options, err)
        if options.list:
            return list_scenarios(out, err)
        if options.outside:
            from sockviz.peers import outside_endpoint

            endpoint = outside_endpoint(options, err)
            if options.trace:
                from sockviz.headless import run_outside_trace

                return run_outside_trace(options, out, err, endpoint)
        elif options.trace:
            from sockviz.headless import run_trace

            return run_trace(options, out, err)
        elif options.record:  # can it be written? (the app writes it afresh at each run)
            from sockviz.headless import open_recorder

            open_recorder(options, options.scenario_file or options.scenario).close()
        if options.pcap:  # (checked the same way, before the first call)
            from sockviz.headless import open_pcap

            open_pcap(options).close()
        from sockviz.launch import run_tui

        return run_tui(options, err)
    except UsageError as exc:
        say(err, f"error: {exc}")
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130
