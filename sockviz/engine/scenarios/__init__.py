"""The built-in scenarios, by name.

Each is a :class:`~sockviz.engine.scenarios.scenario_types.Scenario`, data either way: a scenario
file beside this module (``refused.toml``: the format a teacher writes, read by
:mod:`~sockviz.engine.scenarios.scenario_files`) or, where it needs more than that format says (a
protocol object, steps run together, options, a typed message), a module. This registry
lists them in the order ``--list`` shows them.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path

from sockviz.engine.scenarios import (
    address_in_use,
    backlog_full,
    broken_pipe,
    bulk,
    congestion,
    keepalive,
    message_boundaries,
    mss,
    multi_client,
    nagle,
    nonblocking,
    path_mtu,
    simultaneous_close,
    simultaneous_open,
    slow_link,
    tcp_echo,
    time_wait,
    tls,
    udp_echo,
    udp_loss,
    websocket,
    zero_window,
)
from sockviz.engine.scenarios.scenario_types import Scenario


class ScenarioRegistry(Mapping[str, Scenario]):
    """The built-ins by name, in ``--list`` order. A scenario file is read the first time
    its scenario is asked for: the TUI's first frame does not wait for a TOML parser."""

    def __init__(self, entries: Iterable[tuple[str, Scenario | Path]]) -> None:
        self._entries: dict[str, Scenario | Path] = dict(entries)

    def __getitem__(self, name: str) -> Scenario:
        entry = self._entries[name]
        if isinstance(entry, Path):
            from sockviz.engine.scenarios import scenario_files  # (TOML: read on first use)

            entry = self._entries[name] = scenario_files.load(entry)
        return entry

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)


def _file(name: str) -> tuple[str, Path]:
    return name, Path(__file__).with_name(f"{name}.toml")


DEFAULT = "tcp-echo"

REGISTRY = ScenarioRegistry(
    (s.name, s) if isinstance(s, Scenario) else s
    for s in (
        tcp_echo.SCENARIO,
        udp_echo.SCENARIO,
        multi_client.SCENARIO,
        backlog_full.SCENARIO,
        _file("refused"),
        address_in_use.SCENARIO,
        _file("reset"),
        broken_pipe.SCENARIO,
        _file("half-close"),
        time_wait.SCENARIO,
        message_boundaries.SCENARIO,
        nagle.SCENARIO,
        nonblocking.SCENARIO,
        bulk.SCENARIO,
        zero_window.SCENARIO,
        websocket.SCENARIO,
        tls.SCENARIO,
        _file("lost-syn"),
        _file("lost-data"),
        slow_link.SCENARIO,
        congestion.SCENARIO,
        keepalive.SCENARIO,
        udp_loss.SCENARIO,
        _file("lost-fin"),
        mss.SCENARIO,
        path_mtu.SCENARIO,
        simultaneous_open.SCENARIO,
        simultaneous_close.SCENARIO,
    )
)

#: Options a scenario takes on the command line, and how to build it with them.
OPTIONS = {"time-wait": {"closer": time_wait.build}}


class UnknownScenario(KeyError):
    """No scenario has that name."""

    def __str__(self) -> str:
        return (
            f"unknown scenario {self.args[0]!r} (try: {', '.join(REGISTRY)}; or a "
            "scenario file, path/to/file.toml)"
        )


def get(name: str, **options: str | None) -> Scenario:
    """The scenario called ``name``, built with ``options`` it takes (e.g. ``closer``).

    :class:`UnknownScenario` if there is none; options it does not take are ignored when
    None and refused (ValueError) otherwise.
    """
    try:
        scenario = REGISTRY[name]
    except KeyError:
        raise UnknownScenario(name) from None
    for option, value in options.items():
        if value is None:
            continue
        builder = OPTIONS.get(name, {}).get(option)
        if builder is None:
            raise ValueError(f"--{option} does not apply to {name}")
        scenario = builder(value)
    return scenario
