"""What the command line asks for, as one typed value, checked once.

:func:`from_arguments` turns argparse's namespace into :class:`Options`; :func:`check`
refuses every combination that cannot run (a :class:`UsageError`: one line for the user,
exit status 2) and resolves what the options name - the scenario (built in, or read from a
file), the recording to replay. Whatever runs next (``--trace``, the TUI, ``--serve``)
takes the checked options and nothing else. Standard library only.
"""

from __future__ import annotations

import argparse
import builtins
import os
import socket
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Protocol

from sockviz.app.user_settings import THEME_NAMES
from sockviz.drops import SAID, never_dropped
from sockviz.engine import scenarios
from sockviz.engine.families import FAMILIES
from sockviz.engine.record.inert_text import inert
from sockviz.engine.scenarios.scenario_types import Scenario

if TYPE_CHECKING:  # (a type only: reading recordings costs --help ~12 ms it never needs)
    from sockviz.engine.record.recordings import Recording

#: The port ``--serve`` listens on when no --port is given.
SERVE_PORT = 8000

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2


class ErrorStream(Protocol):
    """Where :func:`say` writes: standard error, or the command's own that cannot fail."""

    def write(self, text: str, /) -> object: ...

    def flush(self) -> object: ...


class UsageError(Exception):
    """A mistake in what the user asked for: reported in one line, exit status 2."""


def say(err: ErrorStream, line: str) -> None:
    """One line to the user on stderr, made inert: it can quote a file, an argument or a
    peer (every message sockviz prints goes through here)."""
    err.write(f"sockviz: {inert(line)}\n")
    err.flush()


@dataclass
class Options:
    """The command line, typed. See the module docstring."""

    scenario: str = scenarios.DEFAULT
    """A built-in scenario's name, or a scenario file's path."""
    scenario_given: bool = False
    family: str = "ipv4"
    port: int = 0
    port_given: bool = False
    closer: str | None = None
    size: int | None = None
    step: bool = False
    quiz: bool = False
    trace: bool = False
    list: bool = False
    record: str | None = None
    overwrite: bool = False
    replay: str | None = None
    serve: bool = False
    host: str | None = None
    export: str | None = None
    listen: tuple[str | None, int] | None = None
    connect: tuple[str | None, int] | None = None
    send: bytes | None = None
    reply: bytes | None = None
    timeout: float | None = None
    wire: str = "auto"
    """``auto``, ``host``, ``private`` or ``off``: where (and whether) to watch the wire."""
    pcap: str | None = None
    link: str | None = None
    """``--link``: what the link between two hosts does (``delay=50ms,loss=2%``)."""
    drop: builtins.list[str] | None = None  # (``list`` is a field here: --list)
    """``--drop``: segments lost on the link (``syn``, ``data:2``)."""
    hold: bool = False
    """``--hold``: each segment waits at its sender until a key lets it cross."""
    theme: str | None = None
    """``--theme``: the TUI's theme (None: the one remembered, else the default)."""
    loaded: Scenario | None = field(default=None, repr=False)
    """The scenario, once :func:`check` has resolved it."""
    recording: Recording | None = field(default=None, repr=False)
    """With ``--replay``: the recording read."""

    @property
    def outside(self) -> str | None:
        """``listen`` or ``connect`` when the other end is a real program, else None."""
        if self.listen is not None:
            return "listen"
        return "connect" if self.connect is not None else None

    @property
    def scenario_file(self) -> str | None:
        """The absolute path of the scenario file ``--scenario`` names, if it names one."""
        return os.path.abspath(self.scenario) if is_scenario_file(self.scenario) else None


def is_scenario_file(name: str) -> bool:
    """``--scenario`` names a file (``path/to/file.toml``) rather than a built-in."""
    return name.endswith(".toml") or os.sep in name


def from_arguments(namespace: argparse.Namespace) -> Options:
    """The parsed command line as :class:`Options` (not checked yet)."""
    values = {
        f.name: getattr(namespace, f.name) for f in fields(Options) if hasattr(namespace, f.name)
    }
    options = Options(
        **{k: v for k, v in values.items() if v is not None and k not in ("scenario", "port")}
    )
    if namespace.scenario is not None:
        options.scenario, options.scenario_given = namespace.scenario, True
    if namespace.port is not None:
        options.port, options.port_given = namespace.port, True
    return options


