"""The benchmark runs and prints every ratio. (Speed itself is judged by reading its output,
never by a timed test.)"""

from __future__ import annotations

import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]


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
        "link bulk 4MB: CPU keeping the graph's sample",
    ):
        row = next(line for line in lines if line.startswith(measure))
        assert row.split()[-1] in ("ok", "BELOW", "ABOVE", "SKIPPED")


def _has_git_history() -> bool:
    try:
        got = subprocess.run(
            ["git", "-C", str(ROOT), "rev-parse", "--verify", "--quiet", "HEAD"],
            check=False,
            capture_output=True,
        )
    except OSError:
        return False
    return got.returncode == 0


@pytest.mark.skipif(not _has_git_history(), reason="needs a git checkout with its history")
def test_the_startup_row_against_a_revision_runs_both_sides():
    """--startup-against checks out the revision beside this one, starts both turn about and
    prints the ratios of the medians (here against HEAD itself: one turn, that it runs)."""
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "sockviz.bench",
            "--startup-only",
            "--startup-against",
            "HEAD",
            "--startup-turns",
            "1",
        ],
        check=False,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert proc.returncode == 0, proc.stderr
    rows = [line for line in proc.stdout.splitlines() if line.startswith("startup, first frame")]
    assert len(rows) == 3, proc.stdout
    assert "now vs HEAD, wall" in rows[1] and "now vs HEAD, CPU" in rows[2]
    assert all(row.split()[-1] in ("ok", "ABOVE") for row in rows)
