"""The benchmark's rows about a flood of real connections into ``sockviz --listen`` (what a
load generator, or a browser fetching a page's thirty resources, does to it).

One client process (:func:`flood`, stdlib only) keeps :data:`IN_FLIGHT` connections going at
once; each connects, sends :data:`REQUEST`, shuts its side, reads the answer to the end and
closes. The server it talks to is, turn about:

* **plain**: :func:`plain_server`, a selector server doing the same work as ``--listen
  --reply`` (accept, read, answer, shut down, read to EOF, close), nothing else;
* **sockviz --trace**: ``sockviz --listen 127.0.0.1:P --trace --reply ...`` writing its trace;
* **the TUI**: the app, headless, on the same listener, a key pressed every 100 ms.

Each row is a ratio of connections a second, by wall time and by CPU time (of the server's
whole process tree and the client's: a shared VM's steal disturbs CPU time far less).
"""

from __future__ import annotations

import os
import selectors
import signal
import socket
import subprocess
import sys
import time

#: Connections the client keeps going at once.
IN_FLIGHT = 8
REQUEST = b"GET / HTTP/1.0\r\nHost: bench\r\n\r\n"
REPLY = "HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok"

#: The client flag that leaves each connection's server side in TIME_WAIT.
TIME_WAIT = "server-closes-first"

CLIENT = (
    "import sys\nfrom sockviz.bench.flood_bench import flood\n"
    "flood(int(sys.argv[1]), int(sys.argv[2]), answered='quiet' not in sys.argv[3:],\n"
    "      half_close='server-closes-first' not in sys.argv[3:])\n"
)
PLAIN = (
    "import sys\nfrom sockviz.bench.flood_bench import plain_server\n"
    "plain_server(int(sys.argv[1]))\n"
)


def flood(
    port: int,
    count: int,
    in_flight: int = IN_FLIGHT,
    answered: bool = True,
    half_close: bool = True,
) -> None:
    """Make ``count`` connections to ``port``, ``in_flight`` at a time, once one exchange has
    worked (the server is up); print the seconds they took and the bytes they got. Each
    must get :data:`REPLY` (``answered``) or nothing. With ``half_close`` the client says
    it is done sending at once (its FIN goes first, so its own side waits in TIME_WAIT);
    without, it waits for the server's FIN before closing (the server's side waits)."""
    reply = REPLY.encode() if answered else b""
    deadline = time.monotonic() + 30
    while True:  # (wait for the server: it may still be starting)
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=5) as probe:
                probe.sendall(REQUEST)
                probe.shutdown(socket.SHUT_WR)
                while probe.recv(4096):
                    pass
            break
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.02)
    print("ready", flush=True)
    sys.stdin.readline()  # (the bench reads the CPU spent so far, then says go)
    sel = selectors.DefaultSelector()
    started = finished = received = 0
    began = time.perf_counter()

    def open_one() -> None:
        nonlocal started
        sock = socket.socket()
        sock.setblocking(False)
        sock.connect_ex(("127.0.0.1", port))
        sel.register(sock, selectors.EVENT_WRITE, None)
        started += 1

    while started < min(in_flight, count):
        open_one()
    while finished < count:
        for key, _events in sel.select(30):
            sock: socket.socket = key.fileobj  # type: ignore[assignment]  # sockets only
            if key.data is None:  # connected: ask, and (half_close) say that is all
                sock.sendall(REQUEST)
                if half_close:
                    sock.shutdown(socket.SHUT_WR)
                sel.modify(sock, selectors.EVENT_READ, [])
                continue
            data = sock.recv(65536)
            if data:
                key.data.append(data)
                continue
            got = b"".join(key.data)
            if got != reply:
                raise SystemExit(f"connection {finished + 1} got {got[:80]!r}")
            received += len(got)
            sel.unregister(sock)
            sock.close()
            finished += 1
            if started < count:
                open_one()
    print(time.perf_counter() - began, received, flush=True)


def plain_server(port: int) -> None:
    """What ``--listen --reply`` does, as a plain selector server would, until SIGINT."""
    reply = REPLY.encode()
    signal.signal(signal.SIGINT, lambda *_: sys.exit(0))
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", port))
    listener.listen(16)
    listener.setblocking(False)
    sel = selectors.DefaultSelector()
    sel.register(listener, selectors.EVENT_READ, None)
    while True:
        for key, _events in sel.select():
            if key.data is None:
                try:
                    conn, _ = listener.accept()
                except BlockingIOError:
                    continue
                conn.setblocking(False)
                sel.register(conn, selectors.EVENT_READ, [False])
                continue
            conn = key.fileobj  # type: ignore[assignment]  # sockets only registered
            if conn.recv(65536):
                if not key.data[0]:
                    key.data[0] = True
                    conn.sendall(reply)
                    conn.shutdown(socket.SHUT_WR)
                continue
            sel.unregister(conn)
            conn.close()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def tree_cpu(pid: int) -> float:
    """CPU seconds (user and system, every thread) of process ``pid`` and its descendants
    so far, from ``/proc``."""
    parents: dict[int, int] = {}
    spent: dict[int, float] = {}
    tick = os.sysconf("SC_CLK_TCK")
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rpartition(")")[2].split()
        except OSError:
            continue
        parents[int(entry)] = int(fields[1])
        spent[int(entry)] = (int(fields[11]) + int(fields[12])) / tick
    total, todo = 0.0, [pid]
    while todo:
        one = todo.pop()
        total += spent.get(one, 0.0)
        todo += [child for child, parent in parents.items() if parent == one]
    return total


