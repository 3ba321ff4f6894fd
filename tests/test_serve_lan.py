"""--serve for a classroom LAN: a real server in one network namespace, a real browser's
requests (HTTP and WebSocket) from another, over a veth pair.

Two namespaces made here, joined by a veth pair with private addresses (10.199.24.0/30) that
exist only inside them: nothing is routed to or from this machine's network. Bound beyond
loopback, the server asks every request for the token it printed, answers only to its own
addresses (Host, Origin), points its page at the address the browser used, and keeps its cap
on tabs.
"""

from __future__ import annotations

import asyncio
import ctypes
import os
import re
import shutil
import signal
import subprocess
import sys
import threading

import pytest

from tests.test_serve import alive, descendants, read_line, wait_until

aiohttp = pytest.importorskip("aiohttp")
pytest.importorskip("textual_serve")

from sockviz.serve import MAX_TABS  # noqa: E402 - (after the skip: textual-serve may be missing)

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("ip") is None,
    reason="needs root and iproute2 to make two network namespaces and a veth pair",
)

SERVER, CLIENT = "10.199.24.1", "10.199.24.2"
PORT = 8000  # (the namespace is the test's own: nothing else listens there)
CLONE_NEWNET = 0x40000000


def ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, timeout=10)


@pytest.fixture
def lan():
    """(server namespace, client namespace), joined by a veth pair; gone afterwards."""
    tag = f"{os.getpid() % 100000}"
    server_ns, client_ns = f"svz-srv-{tag}", f"svz-cli-{tag}"
    made = []
    try:
        try:
            for ns in (server_ns, client_ns):
                ip("netns", "add", ns)
                made.append(ns)
            ip(
                "link",
                "add",
                f"svzs{tag}",
                "netns",
                server_ns,
                "type",
                "veth",
                "peer",
                "name",
                f"svzc{tag}",
                "netns",
                client_ns,
            )
            for ns, dev, address in (
                (server_ns, f"svzs{tag}", SERVER),
                (client_ns, f"svzc{tag}", CLIENT),
            ):
                ip("-n", ns, "addr", "add", f"{address}/30", "dev", dev)
                ip("-n", ns, "link", "set", dev, "up")
                ip("-n", ns, "link", "set", "lo", "up")
        except subprocess.CalledProcessError as exc:
            pytest.skip(
                f"cannot make two namespaces and a veth pair here: {exc.stderr.decode().strip()}"
            )
        yield server_ns, client_ns
    finally:
        for ns in made:  # (the veth pair goes with its namespaces)
            subprocess.run(["ip", "netns", "del", ns], check=False, capture_output=True, timeout=10)


