"""Regenerate screenshots/: each main screen as SVG and PNG, from recorded real runs.

The screens are made exactly as the snapshot tests make theirs - the real app, its real
keys, a recorded trace of a real run (tests/app/data), a frozen clock and a fixed theme -
so running this again changes no byte of an SVG. Both are what ctrl+s writes
(sockviz.app.screenshot): the SVG carries the bundled font, the PNG is painted with it,
neither needs a network or a font installed. (A PNG's pixels are FreeType's: another
version of Pillow may antialias an edge differently.)

    python scripts/screenshots.py
"""

from __future__ import annotations

import asyncio
import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sockviz.app import screenshot
from tests.app.app_helpers import replay_app, steps

OUT = ROOT / "screenshots"

# (file, fixture, scenario, family, steps, keys after, size)
SHOTS = [
    ("start", "tcp-echo-ipv4", "tcp-echo", "ipv4", 0, (), (100, 30)),
    ("listening", "tcp-echo-ipv4", "tcp-echo", "ipv4", 4, (), (100, 30)),
    ("connected", "tcp-echo-ipv4", "tcp-echo", "ipv4", 11, (), (100, 30)),
    ("time-wait", "tcp-echo-ipv4", "tcp-echo", "ipv4", 15, (), (100, 30)),
    ("payload", "tcp-echo-ipv4", "tcp-echo", "ipv4", 9, ("p",), (100, 30)),
    ("udp-echo", "udp-echo-ipv4", "udp-echo", "ipv4", 5, (), (100, 30)),
    ("port-in-use", "tcp-echo-port-in-use", "tcp-echo", "ipv4", 3, (), (100, 30)),
    ("help", "tcp-echo-ipv4", "tcp-echo", "ipv4", 4, ("question_mark",), (100, 30)),
    ("projector", "tcp-echo-ipv4", "tcp-echo", "ipv4", 12, (), (160, 45)),
    ("backlog-full", "backlog-full-ipv4", "backlog-full", "ipv4", 13, (), (100, 30)),
    ("websocket", "websocket-ipv4", "websocket", "ipv4", 13, ("p",), (100, 30)),
    ("rewind", "tcp-echo-ipv4", "tcp-echo", "ipv4", 11, ("left", "left", "left"), (100, 30)),
    ("predict", "tcp-echo-ipv4", "tcp-echo", "ipv4", 13, ("g", "right"), (100, 30)),
    ("wire", "tcp-echo-wire-ipv4", "tcp-echo", "ipv4", 6, (), (100, 30)),
    ("wire-refused", "refused-wire-ipv4", "refused", "ipv4", 4, (), (100, 30)),
    ("wire-projector", "tcp-echo-wire-ipv4", "tcp-echo", "ipv4", 15, (), (160, 45)),
    ("lost-syn", "lost-syn-ipv4", "lost-syn", "ipv4", 6, (), (120, 40)),
    ("tcp-diagram", "tcp-echo-wire-ipv4", "tcp-echo", "ipv4", 14, ("d",), (100, 42)),
    ("seq-graph", "graph-lost-data-ipv4", "lost-data", "ipv4", 9, ("G",), (100, 42)),
    ("congestion-graph", "congestion-ipv4", "congestion", "ipv4", 28, ("G",), (120, 40)),
    (
        "simultaneous-close",
        "simultaneous-close-ipv4",
        "simultaneous-close",
        "ipv4",
        11,
        ("d",),
        (100, 42),
    ),
]


async def shoot(name, fixture, scenario, family, n, keys, size, out=OUT) -> None:
    app = replay_app(fixture, scenario, family=family)
    async with app.run_test(size=size) as pilot:
        await steps(pilot, n)
        for key in keys:
            await pilot.press(key)
            await pilot.pause()
        await pilot.pause()
        shot = screenshot.take(app, f"sockviz — {name}")
    (out / f"{name}.svg").write_text(shot.svg(), encoding="utf-8")
    (out / f"{name}.png").write_bytes(shot.png())
    if out == OUT:
        print(f"screenshots/{name}.svg, .png")


async def main() -> None:
    OUT.mkdir(exist_ok=True)
    for shot in SHOTS:
        await shoot(*shot)


if __name__ == "__main__":
    asyncio.run(main())
