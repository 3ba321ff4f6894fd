"""Record real runs as test data for the snapshot tests and screenshots.

Each file is the ``--trace`` of a real run (JSON Lines), made with the server on port
5000 so the addresses read naturally. The snapshots replay these files, so what they show
came from real system calls once, and is the same on every run of the tests.

    python scripts/record_fixtures.py      # rewrites tests/app/data/*.jsonl
"""

from __future__ import annotations

import pathlib
import socket
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sockviz.engine.events import CallEvent, KernelEvent, TcpSettings
from sockviz.engine.record.trace_format import to_line
from sockviz.engine.run.gate import Mode
from sockviz.engine.run.runner import Runner
from sockviz.engine.scenarios import get

DATA = ROOT / "tests" / "app" / "data"
PORT = 5000


def record(name: str, family: str, out: pathlib.Path, **options) -> None:
    lines: list[str] = []

    def keep(event) -> None:
        if isinstance(event, (TcpSettings, CallEvent, KernelEvent)):
            lines.append(to_line(event))

    size = options.pop("size", None)
    runner = Runner(get(name, **options), keep, family=family, port=PORT, mode=Mode.FAST, size=size)
    runner.start()
    runner.wait(30)
    runner.stop()
    out.write_text("\n".join(lines) + "\n")
    print(f"{out.relative_to(ROOT)}: {len(lines)} events, {runner.result.outcome}")


def record_wire(name: str, out: pathlib.Path) -> None:
    """A run with its segments, watched in a private network of its own (a process of its
    own: only a process with one thread can enter one)."""
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "sockviz",
            "--trace",
            "--wire",
            "private",
            "--port",
            str(PORT),
            "--scenario",
            name,
        ],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    )
    out.write_text(proc.stdout)
    print(f"{out.relative_to(ROOT)}: {len(proc.stdout.splitlines())} events (with the wire)")


def record_lab(name: str, out: pathlib.Path, size: int | None = None) -> None:
    """A lab on two hosts joined by a link (a process of its own: the hosts are made while
    it has one thread); the link is its wire."""
    sized = [] if size is None else ["--size", str(size)]
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "sockviz",
            "--trace",
            "--port",
            str(PORT),
            "--scenario",
            name,
            *sized,
        ],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    )
    if "no two hosts here" in proc.stderr:
        raise SystemExit(f"{name}: {proc.stderr.strip()}")
    out.write_text(proc.stdout)
    print(f"{out.relative_to(ROOT)}: {len(proc.stdout.splitlines())} events (on two hosts)")


def main() -> int:
    DATA.mkdir(parents=True, exist_ok=True)
    labs = ("lost-syn", "lost-data", "lost-fin", "mss", "simultaneous-close", "simultaneous-open")
    for lab in labs:
        record_lab(lab, DATA / f"{lab}-ipv4.jsonl")
    # (the time-sequence graph's: segments with their SACK blocks, a transfer's points)
    record_lab("lost-data", DATA / "graph-lost-data-ipv4.jsonl")
    record_lab("slow-link", DATA / "graph-slow-link-ipv4.jsonl", size=256 * 1024)
    record_lab("congestion", DATA / "congestion-ipv4.jsonl")
    record_lab("keepalive", DATA / "keepalive-ipv4.jsonl")
    record_lab("udp-loss", DATA / "udp-loss-ipv4.jsonl")
    record_lab("path-mtu", DATA / "path-mtu-ipv4.jsonl")
    record_wire("tcp-echo", DATA / "tcp-echo-wire-ipv4.jsonl")
    record_wire("refused", DATA / "refused-wire-ipv4.jsonl")
    record_wire("zero-window", DATA / "zero-window-ipv4.jsonl")
    record_wire("nagle", DATA / "nagle-ipv4.jsonl")
    record_wire("nonblocking", DATA / "nonblocking-ipv4.jsonl")
    record_wire("tls", DATA / "tls-ipv4.jsonl")
    record("tcp-echo", "ipv4", DATA / "tcp-echo-ipv4.jsonl")
    record("tcp-echo", "ipv6", DATA / "tcp-echo-ipv6.jsonl")
    record("udp-echo", "ipv4", DATA / "udp-echo-ipv4.jsonl")
    for name in (
        "multi-client",
        "backlog-full",
        "refused",
        "address-in-use",
        "reset",
        "broken-pipe",
        "half-close",
        "message-boundaries",
        "websocket",
    ):
        record(name, "ipv4", DATA / f"{name}-ipv4.jsonl")
    record("time-wait", "ipv4", DATA / "time-wait-ipv4.jsonl", closer="client")
    record("time-wait", "ipv4", DATA / "time-wait-server-ipv4.jsonl", closer="server")
    record("bulk", "ipv4", DATA / "bulk-ipv4.jsonl", size=64 * 1024 * 1024)
    record("tcp-echo", "unix", DATA / "tcp-echo-unix.jsonl")
    holder = socket.create_server(("127.0.0.1", PORT))  # the port is taken: bind must fail
    try:
        record("tcp-echo", "ipv4", DATA / "tcp-echo-port-in-use.jsonl")
    finally:
        holder.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
