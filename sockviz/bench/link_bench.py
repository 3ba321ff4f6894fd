"""The benchmark's rows about two hosts and a link: ``sockviz --trace --link delay=50ms``
connects in one round trip, and the kernel measures that round trip (TCP_INFO's RTT); and
a bulk transfer over the link costs little more CPU for keeping its time-sequence graph's
sample (the link parses a few header fields of each packet it counts).

Both figures are compared with what the link is asked for - 50 ms each way, 100 ms a round
trip - so a ratio of 1.00x means nothing but the link's delay shows. Run in a process of
its own (two hosts are made while a process has one thread); where two hosts cannot be
made here, the row says so.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

DELAY = 0.05
#: A round trip is two crossings; what more a connect takes is the kernels' and sockviz's.
ROUND_TRIP = 2 * DELAY


def link_run(turns: int) -> tuple[float, float] | None:
    """The best of ``turns`` runs of tcp-echo over ``delay=50ms``: (connect() seconds, the
    client kernel's first RTT in seconds), or None where there are no two hosts."""
    best: tuple[float, float] | None = None
    for _ in range(turns):
        proc = subprocess.run(
            [sys.executable, "-m", "sockviz", "--trace", "--link", f"delay={DELAY * 1000:g}ms"],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        if proc.returncode != 0 or "no two hosts here" in proc.stderr:
            return None
        records = [json.loads(line) for line in proc.stdout.splitlines()]
        began = next(
            r["t"] for r in records if r["socket"] == "client" and r["call"] == "packet"
        )  # (the SYN leaves as connect() begins)
        connect = next(
            r["t"] for r in records if r["socket"] == "client" and r["call"] == "connect"
        )
        rtt = next(
            r["rtt"]
            for r in records
            if r["call"] == "kernel" and r["socket"] == "client" and r.get("rtt") is not None
        )
        got = (connect - began, rtt / 1000)
        best = got if best is None else (min(best[0], got[0]), min(best[1], got[1]))
    return best


def link_rows(quick: bool) -> list[tuple[str, str, str, str]]:
    got = link_run(1 if quick else 5)
    names = (
        "link delay=50ms: connect() time vs one round trip",
        "link delay=50ms: kernel's RTT (TCP_INFO) vs one round trip",
    )
    if got is None:
        return [(f"{name} (no two hosts here)", "-", "1.00-1.10", "SKIPPED") for name in names]
    rows = []
    for name, seconds in zip(names, got, strict=False):
        value = seconds / ROUND_TRIP
        name = f"{name} ({seconds * 1000:.1f} ms)"
        rows.append(
            (
                name,
                f"{value:.2f}x",
                "1.00-1.10",
                "ok" if 0.99 <= value <= 1.10 else "ABOVE" if value > 1.1 else "BELOW",
            )
        )
    return rows


#: The same transfer with the link's sampling turned off (the side it is measured against).
_UNSAMPLED = (
    "import sys\n"
    "from sockviz.engine.lab import link\n"
    "link.Link._sample = lambda self, ends, packet: None\n"
    "from sockviz.cli import main\n"
    "sys.exit(main(sys.argv[1:]))\n"
)


def _cpu(argv: list[str]) -> float | None:
    """The CPU seconds (user and system) a command took; None if it failed."""
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    err = proc.stderr.read().decode() if proc.stderr else ""
    if status != 0 or "no two hosts here" in err:
        return None
    return usage.ru_utime + usage.ru_stime


def sample_rows(quick: bool, smoke: bool) -> list[tuple[str, str, str, str]]:
    """A bulk transfer over ``delay=1ms``, turn about with and without the sample: the
    median of the turns' CPU ratios."""
    size = "4M" if smoke else "16M" if quick else "64M"
    args = ["--trace", "--scenario", "bulk", "--link", "delay=1ms", "--size", size]
    name = f"link bulk {size}B: CPU keeping the graph's sample vs not"
    ratios = []
    for _ in range(1 if smoke else 3 if quick else 5):
        ours = _cpu([sys.executable, "-m", "sockviz", *args])
        plain = _cpu([sys.executable, "-c", _UNSAMPLED, *args])
        if ours is None or plain is None:
            return [(f"{name} (no two hosts here)", "-", "<= 1.25x", "SKIPPED")]
        ratios.append(ours / plain)
    value = sorted(ratios)[len(ratios) // 2]
    return [(name, f"{value:.2f}x", "<= 1.25x", "ok" if value <= 1.25 else "ABOVE")]
