"""What an app is asked to run, as one typed value (built by :mod:`sockviz.launch` from the
command line, or by a test); no Textual here."""

from __future__ import annotations

from dataclasses import dataclass

from sockviz.engine import scenarios as scenario_registry

#: Seconds between calls when playing: slow enough to read, fast enough to keep a class.
CLASSROOM_PACE = 1.5

#: The longest message the client may send: what the scenario's receive takes in one call.
MESSAGE_LIMIT = 65536

FAMILY_LABEL = {"ipv4": "IPv4", "ipv6": "IPv6", "unix": "Unix"}


@dataclass
class AppConfig:
    """What to run, and how to start."""

    scenario: str = scenario_registry.DEFAULT
    family: str = "ipv4"
    port: int = 0
    step: bool = False
    """Start paused in step mode (else play at :data:`CLASSROOM_PACE`)."""
    pace: float = CLASSROOM_PACE
    closer: str | None = None
    """time-wait: which side closes first."""
    size: int | None = None
    """bulk: how many bytes to move."""
    outside: str | None = None
    """``listen`` or ``connect`` when the other end is a real outside program."""
    where: str | None = None
    """For an outside peer: the address, as the user gave it."""
    record: str | None = None
    """``--record``: the file each run is written to (afresh at each run's start)."""
    replay: str | None = None
    """``--replay``: the recording being played (its path)."""
    scenario_file: str | None = None
    """``--scenario path.toml``: the file the scenario was read from (a recording names it)."""
    quiz: bool = False
    """``--quiz``: predict mode (a question before each call; starts in step mode)."""
    wire: str = "auto"
    """``--wire``: where the engine process watches the segments (auto, host, private, off)."""
    pcap: str | None = None
    """``--pcap``: the file each live run's frames are written to (afresh at each run)."""
    link: tuple | None = None
    """``--link``/``--drop``/``--hold``: (settings, drops, hold) for every run, over any
    scenario's own ``[link]``; None: each scenario's own (loopback for most)."""