def check(options: Options) -> Options:
    """Refuse what cannot run, resolve what the options name; the options, ready."""
    _theme(options)
    _record_replay(options)
    _wire(options)
    if options.export and not options.trace:
        raise UsageError("--export needs --trace (in the TUI, press x to export)")
    if options.quiz and options.trace:
        raise UsageError("--quiz asks questions in the TUI; leave out --trace")
    if options.export and options.outside:
        raise UsageError("--export draws scenario runs; not --listen/--connect")
    if options.serve or options.host is not None:
        if not options.outside:
            _choices(options)  # before serving, not in every tab
        _serve(options)
        if not options.outside:
            _link(options)  # (a bad --link or a --drop that cannot match: not in each tab)
        return options
    _choices(options)
    if options.list:
        return options
    _outside(options)
    _link(options)
    return options


def command_link(options: Options) -> LinkAsked | None:
    """What the command line says of the link - (settings, drops, hold), with "" and ()
    for what it does not say - or None: nothing."""
    if options.link is not None or options.drop or options.hold:
        return (options.link or "", tuple(options.drop or ()), options.hold)
    return None


#: A run's link: (the ``--link`` settings, the ``--drop`` list, ``--hold``).
LinkAsked = tuple[str, tuple[str, ...], bool]


class DropLog(Protocol):
    """What :func:`say_missed_drops` reads of a run's link (its log of segments)."""

    log: list[tuple[float, str, str | None, str]]
    data_packets: int
    """The TCP and UDP packets it carried (what ``cut:N`` counts)."""


def link_of(options: Options, scenario: Scenario | None = None) -> LinkAsked | None:
    """The run's link - (settings, drops, hold), the command line's laid over the
    scenario's ``[link]`` key by key (:func:`~sockviz.engine.scenarios.linktable.merge_link`)
    - or None: loopback."""
    from sockviz.engine.scenarios.linktable import merge_link  # (--help never needs it)

    scenario = scenario if scenario is not None else options.loaded
    return merge_link(command_link(options), getattr(scenario, "link", None))


def say_merged_link(options: Options, err: ErrorStream) -> None:
    """When the command line's link settings were laid over the scenario's ``[link]`` (key
    by key: :func:`link_of`): one line saying what the run's link does, so that what the
    table said and the command line kept is seen, not guessed (the TUI's link strip shows
    the same)."""
    scenario = resolve_scenario(options)  # (resolved by check: no file read again)
    given, table, link = command_link(options), scenario.link, link_of(options)
    if given is None or table is None or link is None:
        return
    # (the link's modules cost --help ~20 ms: loaded only for a run with two hosts)
    from sockviz.engine.lab.link_spec import LinkSpec, describe

    settings, drops, _hold = link
    said = " ".join([f"--link {given[0]}"] * bool(given[0]) + [f"--drop {d}" for d in given[1]])
    say(
        err,
        f"note: the link: {describe(LinkSpec.parse(settings, drops))} "
        f"({scenario.name}'s [link], with {said} laid over it key by key)",
    )


def _link(options: Options) -> None:
    """--link, --drop, --hold: read now (one line for a bad one), and refused where no
    two hosts can be."""
    scenario = resolve_scenario(options)  # (resolved by check: no file read again)
    given = options.link is not None or options.drop or options.hold
    if not given and (options.replay or scenario.link is None):
        return
    what = "--link" if options.link is not None else "--drop" if options.drop else "--hold"
    if not given:
        what = f"{scenario.name}'s link"
    if options.outside:
        raise UsageError(
            f"{what} joins two hosts of sockviz's own; a real peer is on this "
            f"machine's network (leave out --{options.outside})"
        )
    if options.replay and given:
        raise UsageError(f"--replay plays what the recording says: leave out {what}")
    if options.family == "unix":
        raise UsageError(f"{what}: Unix-domain sockets have no link (use --family ipv4 or ipv6)")
    reason = scenario.loopback_only
    if reason:
        raise UsageError(f"{what}: {scenario.name} runs on loopback only: {reason}")
    if options.hold and options.trace:
        raise UsageError(
            "--hold waits for a key at each segment: it is for the TUI's step mode, not --trace"
        )
    from sockviz.engine.lab.link_spec import LinkSpec  # (~20 ms --help never needs: see above)

    link = link_of(options)
    if link is None:
        return
    settings, drops, _hold = link
    try:
        LinkSpec.parse(settings, drops)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    if options.replay is None:
        never = never_dropped(scenario, drops)
        if never:
            where = "--drop" if options.drop else f"{scenario.name}'s [link] drop"
            raise UsageError(f"{where} {never[0]}: {never[1]}")


