"""--serve: the TUI in a browser through textual-serve, on loopback, one app per tab."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time

import pytest

from tests.helpers import processes

aiohttp = pytest.importorskip("aiohttp")
pytest.importorskip("textual_serve")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def children(pid: int) -> list[tuple[int, bytes]]:
    """(pid, command line) of the processes whose parent is ``pid``."""
    return [(child, cmdline) for child, ppid, _, cmdline in processes() if ppid == pid]


def descendants(pid: int) -> list[tuple[int, bytes]]:
    found, todo = [], [pid]
    while todo:
        for child in children(todo.pop()):
            found.append(child)
            todo.append(child[0])
    return found


def listening_on(port: int) -> set[str]:
    """The local addresses listening on ``port`` (from /proc/net/tcp: IPv4)."""
    out = set()
    with open("/proc/net/tcp") as f:
        for line in f.readlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, hex_port = local.split(":")
            if int(hex_port, 16) == port and state == "0A":
                out.add(socket.inet_ntoa(bytes.fromhex(address)[::-1]))
    return out


@pytest.fixture
def server():
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "sockviz", "--serve", "--port", str(port), "--scenario",
         "udp-echo", "--step"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,
    )
    try:
        yield proc, port
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)


async def fetch_page(port: int) -> str:
    deadline = time.monotonic() + 20
    async with aiohttp.ClientSession() as session:
        while True:
            try:
                async with session.get(f"http://127.0.0.1:{port}/") as response:
                    assert response.status == 200
                    return await response.text()
            except aiohttp.ClientConnectorError:
                assert time.monotonic() < deadline, "the server never answered"
                await asyncio.sleep(0.2)


async def open_tabs(port: int, server_pid: int) -> list[int]:
    """Two browser tabs' worth of websockets; the apps each one started."""
    url = f"ws://127.0.0.1:{port}/ws?width=100&height=30"
    async with aiohttp.ClientSession() as session:
        first = await session.ws_connect(url)
        second = await session.ws_connect(url)
        deadline = time.monotonic() + 20
        while True:  # each tab: an app, and the app's own engine process (its own sockets)
            engines = [pid for pid, cmd in descendants(server_pid)
                       if b"sockviz.engine.remote" in cmd]
            if len(engines) == 2:
                break
            assert time.monotonic() < deadline, f"tabs started {len(engines)} engines"
            await asyncio.sleep(0.2)
        seen = b""
        while b"udp-echo" not in seen and time.monotonic() < deadline:
            message = await first.receive(timeout=10)
            if message.type in (aiohttp.WSMsgType.BINARY, aiohttp.WSMsgType.TEXT):
                data = message.data
                seen += data if isinstance(data, bytes) else data.encode()
        assert b"udp-echo" in seen, "the tab's app never drew its title"
        await first.close()
        await second.close()
    return engines


def test_the_served_page_answers_on_loopback_only_and_each_tab_gets_its_own_app(server):
    proc, port = server
    page = asyncio.run(fetch_page(port))
    assert f"ws://127.0.0.1:{port}/ws" in page
    assert listening_on(port) == {"127.0.0.1"}
    engines = asyncio.run(open_tabs(port, proc.pid))
    assert len(set(engines)) == 2
    deadline = time.monotonic() + 10  # a closed tab ends its app, and the app its engine
    while any(os.path.exists(f"/proc/{pid}") for pid in engines):
        assert time.monotonic() < deadline, "a closed tab's app kept running"
        time.sleep(0.2)


def test_serve_misuse_is_one_line_and_exit_2():
    for args, expected in ((["--serve", "--port", "0"], "needs a port"),
                           (["--host", "0.0.0.0"], "--host applies to --serve"),
                           (["--serve", "--trace"], "does not go with --trace"),
                           (["--serve", "--scenario", "nope"], "nope")):
        proc = subprocess.run([sys.executable, "-m", "sockviz", *args], check=False,
                              capture_output=True, text=True, timeout=30)
        assert proc.returncode == 2, args
        assert expected in proc.stderr and len(proc.stderr.splitlines()) == 1, proc.stderr