def in_namespace(ns: str, work):
    """``work()`` in a thread that has entered network namespace ``ns`` (setns applies to
    the calling thread only: every socket it makes is that namespace's)."""
    outcome: dict = {}

    def run() -> None:
        try:
            fd = os.open(f"/var/run/netns/{ns}", os.O_RDONLY)
            try:
                libc = ctypes.CDLL(None, use_errno=True)
                if libc.setns(fd, CLONE_NEWNET) != 0:
                    raise OSError(ctypes.get_errno(), "setns")
            finally:
                os.close(fd)
            outcome["value"] = work()
        except BaseException as exc:
            outcome["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(120)
    assert not thread.is_alive(), "the client in the other namespace never finished"
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


async def browse(token: str) -> dict:
    """What a browser (and a stranger) on the other machine gets."""
    base, origin = f"http://{SERVER}:{PORT}", f"http://{SERVER}:{PORT}"
    seen: dict = {}
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as browser:
        for attempt in range(100):  # (the server is still starting)
            try:
                async with browser.get(f"{base}/") as response:
                    seen["no token"] = (response.status, await response.text())
                break
            except aiohttp.ClientConnectorError:
                assert attempt < 99, "the server never answered"
                await asyncio.sleep(0.2)
        async with browser.get(f"{base}/?token=wrong{token}") as response:
            seen["wrong token"] = response.status
        async with browser.get(
            f"{base}/?token={token}", headers={"Host": f"evil.example:{PORT}"}
        ) as response:
            seen["wrong host"] = response.status
        async with browser.get(f"{base}/?token={token}") as response:
            seen["page"] = (response.status, await response.text())
        async with browser.get(f"{base}/static/js/textual.js") as response:
            seen["asset with the cookie"] = response.status

        async def upgrade(path: str, origin: str | None, session=browser):
            headers = {} if origin is None else {"Origin": origin}
            try:
                return await session.ws_connect(
                    f"ws://{SERVER}:{PORT}{path}?width=90&height=30", headers=headers
                )
            except aiohttp.WSServerHandshakeError as refused:
                return refused.status

        seen["ws evil origin"] = await upgrade(f"/ws/{token}", f"http://evil.example:{PORT}")
        seen["ws client's origin"] = await upgrade(f"/ws/{token}", f"http://{CLIENT}:{PORT}")
        tab = await upgrade(f"/ws/{token}", origin)
        assert not isinstance(tab, int), f"the page's WebSocket was refused: {tab}"
        drawn = b""
        while b"udp-echo" not in drawn:
            message = await tab.receive(timeout=20)
            assert message.type in (aiohttp.WSMsgType.BINARY, aiohttp.WSMsgType.TEXT), message
            drawn += message.data if isinstance(message.data, bytes) else message.data.encode()
        seen["tab drew"] = True
        tabs = [tab] + [await upgrade(f"/ws/{token}", origin) for _ in range(MAX_TABS - 1)]
        seen["tabs opened"] = sum(not isinstance(t, int) for t in tabs)
        seen["one too many"] = await upgrade(f"/ws/{token}", origin)
        for t in tabs:
            if not isinstance(t, int):
                await t.close()
        async with aiohttp.ClientSession() as stranger:  # (no cookie)
            async with stranger.get(f"{base}/static/js/textual.js") as response:
                seen["asset without"] = response.status
            seen["ws no token"] = await upgrade("/ws", origin, stranger)
            seen["ws wrong token"] = await upgrade(f"/ws/x{token}", origin, stranger)
    return seen


def test_a_lan_browser_joins_with_the_printed_token_and_nothing_else_gets_in(lan):
    server_ns, client_ns = lan
    proc = subprocess.Popen(
        [
            "ip",
            "netns",
            "exec",
            server_ns,
            sys.executable,
            "-m",
            "sockviz",
            "--serve",
            "--host",
            "0.0.0.0",
            "--port",
            str(PORT),
            "--scenario",
            "udp-echo",
            "--step",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    tree: list = []
    try:
        warning = read_line(proc.stderr).decode()
        serving = read_line(proc.stderr).decode()
        assert "warning: serving beyond this machine" in warning, warning
        found = re.search(rf"http://{re.escape(SERVER)}:{PORT}/\?token=([\w-]+)", serving)
        assert found, serving
        token = found.group(1)
        assert token not in warning and len(token) >= 20
        seen = in_namespace(client_ns, lambda: asyncio.run(browse(token)))
        tree = descendants(proc.pid)
        status, body = seen["no token"]
        assert status == 403 and len(body.strip().splitlines()) == 1, body
        assert token not in body
        assert seen["wrong token"] == 403 and seen["wrong host"] == 403
        status, page = seen["page"]
        assert status == 200 and f"ws://{SERVER}:{PORT}/ws/{token}" in page
        assert seen["asset with the cookie"] == 200 and seen["asset without"] == 403
        assert seen["ws no token"] == 403 and seen["ws wrong token"] == 403
        assert seen["ws evil origin"] == 403 and seen["ws client's origin"] == 403
        assert seen["tab drew"] and seen["tabs opened"] == MAX_TABS
        assert seen["one too many"] == 503
    finally:
        tree += descendants(proc.pid)
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        for pid, _ in tree:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        wait_until(
            lambda: not any(alive(pid) for pid, _ in tree), 5, "a tab's process outlived the test"
        )
