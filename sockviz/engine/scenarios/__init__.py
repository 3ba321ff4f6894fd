"""The built-in scenarios, by name.

Each module defines one :class:`~sockviz.engine.scenarios.model.Scenario` as data; this
registry lists them in the order ``--list`` shows them.
"""

from __future__ import annotations

from sockviz.engine.scenarios import (
    address_in_use,
    backlog_full,
    broken_pipe,
    bulk,
    half_close,
    message_boundaries,
    multi_client,
    refused,
    reset,
    tcp_echo,
    time_wait,
    udp_echo,
    websocket,
)
from sockviz.engine.scenarios.model import Scenario

DEFAULT = "tcp-echo"

REGISTRY: dict[str, Scenario] = {
    s.name: s
    for s in (
        tcp_echo.SCENARIO,
        udp_echo.SCENARIO,
        multi_client.SCENARIO,
        backlog_full.SCENARIO,
        refused.SCENARIO,
        address_in_use.SCENARIO,
        reset.SCENARIO,
        broken_pipe.SCENARIO,
        half_close.SCENARIO,
        time_wait.SCENARIO,
        message_boundaries.SCENARIO,
        bulk.SCENARIO,
        websocket.SCENARIO,
    )
}

#: Options a scenario takes on the command line, and how to build it with them.
OPTIONS = {"time-wait": {"closer": time_wait.build}}


class UnknownScenario(KeyError):
    """No scenario has that name."""

    def __str__(self) -> str:
        return f"unknown scenario {self.args[0]!r} (try: {', '.join(REGISTRY)})"


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
