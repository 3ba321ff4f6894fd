"""--serve: the TUI in a browser through textual-serve, on loopback, one app per tab.

A real ``sockviz --serve`` process and a real WebSocket client: only a page from the server's
own origin starts a tab, the tabs are capped, and no tab's app outlives its tab or the server.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time

import pytest

from tests.conftest import IPV6
from tests.helpers import processes

aiohttp = pytest.importorskip("aiohttp")
pytest.importorskip("textual_serve")

from sockviz.serve import MAX_TABS, allowed_origins, url_host  # noqa: E402 - (after the skip: textual-serve may be missing)


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


def tab_apps(server_pid: int) -> list[int]:
    """The server's tab apps: its children running sockviz (each in a session of its own)."""
    return [pid for pid, cmd in children(server_pid) if b"-m\0sockviz\0" in cmd + b"\0"]


def alive(pid: int) -> bool:
    """Running, not a zombie left for its parent to collect."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def start_server(*extra: str) -> tuple[subprocess.Popen, int]:
    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "sockviz",
            "--serve",
            "--port",
            str(port),
            "--scenario",
            "udp-echo",
            "--step",
            *extra,
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    return proc, port


def stop_server(proc: subprocess.Popen) -> None:
    """SIGTERM, as a service manager would; anything left after it is killed, so a failing
    test leaves no process behind for the next one."""
    left = descendants(proc.pid)
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)
    for pid, _ in left:
        try:
            os.killpg(pid, signal.SIGKILL)
        except OSError:
            pass


@pytest.fixture
def server():
    proc, port = start_server()
    try:
        yield proc, port
    finally:
        stop_server(proc)


def own_origin(port: int) -> str:
    return f"http://127.0.0.1:{port}"


async def connect(session, port: int, origin: str | None = None, deadline: float = 20):
    """A tab's WebSocket, sent as a browser sends it (with the page's Origin); retried while
    the server is still starting."""
    url = f"ws://127.0.0.1:{port}/ws?width=100&height=30"
    headers = {} if origin is None else {"Origin": origin}
    until = time.monotonic() + deadline
    while True:
        try:
            return await session.ws_connect(url, headers=headers)
        except aiohttp.ClientConnectorError:
            assert time.monotonic() < until, "the server never answered"
            await asyncio.sleep(0.2)


def read_line(stream, within: float = 20) -> bytes:
    """The next line a child process writes, waited for at most ``within`` seconds."""
    line: list[bytes] = []
    reader = threading.Thread(target=lambda: line.append(stream.readline()), daemon=True)
    reader.start()
    reader.join(within)
    assert line, f"no line from the process in {within} s"
    return line[0]


def wait_until(predicate, within: float, message: str) -> None:
    deadline = time.monotonic() + within
    while not predicate():
        assert time.monotonic() < deadline, message
        time.sleep(0.05)


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
    async with aiohttp.ClientSession() as session:
        first = await connect(session, port, own_origin(port))
        second = await connect(session, port, f"http://localhost:{port}")
        deadline = time.monotonic() + 20
        while True:  # each tab: an app, and the app's own engine process (its own sockets)
            engines = [
                pid
                for pid, cmd in descendants(server_pid)
                if b"sockviz.engine.run.engine_child" in cmd
            ]
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
    for args, expected in (
        (["--serve", "--port", "0"], "needs a port"),
        (["--host", "0.0.0.0"], "--host applies to --serve"),
        (["--serve", "--trace"], "does not go with --trace"),
        (["--serve", "--scenario", "nope"], "nope"),
    ):
        proc = subprocess.run(
            [sys.executable, "-m", "sockviz", *args],
            check=False,
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert proc.returncode == 2, args
        assert expected in proc.stderr and len(proc.stderr.splitlines()) == 1, proc.stderr


def test_the_origins_allowed_are_the_served_page_and_on_loopback_its_other_spellings():
    assert allowed_origins("127.0.0.1", 8000) == {
        "http://127.0.0.1:8000",
        "http://localhost:8000",
        "http://[::1]:8000",
    }
    assert allowed_origins("::1", 8767) == allowed_origins("localhost", 8767)
    assert allowed_origins("192.0.2.7", 8000) == {"http://192.0.2.7:8000"}
    assert "http://localhost" in allowed_origins("127.0.0.1", 80)  # browsers drop :80
    assert url_host("::1") == "[::1]" and url_host("fd00::2") == "[fd00::2]"
    assert url_host("127.0.0.1") == "127.0.0.1" and url_host("localhost") == "localhost"


def test_a_page_from_another_origin_or_none_is_refused_and_starts_no_process(server):
    proc, port = server

    async def attempt(origin):
        async with aiohttp.ClientSession() as session:
            with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
                await connect(session, port, origin)
            return refused.value.status

    for origin in (
        "http://evil.example",
        f"http://evil.example:{port}",
        "null",
        f"https://127.0.0.1:{port}",
        f"http://127.0.0.1:{port + 1}",
        None,
    ):
        assert asyncio.run(attempt(origin)) == 403, origin
    time.sleep(0.5)  # a process started anyway would be there by now
    assert descendants(proc.pid) == []


def test_tabs_are_capped_and_a_closed_tab_frees_its_slot(server):
    proc, port = server

    async def scenario():
        async with aiohttp.ClientSession() as session:
            tabs = [await connect(session, port, own_origin(port)) for _ in range(MAX_TABS)]
            with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
                await connect(session, port, own_origin(port))
            assert refused.value.status == 503
            await asyncio.sleep(1.0)  # a process started for the refused one would show
            assert len(tab_apps(proc.pid)) == MAX_TABS
            engines = [
                p for p, cmd in descendants(proc.pid) if b"sockviz.engine.run.engine_child" in cmd
            ]
            assert len(engines) <= MAX_TABS
            await tabs.pop().close()
            deadline = time.monotonic() + 10
            while True:  # the slot is free once that tab's app has ended
                try:
                    tabs.append(await connect(session, port, own_origin(port)))
                    break
                except aiohttp.WSServerHandshakeError as exc:
                    assert exc.status == 503
                    assert time.monotonic() < deadline, "a closed tab kept its slot"
                    await asyncio.sleep(0.2)
            assert len(tab_apps(proc.pid)) <= MAX_TABS
            for tab in tabs:
                await tab.close()

    asyncio.run(scenario())


def test_sigterm_with_tabs_open_ends_every_tab_app():
    """The server ends its tabs' apps (and their engines) before it exits; none is orphaned."""
    proc, port = start_server()
    try:

        async def open_and_hold():
            async with aiohttp.ClientSession() as session:
                tabs = [await connect(session, port, own_origin(port)) for _ in range(3)]
                wait_until(
                    lambda: (
                        len(
                            [
                                p
                                for p, cmd in descendants(proc.pid)
                                if b"sockviz.engine.run.engine_child" in cmd
                            ]
                        )
                        == 3
                    ),
                    20,
                    "three tabs did not start three apps and engines",
                )
                tree = descendants(proc.pid)
                proc.send_signal(signal.SIGTERM)  # the tabs stay open in the browser
                wait_until(
                    lambda: not any(alive(pid) for pid, _ in tree),
                    3,
                    "a tab's app or engine outlived the server's SIGTERM by 3 s",
                )
                for tab in tabs:
                    await tab.close()
                return tree

        tree = asyncio.run(open_and_hold())
        assert len(tree) == 6
        assert proc.wait(15) == 0
    finally:
        stop_server(proc)


