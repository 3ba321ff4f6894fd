"""The runner that meets a real outside peer, built from plain data (a ``spec``): the same
whether ``--trace`` builds it in its own process or the TUI's engine process is sent the
spec. Apart from :mod:`sockviz.engine.run.outside_peers`, which the two runners import."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sockviz.engine.events import WireStatus
from sockviz.engine.run.connect_runner import ConnectRunner
from sockviz.engine.run.gate import Mode
from sockviz.engine.run.listen_runner import ListenRunner
from sockviz.engine.run.runner_protocols import EventSink
from sockviz.engine.wire.frame_source import FrameSource


def outside_runner(
    spec: Mapping[str, Any],
    consumer: EventSink,
    *,
    mode: Mode,
    pace: float,
    capture: FrameSource | None = None,
    wire: WireStatus | None = None,
) -> ListenRunner | ConnectRunner:
    """The runner that meets a real outside peer, from ``spec``: ``listen`` (True: a
    :class:`~sockviz.engine.run.listen_runner.ListenRunner`, else a
    :class:`~sockviz.engine.run.connect_runner.ConnectRunner`), ``ip``, ``port``, ``family``
    (its name), ``reply``, ``send``, ``timeout`` and ``idle`` - plain data, so the TUI's
    engine process can be sent it."""
    if spec["listen"]:
        return ListenRunner(
            consumer,
            spec["ip"],
            spec["port"],
            spec["family"],
            reply=spec["reply"],
            mode=mode,
            pace=pace,
            capture=capture,
            wire=wire,
        )
    return ConnectRunner(
        consumer,
        spec["ip"],
        spec["port"],
        spec["family"],
        send=spec["send"],
        timeout=spec["timeout"],
        idle=spec["idle"],
        mode=mode,
        pace=pace,
        capture=capture,
        wire=wire,
    )
