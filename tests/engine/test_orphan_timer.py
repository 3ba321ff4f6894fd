"""Issue 23, finding 10 (the engine's part): an orphaned FIN_WAIT2 has a timer (``ss``:
``timer:(timewait,…)``, net.ipv4.tcp_fin_timeout's) and sockviz reads it.

On loopback ``close()`` leaves the client in FIN_WAIT2 at once, so no ``kernel`` line
follows to carry the timer: the call's own line carries it, read over sock_diag as ``ss``
reads it, and the card counts it down from there. Checked against ``ss`` on a paused run.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from sockviz.engine.run.gate import Mode
from sockviz.engine.run.runner import Runner
from sockviz.engine.scenarios import get
from sockviz.engine.states import Call
from sockviz.view.fold import apply
from sockviz.view.run_view import RunView
from tests.helpers import Collector

FIN_TIMEOUT = Path("/proc/sys/net/ipv4/tcp_fin_timeout")


def test_close_into_an_orphaned_fin_wait2_carries_the_timer_ss_shows():
    """The client's close() line says FIN_WAIT2 with a timer no longer than the fin timeout
    this kernel has, and ``ss`` shows that very connection's timer at that moment; folded,
    the client's card counts down from it."""
    if not FIN_TIMEOUT.exists():
        pytest.skip("no /proc/sys/net/ipv4/tcp_fin_timeout here")
    limit = int(FIN_TIMEOUT.read_text())
    collector = Collector()
    runner = Runner(get("tcp-echo"), collector, family="ipv4", mode=Mode.STEP)
    runner.start()
    try:

        def closed(c: Collector) -> bool:
            return any(e.call is Call.CLOSE and e.socket == "client" for e in c.calls)

        for _ in range(20):
            before = len(collector.calls)
            runner.step()
            collector.wait_for(lambda c, n=before: len(c.calls) > n, timeout=5)
            if closed(collector):
                break
        assert closed(collector), "the client never closed"
        close = next(e for e in collector.calls if e.call is Call.CLOSE and e.socket == "client")
        assert close.kernel == "FIN_WAIT2"
        assert close.timer is not None and 0 < close.timer <= limit
        if shutil.which("ss"):
            shown = subprocess.run(
                [
                    "ss",
                    "-tanoH",
                    "state",
                    "fin-wait-2",
                    "src",
                    close.local.rsplit(":", 1)[0],
                    "sport",
                    f"= :{close.local.rsplit(':', 1)[1]}",
                ],
                capture_output=True,
                text=True,
                timeout=10,
                check=True,
            ).stdout
            timers = [int(s) for s in re.findall(r"timer:\(timewait,(\d+)sec", shown)]
            assert timers, shown
            assert abs(timers[0] - close.timer) <= 2
    finally:
        runner.stop()
    view = RunView(get("tcp-echo"))
    for event in collector.events:
        apply(view, event, 0.0)
        if event is close:
            break
    card = view.models["client"]
    assert card.kernel == "FIN_WAIT2"
    assert card.kernel_deadline is not None
    assert abs(card.kernel_deadline - view.time - close.timer) < 0.5
