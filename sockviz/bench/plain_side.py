"""The plain side of the throughput rows: the same transfer over plain Python sockets.

It is a module of its own, standard library only, because the whole-process row starts it as
a process of its own (:data:`PLAIN_SCRIPT`): the plain script must not pay for importing
sockviz's engine, Textual or the rest of the benchmark.
"""

from __future__ import annotations

import socket
import threading
import time

CHUNK = 256 * 1024

# The plain side as a process of its own: the same function, nothing of sockviz's engine.
PLAIN_SCRIPT = (
    "import sys\nfrom sockviz.bench.plain_side import plain_transfer\n"
    "plain_transfer(int(sys.argv[1]))\n"
)


def plain_transfer(total: int) -> float:
    """Seconds to move ``total`` bytes over plain loopback sockets, once connected."""
    pattern = (b"sockviz bulk data, " * (CHUNK // 19 + 1))[:CHUNK]
    listener = socket.create_server(("127.0.0.1", 0))
    client = socket.create_connection(listener.getsockname())
    conn, _ = listener.accept()
    started = time.perf_counter()

    def send() -> None:
        view, sent = memoryview(pattern), 0
        while sent < total:
            sent += client.send(view[: min(CHUNK, total - sent)])

    thread = threading.Thread(target=send)
    thread.start()
    buffer = bytearray(CHUNK)
    got = 0
    while got < total:
        n = conn.recv_into(buffer, min(CHUNK, total - got))
        if not n:
            break
        got += n
    thread.join()
    elapsed = time.perf_counter() - started
    for s in (client, conn, listener):
        s.close()
    return elapsed
