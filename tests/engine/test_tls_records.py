"""TLS records named from segment bytes (``sockviz.engine.wire.tls_records``), and the ``tls``
lesson's wire as a real ``--trace`` run writes it: each record on the segment it begins in,
each segment caused by the call that wrote it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

from sockviz.engine.kernel import tcp_state as kernel
from sockviz.engine.record import recordings
from sockviz.engine.wire.tls_records import NOT_A_RECORD, UNSEEN, TlsStreams, starts_tls
from sockviz.view.words import tls_short
from tests.witness.witnesses import ROOT

WAY = ("127.0.0.1:1", "127.0.0.1:2")


def record(kind: int, body: bytes) -> bytes:
    return bytes((kind, 3, 3)) + len(body).to_bytes(2, "big") + body


HELLO = record(22, b"\x01" + bytes(40))


def test_a_connection_is_tls_only_when_its_first_bytes_start_a_hello():
    assert starts_tls(HELLO)
    assert not starts_tls(b"GET / HTTP/1.1\r\n")
    assert not starts_tls(record(23, bytes(10)))  # (not a handshake first)
    streams = TlsStreams()
    assert streams.names(WAY, 1, 16, b"GET / HTTP/1.1\r\n") is None
    assert streams.names(WAY, 17, len(HELLO), HELLO) is None  # (never looked at again)


def test_records_are_followed_across_segments_by_their_lengths():
    streams = TlsStreams()
    flight = record(22, b"\x02" + bytes(30)) + record(20, b"\x01") + record(23, bytes(100))
    assert streams.names(WAY, 1, len(HELLO), HELLO) == ("ClientHello",)
    at = 1 + len(HELLO)
    # the flight cut in two: its last record begins in the first piece, ends in the second
    first, second = flight[:60], flight[60:]
    assert streams.names(WAY, at, len(first), first) == (
        "ServerHello",
        "ChangeCipherSpec",
        "ApplicationData",
    )
    assert streams.names(WAY, at + 60, len(second), second) is None  # (inside it)
    after = record(23, bytes(20))
    assert streams.names(WAY, at + len(flight), len(after), after) == ("ApplicationData",)


def test_a_header_past_the_bytes_kept_is_unseen_and_the_next_record_found_again():
    streams = TlsStreams()
    whole = HELLO + record(23, bytes(500)) + record(23, bytes(10))
    kept = whole[:300]  # (the capture keeps the start of a frame)
    assert streams.names(WAY, 1, len(whole), kept) == ("ClientHello", "ApplicationData", UNSEEN)
    later = record(21, bytes(2))
    assert streams.names(WAY, 1 + len(whole), len(later), later) == ("Alert",)


def test_bytes_that_are_no_record_are_said_so():
    streams = TlsStreams()
    assert streams.names(WAY, 1, len(HELLO), HELLO) == ("ClientHello",)
    junk = b"\x99" * 20
    assert streams.names(WAY, 1 + len(HELLO), 20, junk) == (NOT_A_RECORD,)


def test_a_handshake_record_after_change_cipher_spec_is_encrypted():
    streams = TlsStreams()
    data = HELLO + record(20, b"\x01") + record(22, bytes(40))
    assert streams.names(WAY, 1, len(data), data) == (
        "ClientHello",
        "ChangeCipherSpec",
        "Handshake (encrypted)",
    )


def test_the_ladder_writes_runs_of_one_record_counted():
    assert tls_short(
        ("ServerHello", "ChangeCipherSpec", "ApplicationData", "ApplicationData", "…")
    ) == ("ServerHello+CCS+AppData×2+…")


@pytest.mark.skipif(not kernel.available(), reason="the capture needs Linux")
@pytest.mark.parametrize("family", ["ipv4", "ipv6"])
def test_the_lessons_records_on_the_wire_and_back_from_the_trace(family, tmp_path):
    from tests.conftest import IPV6

    if family == "ipv6" and not IPV6:
        pytest.skip("no IPv6 loopback")
    path = tmp_path / "tls.jsonl"
    command = [sys.executable, "-m", "sockviz", "--trace", "--scenario", "tls"]
    proc = subprocess.run(
        [*command, "--family", family, "--record", str(path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    lines = [json.loads(line) for line in proc.stdout.splitlines()]
    calls = {r["seq"]: r for r in lines if r["call"] not in ("packet", "kernel", "tcp")}
    named = [r for r in lines if r["call"] == "packet" and r.get("tls")]
    if not named:
        pytest.skip("the wire is not watched here (no capture)")
    assert [(r["from"], r["tls"][0], calls[r["cause"]]["call"]) for r in named] == [
        ("client", "ClientHello", "do_handshake"),
        ("conn-1", "ServerHello", "do_handshake"),
        ("client", "ChangeCipherSpec", "do_handshake"),
        ("client", "ApplicationData", "sendall"),
        ("conn-1", "ApplicationData", "sendall"),
    ]
    # its recording reads back, the records kept
    events = recordings.read_recording(str(path)).events
    assert [e.tls for e in events if getattr(e, "tls", None)] == [tuple(r["tls"]) for r in named]


@pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("setpriv") is None,
    reason="needs root to become another user, and setpriv",
)
def test_the_lesson_runs_as_an_unprivileged_user():
    """As uid 65534 the lesson runs whole - its certificate made, its handshake done - and
    the records are named on the wire of a private network of its own (where user
    namespaces are allowed; else without the wire)."""
    probe = subprocess.run(
        ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", sys.executable, "-c", ""],
        cwd="/tmp",
        capture_output=True,
        check=False,
    )
    if probe.returncode != 0:
        pytest.skip(f"this Python is not one uid 65534 can run: {probe.stderr[-200:]!r}")
    nobody = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", sys.executable]
    proc = subprocess.run(
        [*nobody, "-B", "-m", "sockviz", "--trace", "--scenario", "tls"],
        cwd="/tmp",
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    lines = [json.loads(line) for line in proc.stdout.splitlines()]
    shakes = [r["error"] for r in lines if r["call"] == "do_handshake"]
    assert shakes == ["SSLWantReadError", "SSLWantReadError", None, None]
    named = [r["tls"][0] for r in lines if r.get("tls")]
    assert named in (
        [],
        ["ClientHello", "ServerHello", "ChangeCipherSpec"] + ["ApplicationData"] * 2,
    )
