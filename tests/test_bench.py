"""The benchmark runs and prints every ratio. (Speed itself is judged by reading its output,
never by a timed test.)"""

from __future__ import annotations

import subprocess
import sys


def test_quick_benchmark_prints_every_ratio():
    proc = subprocess.run(
        [sys.executable, "-m", "sockviz.bench", "--smoke"],
        check=False,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    for measure in (
        "throughput, engine",
        "throughput, sockviz --trace",
        "memory, peak RSS",
        "startup, first frame",
        "connections/s, --listen --trace",
        "connections/s, TUI headless",
        "responsiveness during that flood",
        "cost of a traced call",
        "memory, peak RSS 2,000-connection flood",
        "link delay=50ms: connect() time",
        "link delay=50ms: kernel's RTT",
    ):
        row = next(line for line in lines if line.startswith(measure))
        assert row.split()[-1] in ("ok", "BELOW", "ABOVE", "SKIPPED")
