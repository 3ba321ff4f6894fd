"""The built-in scenarios, by name.

Each module defines one :class:`~sockviz.engine.scenarios.model.Scenario` as data; this
registry lists them in the order ``--list`` shows them.
"""

from __future__ import annotations

from sockviz.engine.scenarios import tcp_echo, udp_echo
from sockviz.engine.scenarios.model import Scenario

DEFAULT = "tcp-echo"

REGISTRY: dict[str, Scenario] = {
    s.name: s for s in (tcp_echo.SCENARIO, udp_echo.SCENARIO)
}


class UnknownScenario(KeyError):
    """No scenario has that name."""

    def __str__(self) -> str:
        return f"unknown scenario {self.args[0]!r} (try: {', '.join(REGISTRY)})"


def get(name: str) -> Scenario:
    """The scenario called ``name``; :class:`UnknownScenario` if there is none."""
    try:
        return REGISTRY[name]
    except KeyError:
        raise UnknownScenario(name) from None