@pytest.mark.skipif(not IPV6, reason="no IPv6 loopback here")
def test_an_ipv6_host_is_shown_in_brackets():
    proc, port = start_server("--host", "::1")
    try:
        line = read_line(proc.stderr).decode()
        assert f"serving at http://[::1]:{port} " in line, line
    finally:
        stop_server(proc)


def _kill_all(pids) -> None:
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass


def test_kill_9_of_the_server_with_tabs_open_ends_every_tab_app_and_engine():
    """No signal reaches the tabs: each app sees its input end (and its server gone) and
    quits, closing its engine; nothing is left running under init."""
    proc, port = start_server()
    tree: list[tuple[int, bytes]] = []
    try:

        async def open_and_kill():
            async with aiohttp.ClientSession() as session:
                tabs = [await connect(session, port, own_origin(port)) for _ in range(3)]
                wait_until(
                    lambda: (
                        len(
                            [
                                p
                                for p, cmd in descendants(proc.pid)
                                if b"sockviz.engine.run.engine_child" in cmd
                            ]
                        )
                        == 3
                    ),
                    20,
                    "three tabs did not start three apps and engines",
                )
                tree.extend(descendants(proc.pid))  # (before the kill: then they are init's)
                proc.kill()
                proc.wait(5)
                wait_until(
                    lambda: not any(alive(pid) for pid, _ in tree),
                    4,
                    "a tab's app or engine outlived its server's kill -9 by 4 s: "
                    f"{[pid for pid, _ in tree if alive(pid)]}",
                )
                for tab in tabs:
                    await tab.close()

        asyncio.run(open_and_kill())
        assert len(tree) == 6
    finally:
        _kill_all(pid for pid, _ in tree)
        stop_server(proc)


