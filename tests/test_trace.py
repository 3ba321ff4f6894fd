"""``--trace``: the JSON Lines schema, and the story each built-in scenario must tell."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sockviz.engine.record.trace_format import (
    ALL_KEYS,
    CORE_KEYS,
    escape_bytes,
    to_line,
    unescape_bytes,
)
from sockviz.engine.scenarios import get
from tests.helpers import run_scenario

TYPES = {
    "seq": int,
    "t": float,
    "socket": str,
    "role": str,
    "call": str,
    "state": (str, type(None)),
    "family": str,
    "type": str,
    "local": (str, type(None)),
    "remote": (str, type(None)),
    "nbytes": (int, type(None)),
    "sent_total": int,
    "recv_total": int,
    "error": (str, type(None)),
    "kernel": (str, type(None)),
}


def records(name: str, family: str) -> list[dict]:
    return [json.loads(to_line(e)) for e in run_scenario(get(name), family).trace]


@pytest.mark.parametrize("name", ["tcp-echo", "udp-echo"])
def test_schema(name, family):
    lines = records(name, family)
    assert CORE_KEYS == (
        "seq",
        "t",
        "socket",
        "role",
        "call",
        "state",
        "family",
        "type",
        "local",
        "remote",
        "nbytes",
        "sent_total",
        "recv_total",
        "error",
        "kernel",
    )
    for i, rec in enumerate(lines, start=1):
        assert tuple(rec) == ALL_KEYS
        assert rec["seq"] == i
        for key, kind in TYPES.items():
            assert isinstance(rec[key], kind), (key, rec)
        assert rec["family"] == ("AF_INET6" if family == "ipv6" else "AF_INET")
    times = [r["t"] for r in lines]
    assert times == sorted(times)


def test_tcp_echo_tells_the_whole_story(family):
    lines = records("tcp-echo", family)
    calls = [r for r in lines if r["call"] != "kernel"]
    by = {}
    for r in calls:
        by.setdefault(r["socket"], []).append(r)
    assert set(by) == {"server", "client", "conn-1"}
    for sock in by.values():
        assert sock[-1]["call"] == "close" and sock[-1]["state"] == "closed"
    client_last, conn_last = by["client"][-1], by["conn-1"][-1]
    assert client_last["sent_total"] == conn_last["recv_total"] == 14
    assert conn_last["sent_total"] == client_last["recv_total"] == 14
    kernels = [r["kernel"] for r in lines if r["kernel"]]
    assert "ESTABLISHED" in kernels and "LISTEN" in kernels
    tw = [r for r in lines if r["call"] == "kernel" and r["kernel"] == "TIME_WAIT"]
    assert [r["socket"] for r in tw] == ["client"]  # the side that closed first
    connect = next(r for r in calls if r["call"] == "connect")
    assert connect["implicit_bind"] is True
    accept = next(r for r in calls if r["call"] == "accept")
    assert accept["socket"] == "conn-1" and accept["parent"] == "server"
    assert accept["local"] == by["server"][2]["local"]  # same address as the listener
    assert accept["remote"] == connect["local"]
    echo = [r["data"] for r in calls if r["data"]]
    assert echo == ["hello, sockviz"] * 4


def test_udp_echo_tells_its_story(family):
    lines = records("udp-echo", family)
    assert all(r["kernel"] is None and r["call"] != "kernel" for r in lines)
    assert [r["call"] for r in lines] == [
        "socket",
        "bind",
        "socket",
        "sendto",
        "recvfrom",
        "sendto",
        "recvfrom",
        "close",
        "close",
    ]
    client = [r for r in lines if r["socket"] == "client"][-1]
    server = [r for r in lines if r["socket"] == "server"][-1]
    assert client["sent_total"] == server["recv_total"] == 14
    assert server["sent_total"] == client["recv_total"] == 14
    first_send = next(r for r in lines if r["call"] == "sendto")
    assert first_send["implicit_bind"] is True and first_send["state"] == "bound"


@given(st.binary(max_size=200))
def test_escaping_is_reversible_and_terminal_safe(data):
    text = escape_bytes(data)
    assert all(0x20 <= ord(ch) < 0x7F for ch in text)
    assert "\x1b" not in text
    assert unescape_bytes(text) == data


def test_escaping_examples():
    assert escape_bytes(b"hi\r\n\x1b[2J\\") == "hi\\x0d\\x0a\\x1b[2J\\\\"
    with pytest.raises(ValueError):
        unescape_bytes("\\q")