def say_missed_drops(options: Options, link: DropLog | None, err: ErrorStream) -> None:
    """At the end of a two-host run: one line for each drop asked for that never happened
    (its kind came fewer times than N: ``--drop data:5`` where 3 data segments crossed)."""
    if link is None:
        return
    drops = (link_of(options) or ("", (), False))[1]
    log = [(kind, what) for _t, _side, kind, what in link.log if what != "released"]
    for drop in drops:
        kind, _, nth = drop.strip().lower().partition(":")
        if kind == "cut" and link.data_packets < int(nth or 1):  # (it carried fewer)
            say(
                err,
                f"note: --drop {drop} never happened: the link carried "
                f"{link.data_packets} TCP or UDP packets",
            )
    for drop in drops_missed(drops, [kind for kind, what in log if what == "dropped"]):
        kind = drop.strip().lower().partition(":")[0]
        seen = sum(1 for k, _what in log if k == kind)
        say(
            err,
            f"note: --drop {drop} never happened: the link saw {seen} "
            f"{SAID[kind]}{'s' * (seen != 1)} in this run",
        )


def drops_missed(drops: tuple[str, ...], dropped: list[str | None]) -> list[str]:
    """The drops asked for that did not happen, given the kinds of the segments the link
    did drop, in order (``Link.log``'s ``dropped``): a kind's Nth drop happened only if
    that many of its kind were dropped."""
    from sockviz.engine.lab.link_spec import Drop  # (~20 ms --help never needs: see above)

    missed: list[str] = []
    for kind in dict.fromkeys(Drop.parse(d).kind for d in drops if Drop.parse(d).kind != "cut"):
        asked = sorted(
            (d for d in drops if Drop.parse(d).kind == kind), key=lambda d: Drop.parse(d).nth
        )
        missed += asked[dropped.count(kind) :]
    return missed


def resolve_scenario(options: Options) -> Scenario:
    """The scenario the options ask for, built with its options (``--closer``), or read
    from the scenario file ``--scenario`` names (once)."""
    if options.loaded is not None:
        return options.loaded
    if is_scenario_file(options.scenario):
        # (reading TOML costs --help ~10 ms: only when a file is named)
        from sockviz.engine.scenarios.scenario_files import ScenarioFileError, load

        if options.closer is not None:
            raise UsageError("--closer applies to time-wait, not to a scenario file")
        try:
            loaded = load(options.scenario)
        except ScenarioFileError as exc:
            raise UsageError(f"scenario file {exc}") from None
    else:
        try:
            loaded = scenarios.get(options.scenario, closer=options.closer)
        except (scenarios.UnknownScenario, ValueError) as exc:
            raise UsageError(str(exc)) from None
    if options.size is not None and not loaded.bulk:
        raise UsageError(f"--size applies to bulk, not to {loaded.name}")
    options.loaded = loaded
    return loaded


def _choices(options: Options) -> None:
    scenario = resolve_scenario(options)
    if options.family not in FAMILIES:
        raise UsageError(f"unknown family {options.family!r} (use: {', '.join(FAMILIES)})")
    if options.family not in scenario.families:
        raise UsageError(f"{scenario.name} cannot run on {options.family}")
    if options.family == "ipv6" and not socket.has_ipv6 and options.recording is None:
        raise UsageError("IPv6 is not available in this Python; try --family ipv4")


def _theme(options: Options) -> None:
    """``--theme``: a theme's short name (``projector``) or its full one
    (``sockviz-projector``); the full one from here on."""
    if options.theme is not None and f"sockviz-{options.theme}" in THEME_NAMES:
        options.theme = f"sockviz-{options.theme}"
    if options.theme is not None and options.theme not in THEME_NAMES:
        short = ", ".join(name.removeprefix("sockviz-") for name in THEME_NAMES)
        raise UsageError(f"unknown theme {options.theme!r} (use: {short})")
    if options.theme is not None and (options.trace or options.list):
        raise UsageError("--theme applies to the TUI; --trace and --list draw no colours")


def _wire(options: Options) -> None:
    if options.pcap and options.serve:
        raise UsageError("--pcap keeps one run's frames; --serve starts many (leave it out)")
    if options.pcap and options.outside:
        raise UsageError("--pcap keeps a scenario run's frames; for a real peer use tcpdump -i lo")
    if options.pcap and options.wire == "off":
        raise UsageError("--pcap needs the wire watched: leave out --wire off")
    if options.pcap and options.replay:
        raise UsageError("--pcap keeps captured frames; a replay captures none")
    if options.pcap and options.family == "unix":
        raise UsageError(
            "--pcap: Unix-domain sockets have no wire (the kernel copies the "
            "bytes from one socket to the other); use --family ipv4 or ipv6"
        )
    if options.pcap and not options.overwrite and os.path.lexists(options.pcap):
        raise UsageError(
            f"{options.pcap} exists already: --pcap will not overwrite it (add "
            "--overwrite, or name a new file)"
        )
    if options.outside and options.wire == "private":
        raise UsageError(
            f"--{options.outside} meets a real peer on this machine's network: "
            "--wire private cannot see it (use host, or auto)"
        )