def test_a_malformed_message_closes_its_tab_in_one_line_and_the_server_keeps_serving():
    port = free_port()
    proc = subprocess.Popen(  # (stdout too: textual-serve logged its tracebacks there)
        [
            sys.executable,
            "-m",
            "sockviz",
            "--serve",
            "--port",
            str(port),
            "--scenario",
            "udp-echo",
            "--step",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:

        async def scenario():
            async with aiohttp.ClientSession() as session:
                for bad in ("not json {", '["resize", "wide"]', "{}", '["stdin", 7]'):
                    tab = await connect(session, port, own_origin(port))
                    await tab.send_str(bad)
                    message = await tab.receive(timeout=10)
                    while message.type not in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED):
                        message = await tab.receive(timeout=10)  # (the app's output first)
                    await tab.close()
                good = await connect(session, port, own_origin(port))  # still serving
                await good.send_str('["stdin", ""]')
                message = await good.receive(timeout=10)
                assert message.type in (aiohttp.WSMsgType.BINARY, aiohttp.WSMsgType.TEXT)
                await good.close()

        asyncio.run(scenario())
        for request in (  # what aiohttp cannot parse, and an upgrade that is no handshake
            f"GET / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: x\r\n\r\n",
            f"GET /ws HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nOrigin: {own_origin(port)}"
            "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
        ):
            with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
                raw.sendall(request.encode())
                assert b" 400 " in raw.recv(100).split(b"\r\n")[0]
        proc.send_signal(signal.SIGTERM)
        output = proc.communicate(timeout=15)[0].decode()
    finally:
        stop_server(proc)
    lines = output.splitlines()
    closed = [line for line in lines if "closed a tab" in line]
    assert len(closed) == 4, output
    assert "not JSON" in closed[0] and "resize" in closed[1], closed
    # one line each, and nothing else: the "serving at" and projector lines, and aiohttp's
    # bad request
    assert "Traceback" not in output and len(lines) == 7, output
    assert all(line.startswith("sockviz") for line in lines), output


@pytest.mark.skipif(shutil.which("ip") is None, reason="no iproute2 to compare with")
def test_the_addresses_a_wildcard_answers_as_are_this_machines_as_ip_lists_them():
    """0.0.0.0 listens on every IPv4 address of this machine: those are the Hosts (and
    Origins) it answers to, read from the kernel as iproute2 reads them; :: the IPv6 ones
    (link-local left out: a URL cannot name one without its interface)."""
    from sockviz.serve_access import Access

    listed = json.loads(
        subprocess.run(
            ["ip", "-j", "addr", "show"], check=True, capture_output=True, text=True, timeout=10
        ).stdout
    )
    addresses = [
        (a["family"], a["local"])
        for link in listed
        for a in link.get("addr_info", [])
        if a.get("scope") != "link" or a["family"] == "inet"
    ]
    v4 = Access("0.0.0.0", 8123)
    assert set(v4.addresses) == {local for family, local in addresses if family == "inet"}
    assert {f"{url_host(a)}:8123" for a in v4.addresses} <= v4.authorities()
    assert v4.token and all(url.endswith(f"/?token={v4.token}") for url in v4.urls())
    v6 = {local for family, local in addresses if family == "inet6"}
    assert set(Access("::", 8123).addresses) == v6
    assert Access("127.0.0.1", 8123).token is None  # (loopback: no token)