def run_flood(server: list[str] | int, count: int, port: int, *flags: str) -> dict[str, float]:
    """Flood a server listening on ``port`` with ``count`` connections: ``server`` is a
    command to start (and stop with SIGINT after), or the pid of one already running.
    Returns the flood's wall seconds, the CPU seconds server and client spent on it, and a
    started server's peak RSS in bytes. ``flags`` go to the client (``server-closes-first``:
    the server's side of each connection ends in TIME_WAIT)."""
    proc = None
    if isinstance(server, list):
        proc = subprocess.Popen(
            server, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL
        )
        pid = proc.pid
    else:
        pid = server
    client = subprocess.Popen(
        [sys.executable, "-c", CLIENT, str(port), str(count), *flags],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert client.stdout is not None and client.stdin is not None  # both are pipes
    done = False
    try:
        if client.stdout.readline().strip() != "ready":
            raise RuntimeError("the flood client could not reach the server")
        before = tree_cpu(pid), tree_cpu(client.pid)
        client.stdin.write("go\n")
        client.stdin.flush()
        line = client.stdout.readline().split()
        after = tree_cpu(pid), tree_cpu(client.pid)
        if len(line) != 2:
            raise RuntimeError("the flood client failed")
        wall, received = float(line[0]), int(line[1])
        done = True
    finally:
        if not done:
            client.kill()
        client.wait()
        client.stdin.close()
        client.stdout.close()
        rss = 0
        if proc is not None:
            proc.send_signal(signal.SIGINT)
            rss = _reaped(proc) * 1024
    if received != count * len(REPLY):
        raise RuntimeError(f"the client got {received} bytes, not {count * len(REPLY)}")
    return {
        "seconds": wall,
        "server_cpu": after[0] - before[0],
        "client_cpu": after[1] - before[1],
        "rss": rss,
    }


def _reaped(proc: subprocess.Popen, timeout: float = 10.0) -> int:
    """Wait for ``proc`` to end (killed if it takes over ``timeout`` seconds); its peak
    RSS in KiB, from the kernel's accounting."""
    deadline = time.monotonic() + timeout
    while True:
        pid, _status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            proc.returncode = 0  # (reaped here: Popen must not wait for it again)
            return usage.ru_maxrss
        if time.monotonic() > deadline:
            proc.kill()
            deadline = float("inf")
        time.sleep(0.01)


def sockviz_command(port: int) -> list[str]:
    return [
        sys.executable,
        "-m",
        "sockviz",
        "--listen",
        f"127.0.0.1:{port}",
        "--trace",
        "--reply",
        REPLY,
    ]


def plain_command(port: int) -> list[str]:
    return [sys.executable, "-c", PLAIN, str(port)]


def ratios(plain: dict, ours: dict) -> tuple[float, float]:
    """(wall, CPU) ratios of connections a second, ours against plain (higher is better)."""
    wall = plain["seconds"] / ours["seconds"]
    cpu = (plain["server_cpu"] + plain["client_cpu"]) / max(
        ours["server_cpu"] + ours["client_cpu"], 1e-9
    )
    return wall, cpu


def trace_flood(count: int, turns: int) -> tuple[float, float, float]:
    """``sockviz --listen --trace`` against the plain server, turn about: the median turn's
    (wall ratio, CPU ratio, sockviz's connections a second)."""
    results = []
    for _ in range(turns):
        port = free_port()
        plain = run_flood(plain_command(port), count, port)
        port = free_port()
        ours = run_flood(sockviz_command(port), count, port)
        results.append((*ratios(plain, ours), count / ours["seconds"]))
    results.sort()
    return results[len(results) // 2]


def timewait_cost(before: int, count: int = 1000) -> float:
    """CPU a connection costs ``sockviz --listen --trace`` once ``before`` connections
    have closed into TIME_WAIT, against once 200 have: the ratio (lower is better)."""
    costs = []
    for warm in (200, before):
        port = free_port()
        server = subprocess.Popen(
            sockviz_command(port), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        try:
            run_flood(server.pid, warm, port, TIME_WAIT)
            # (several rounds, the cheapest kept: one unlucky spell does not decide it)
            costs.append(
                min(run_flood(server.pid, count, port, TIME_WAIT)["server_cpu"] for _ in range(3))
            )
        finally:
            server.send_signal(signal.SIGINT)
            server.wait()
    return costs[1] / max(costs[0], 1e-9)


def flood_rss(small: int, big: int) -> float:
    """MiB of peak RSS a ``big`` flood into ``sockviz --listen --trace`` takes over a
    ``small`` one."""
    sizes = []
    for count in (small, big):
        port = free_port()
        sizes.append(run_flood(sockviz_command(port), count, port, TIME_WAIT)["rss"])
    return (sizes[1] - sizes[0]) / (1 << 20)