def _record_replay(options: Options) -> None:
    """--record and --replay misused; with --replay, read the file and take the scenario
    and family from it."""
    if options.overwrite and not options.record and not options.pcap:
        raise UsageError("--overwrite applies to --record and --pcap")
    if options.record and options.outside:
        raise UsageError("--record keeps scenario runs; it does not apply to --listen/--connect")
    if options.replay is None:
        return
    if options.record:
        raise UsageError("--replay plays a recording; it cannot --record one at the same time")
    if options.outside:
        raise UsageError("--replay plays a recording; leave out --listen/--connect")
    for option, given in (
        ("--scenario", options.scenario_given),
        ("--port", options.port_given),
        ("--family", options.family != "ipv4"),
        ("--closer", options.closer is not None),
        ("--size", options.size is not None),
    ):
        if given:
            raise UsageError(f"--replay plays what the recording says: leave out {option}")
    # (~12 ms --help never needs: only when --replay names a file)
    from sockviz.engine.record.recordings import RecordingError, read_recording

    try:
        recording = read_recording(options.replay)
    except RecordingError as exc:
        raise UsageError(f"not a recording sockviz can play: {exc}") from None
    except OSError as exc:
        raise UsageError(f"cannot read {options.replay}: {exc.strerror or exc}") from None
    if is_scenario_file(recording.scenario):  # recorded from a scenario file: read it again
        if not os.path.isfile(recording.scenario):
            raise UsageError(
                f"{options.replay}, line 1: it was recorded from the scenario "
                f"file {recording.scenario}, which is not there any more"
            )
    elif recording.scenario not in scenarios.REGISTRY:
        raise UsageError(
            f"{options.replay}, line 1: unknown scenario {recording.scenario!r} (see --list)"
        )
    options.scenario, options.family = recording.scenario, recording.family
    options.closer, options.size = recording.closer, recording.size
    options.recording = recording


def _serve(options: Options) -> None:
    if not options.serve:
        raise UsageError("--host applies to --serve")
    for option, given in (
        ("--trace", options.trace),
        ("--record", options.record),
        ("--replay", options.replay),
        ("--export", options.export),
        ("--list", options.list),
        ("--listen/--connect", options.outside),
    ):
        if given:
            raise UsageError(f"--serve serves the TUI; it does not go with {option}")
    if options.port_given and options.port == 0:
        raise UsageError("--serve needs a port a browser can be told: 1-65535")


def _outside(options: Options) -> None:
    """Options that do not go together with (or without) --listen/--connect."""
    listen, connect = options.listen, options.connect
    if listen is not None and connect is not None:
        raise UsageError("--listen and --connect cannot be used together")
    if not options.outside:
        given_alone: tuple[tuple[str, object, str], ...] = (
            ("--send", options.send, "--connect"),
            ("--reply", options.reply, "--listen"),
            ("--timeout", options.timeout, "--connect"),
        )
        for option, value, needs in given_alone:
            if value is not None:
                raise UsageError(f"{option} needs {needs}")
        return
    given = f"--{options.outside}"
    if options.scenario_given:
        raise UsageError(f"{given} runs no scenario: leave out --scenario")
    if options.port_given:
        raise UsageError(
            f"--port applies to scenarios; give the port with {given} "
            f"{'[HOST:]PORT' if listen is not None else 'HOST:PORT'}"
        )
    for option, value in (("--closer", options.closer), ("--size", options.size)):
        if value is not None:
            raise UsageError(f"{option} applies to scenarios, not to {given}")
    if listen is not None and (options.send is not None or options.timeout is not None):
        raise UsageError(
            f"{'--send' if options.send is not None else '--timeout'} applies "
            "to --connect; --listen answers with --reply"
        )
    if connect is not None and options.reply is not None:
        raise UsageError("--reply applies to --listen; --connect sends with --send")
    if connect is not None and connect[1] == 0:
        raise UsageError("argument --connect: port 0 cannot be connected to (use 1-65535)")
    if options.family not in ("ipv4", "ipv6"):
        raise UsageError(f"{given} uses TCP over ipv4 or ipv6, not {options.family!r}")
    if options.family == "ipv6" and not socket.has_ipv6:
        raise UsageError("IPv6 is not available in this Python; try --family ipv4")
