"""The benchmark's rows about the view of a run: going back through a long session, and what
a long history costs in memory (``python -m sockviz.bench`` prints them).

* time travel: the TUI on ``--listen`` while a real client (a process of its own) makes
  connections one after another, each sending a request and closing; then Home (the first
  moment) and End (back to the live edge) - the UI thread's CPU time for each, from the key
  to the frame drawn (target <= 0.2 s each);
* memory: the RSS a :class:`~sockviz.view.history.History` of 50,000 events adds - the
  events of real connections, folded, with their checkpoints (target <= 30 MiB).
"""

from __future__ import annotations

import ast
import asyncio
import os
import subprocess
import sys
import time
from dataclasses import replace
from typing import Any

from sockviz.app.app import AppConfig, SockvizApp
from sockviz.bench.tui_bench import listening_at, quit_app
from sockviz.engine.events import CallEvent, Condensed, Event, KernelEvent, StepPending
from sockviz.engine.families import FAMILIES
from sockviz.engine.run.gate import Mode
from sockviz.engine.run.listen_runner import ListenRunner
from sockviz.engine.run.outside_peers import listen_scenario, resolve
from sockviz.view.history import History

CLIENT = """
import socket, sys
port, count = int(sys.argv[1]), int(sys.argv[2])
for _ in range(count):
    with socket.create_connection(("127.0.0.1", port)) as peer:
        peer.sendall(b"GET / HTTP/1.0\\r\\n\\r\\nsockviz")
"""


TRAVEL = """
import sys
from sockviz.bench.view_bench import time_travel
print(repr(time_travel(int(sys.argv[1]))))
"""


def time_travel_alone(connections: int) -> dict[str, float]:
    """:func:`time_travel` in a process of its own (one that has run no app before: a
    process that has leaves garbage whose collection can land in the measurement)."""
    proc = subprocess.run(
        [sys.executable, "-c", TRAVEL, str(connections)],
        check=True,
        capture_output=True,
        text=True,
        timeout=600,
    )
    return ast.literal_eval(proc.stdout.strip().splitlines()[-1])


def time_travel(connections: int) -> dict[str, float]:
    """UI thread CPU seconds for Home and for End after a --listen session of
    ``connections`` real connections (each the median of three, the cost of the test
    harness's own wait taken off); and the session's size."""

    async def run() -> dict[str, float]:
        endpoint = resolve(None, 0, "ipv4")

        def factory(
            scenario: object, consumer: Any, *, mode: Mode, pace: float, **_: object
        ) -> ListenRunner:
            return ListenRunner(consumer, endpoint.ip, 0, FAMILIES["ipv4"], mode=mode, pace=pace)

        scenario = listen_scenario(endpoint)
        app = SockvizApp(
            AppConfig(scenario=scenario.name, outside="listen"),
            runner_factory=factory,
            scenarios={scenario.name: scenario},
        )
        app.mode = Mode.FAST
        out: dict[str, float] = {}
        async with app.run_test(size=(120, 40)) as pilot:
            while not (listening := listening_at(app)):
                await pilot.pause(0.05)
            port = listening.rsplit(":", 1)[1]
            client = await asyncio.to_thread(
                subprocess.run, [sys.executable, "-c", CLIENT, port, str(connections)], check=True
            )
            del client

            def closed() -> int:  # connections the listener has closed (after the peer),
                # one by one or condensed (a batch of many: see sockviz.engine.run.event_batcher)
                return sum(
                    e.count
                    if isinstance(e, Condensed)
                    else int(e.call.value == "close" and (e.socket or "").startswith("conn-"))
                    for e in app.run_screen.history.events
                    if isinstance(e, (CallEvent, Condensed))
                )

            deadline = time.monotonic() + 30 + connections
            while closed() < connections and time.monotonic() < deadline:
                await pilot.pause(0.1)
            await pilot.pause(0.5)
            out["events"] = len(app.run_screen.history.events)
            spent: dict[str, list[float]] = {"home": [], "end": []}
            for _ in range(3):
                for name, moment in (("home", 0), ("end", None)):
                    await pilot.pause(0.2)
                    cpu = time.thread_time()
                    await pilot.pause()  # the harness's own cost of waiting for idle ...
                    idle = time.thread_time() - cpu
                    cpu = time.thread_time()
                    app.run_screen.action_look(moment)
                    await pilot.pause()
                    spent[name].append(time.thread_time() - cpu - idle)  # ... taken off
            for name, times in spent.items():
                out[name] = sorted(times)[1]  # the median of three
            await quit_app(app)
        return out

    return asyncio.run(run())


MEMORY = """
import sys
from sockviz.bench.view_bench import history_memory
print(history_memory(int(sys.argv[1])))
"""


def rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def history_memory(count: int) -> float:
    """MiB of RSS that a History of ``count`` events of real connections adds (run in a
    process of its own: see :func:`history_rss`)."""
    got: list[Event] = []
    runner = ListenRunner(got.append, "127.0.0.1", 0, FAMILIES["ipv4"], mode=Mode.FAST)
    runner.start()

    def listening() -> CallEvent | None:
        return next((e for e in got if isinstance(e, CallEvent) and e.call.value == "listen"), None)

    while (listened := listening()) is None:
        time.sleep(0.01)
    port = (listened.local or "").rsplit(":", 1)[1]
    subprocess.run([sys.executable, "-c", CLIENT, port, "40"], check=True)
    time.sleep(0.5)
    runner.stop()
    sample = [e for e in got if isinstance(e, (CallEvent, KernelEvent, StepPending))]

    before = rss()
    history = History(listen_scenario(resolve(None, 0, "ipv4")), limit=count + 1)
    n = 0
    while n < count:  # the sample again and again, each copy its own objects
        for event in sample:
            if n == count:
                break
            fields: dict[str, Any] = {"seq": n + 1} if hasattr(event, "seq") else {}
            if isinstance(event, CallEvent):
                fields["step"] = n
            for name in ("local", "remote", "args"):  # made afresh for each call, as live
                value = getattr(event, name, None)
                if value:
                    fields[name] = (value + " ")[:-1]
            history.add(0.0, replace(event, **fields))
            n += 1
    assert len(history.events) == count
    return (rss() - before) / (1 << 20)


def history_rss(count: int) -> float:
    proc = subprocess.run(
        [sys.executable, "-c", MEMORY, str(count)],
        check=True,
        capture_output=True,
        text=True,
        timeout=300,
    )
    return float(proc.stdout.strip())
