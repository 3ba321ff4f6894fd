"""What a two-host run's link is asked to do (:class:`LinkSpec`: ``--link`` and a scenario's
``[link]``), its exact faults (:class:`Drop`: ``--drop``), and the same in a few words.

Why apart from :mod:`sockviz.engine.lab.link`: the command line, scenario files and
recordings read and check a link's settings without the thread that carries packets.
Standard library only.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

KINDS = ("syn", "syn-ack", "ack", "data", "fin")
#: A fault that breaks the link: from its Nth TCP or UDP packet on (both ways, counted from
#: 1), every packet is lost.
CUT = "cut"


# --- what the link does ---------------------------------------------------------------
@dataclass(frozen=True)
class Drop:
    """An exact fault: the ``nth`` packet of ``kind`` (counted over both directions, from 1)
    is lost on the link - or, for :data:`CUT`, the ``nth`` packet of any kind and every one
    after it (the link broken)."""

    kind: str
    nth: int = 1

    @classmethod
    def parse(cls, text: str) -> Drop:
        """``syn``, ``data:2`` ...; ValueError in one line for anything else."""
        kind, _, nth = text.strip().lower().partition(":")
        if kind not in (*KINDS, CUT):
            raise ValueError(
                f"--drop {text!r}: expected one of {', '.join(KINDS)}, "
                "with :N for the Nth one (data:2); or cut:N (the Nth packet and every one "
                "after it)"
            )
        if nth and (not nth.isdigit() or not 1 <= int(nth) <= 1000):
            raise ValueError(f"--drop {text!r}: N must be a whole number from 1 to 1000")
        return cls(kind, int(nth) if nth else 1)


@dataclass(frozen=True)
class LinkSpec:
    """What the link does to every packet."""

    delay: float = 0.0
    """Seconds each packet takes to cross, each way."""
    jitter: float = 0.0
    """Up to this many seconds more or less, at random (seeded), never reordering."""
    rate: float | None = None
    """Bits a second (None: no limit): a packet waits its turn to be sent."""
    loss: float = 0.0
    """The share of packets lost at random (seeded), 0 to 1."""
    seed: int = 0
    drops: tuple[Drop, ...] = field(default_factory=tuple)
    mtu: int | None = None
    """The hosts' interfaces' MTU in bytes, 1280 to 1500 (None: 1500, a TUN device's)."""
    pmtu: int | None = None
    """A router on the way whose next hop takes packets of at most this many bytes (1280 to
    1500; None: none): a bigger one it may not fragment is not carried, and its sender is
    told so (ICMP :mod:`~sockviz.engine.lab.router`) - path MTU discovery's lesson."""
    queue: int | None = None
    """With a ``rate``: how many packets may wait their turn each way (None: no limit); one
    more is lost, as a router with a full queue loses it (``overflow``)."""

    def __post_init__(self) -> None:
        """Finite numbers only, however it is made: a NaN delay made the link thread poll
        with no wait at all, forever."""
        if not all(
            math.isfinite(v)
            for v in (self.delay, self.jitter, self.loss, 1.0 if self.rate is None else self.rate)
        ):
            raise ValueError("--link: delay, jitter, rate and loss must be finite numbers")

    @classmethod
    def parse(cls, text: str, drops: tuple[str, ...] = ()) -> LinkSpec:
        """``delay=50ms,jitter=5ms,rate=1mbit,loss=2%,seed=7``; ValueError in one line."""
        values: dict[str, float] = {}
        for part in filter(None, (p.strip() for p in text.split(","))):
            key, sep, value = part.partition("=")
            key = key.strip().lower()
            if not sep or key not in (
                *("delay", "jitter", "rate", "loss", "seed", "mtu", "queue", "pmtu"),
            ):
                raise ValueError(
                    f"--link {part!r}: expected delay=, jitter=, rate=, loss=, seed=, "
                    "mtu=, pmtu= or queue=, as in delay=50ms,loss=2%"
                )
            values[key] = _value(key, value.strip(), part)
        seed = int(values.pop("seed", 0))  # (an int already: _value reads it so)
        mtu = values.pop("mtu", None)
        queue = values.pop("queue", None)
        pmtu = values.pop("pmtu", None)
        if queue is not None and "rate" not in values:
            raise ValueError("--link queue=N: a queue fills only at a rate (add rate=, e.g. 8mbit)")
        return cls(
            **values,
            seed=seed,
            drops=tuple(Drop.parse(d) for d in drops),
            mtu=None if mtu is None else int(mtu),
            queue=None if queue is None else int(queue),
            pmtu=None if pmtu is None else int(pmtu),
        )


def _value(key: str, text: str, part: str) -> float:
    """``text``'s number for ``key`` (an int for the seed); ValueError naming ``part``."""
    units = {
        "delay": {"ms": 1e-3, "s": 1.0, "us": 1e-6},
        "jitter": {"ms": 1e-3, "s": 1.0, "us": 1e-6},
        "rate": {"kbit": 1e3, "mbit": 1e6, "gbit": 1e9, "bit": 1.0},
    }
    try:
        if key == "seed":
            return int(text)
        if key == "queue":  # (packets; a router's queue is tens to thousands)
            packets = int(text)
            if not 1 <= packets <= 10_000:
                raise ValueError
            return packets
        if key in ("mtu", "pmtu"):  # (IPv6 needs 1280 at least; a TUN device starts at 1500)
            mtu = int(text)
            if not 1280 <= mtu <= 1500:
                raise ValueError
            return mtu
        if key == "loss":
            share = float(text[:-1]) / 100 if text.endswith("%") else float(text)
            if not math.isfinite(share) or not 0 <= share <= 1:
                raise ValueError
            return share
        for unit, scale in sorted(units[key].items(), key=lambda u: -len(u[0])):
            if text.lower().endswith(unit):
                number = float(text[: -len(unit)]) * scale
                high = 3600 if key != "rate" else 1e12
                if (
                    not math.isfinite(number)
                    or not 0 <= number <= high
                    or (  # (NaN, inf: no)
                        key == "rate" and number <= 0
                    )
                ):
                    raise ValueError
                return number
        raise ValueError
    except ValueError:
        example = {
            "delay": "50ms",
            "jitter": "5ms",
            "rate": "1mbit",
            "loss": "2%",
            "seed": "7",
            "mtu": "1280 (bytes, 1280 to 1500)",
            "queue": "20 (packets, 1 to 10,000)",
            "pmtu": "1280 (bytes, 1280 to 1500)",
        }[key]
        raise ValueError(f"--link {part!r}: {key} should look like {key}={example}") from None


def describe(spec: LinkSpec, hold: bool = False) -> str:
    """The link's settings in a few words: ``delay 50 ms · loss 2% (seed 7) · drop syn``."""
    parts = []
    if spec.delay:
        parts.append(f"delay {_ms(spec.delay)}")
    if spec.jitter:
        parts.append(f"jitter ±{_ms(spec.jitter)}")
    if spec.rate:
        rate = spec.rate
        unit = next(
            ((n, u) for n, u in ((1e9, "Gbit/s"), (1e6, "Mbit/s"), (1e3, "kbit/s")) if rate >= n),
            (1, "bit/s"),
        )
        parts.append(f"rate {rate / unit[0]:g} {unit[1]}")
    if spec.loss:
        parts.append(f"loss {spec.loss * 100:g}% (seed {spec.seed})")
    if spec.drops:
        parts.append(
            "drop " + ", ".join(d.kind if d.nth == 1 else f"{d.kind}:{d.nth}" for d in spec.drops)
        )
    if spec.mtu:
        parts.append(f"MTU {spec.mtu}")
    if spec.pmtu:
        parts.append(f"a router's next hop: MTU {spec.pmtu}")
    if spec.queue:
        parts.append(f"queue {spec.queue} packets")
    if hold:
        parts.append("each segment waits for →")
    return " · ".join(parts) or "no delay, no loss"


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:g} ms" if seconds < 10 else f"{seconds:g} s"
