"""The wire in the TUI: segments on the ladder under their calls (w hides and shows them),
predict mode's wire questions, the --pcap file a live run writes, and one notice when the
wire cannot be watched."""

from __future__ import annotations

import os
import struct

import pytest

from sockviz.app.app import AppConfig, make_app
from sockviz.app.screens.quiz_screen import QuizScreen
from sockviz.app.widgets.ladder import Ladder
from sockviz.cli import build_parser
from sockviz.engine import predict_questions as quiz
from sockviz.engine.events import WireStatus
from sockviz.engine.run.runner import Runner
from sockviz.launch import serve_command
from sockviz.options import check, from_arguments
from tests.app.app_helpers import THEME, jump, replay_app, settle, steps, until

SIZE = (100, 30)
IS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0


async def test_w_hides_and_shows_the_wire_rows():
    app = replay_app("tcp-echo-wire-ipv4", "tcp-echo")
    async with app.run_test(size=SIZE) as pilot:
        await jump(pilot, 15)
        ladder = app.query_one(Ladder)
        wire = [row.label for row in ladder.rows if row.packet is not None]
        assert len(wire) == 11 and wire[:3] == ["SYN seq 0", "SYN,ACK seq 0 ack 1", "ACK 1"]
        calls = [row for row in ladder.rows if row.packet is None]
        await pilot.press("w")
        await pilot.pause()
        assert ladder.rows == calls  # the calls stay, every one
        assert ladder.virtual_size.height == 1 + sum(ladder._height(r) for r in calls)
        await pilot.press("w")
        await pilot.pause()
        assert [row.label for row in ladder.rows if row.packet is not None] == wire
        assert len(app.run_screen.view.shown_rows()) == len(ladder.rows)  # the run itself unchanged


async def test_what_crossed_is_in_what_just_happened():
    app = replay_app("tcp-echo-wire-ipv4", "tcp-echo")
    async with app.run_test(size=(100, 45)) as pilot:
        await jump(pilot, 6)
        assert (
            "Wire: connect() sent SYN; server's kernel answered SYN-ACK before accept() "
            "was called - the connection waited in the accept queue" in explained(app)
        )
        await jump(pilot, 1)
        assert "Wire: accept() sent nothing" in explained(app)


def explained(app) -> str:
    """What 'what just happened' says, as one text."""
    return str(app.query_one("#explain-done").visual)


async def test_predict_mode_asks_what_connect_puts_on_the_wire():
    app = replay_app("tcp-echo-wire-ipv4", "tcp-echo")
    async with app.run_test(size=SIZE) as pilot:
        await jump(pilot, 5)  # up to the client's socket()
        app.run_screen.predict.predictions.on = True
        await pilot.press("right")
        await until(pilot, lambda: isinstance(app.screen, QuizScreen))
        question = app.screen.question
        assert question.kind == "wire-connect"
        assert question.text == "What will client.connect() put on the wire before it returns?"
        await pilot.press(str(question.choices.index(quiz.HANDSHAKE) + 1))
        await until(pilot, lambda: app.run_screen.view.steps_done == 6)
        await pilot.press("right")  # the next question: the reveal of this one comes first
        await until(pilot, lambda: 5 in app.run_screen.predict.predictions.said)
        assert app.run_screen.predict.predictions.said[5] == (quiz.HANDSHAKE, quiz.HANDSHAKE)


def _pcap_frames(path) -> list[tuple[int, bytes]]:
    """(TCP flags byte, frame) of each frame in a classic pcap file, read plainly."""
    data = path.read_bytes()
    assert struct.unpack_from("<I", data)[0] == 0xA1B2C3D4
    frames, at = [], 24
    while at < len(data):
        _s, _u, kept, _whole = struct.unpack_from("<IIII", data, at)
        frame = data[at + 16 : at + 16 + kept]
        if frame[12:14] == b"\x08\x00" and frame[23] == 6:  # IPv4, TCP
            header = (frame[14] & 0x0F) * 4
            frames.append((frame[14 + header + 13], frame))
        at += 16 + kept
    return frames


@pytest.mark.skipif(not IS_ROOT, reason="the engine watches the host's loopback as root")
async def test_a_live_run_writes_its_frames_to_the_pcap_file(tmp_path):
    path = tmp_path / "run.pcap"
    app = make_app(
        AppConfig(scenario="tcp-echo", step=True, wire="host", pcap=str(path)), theme=THEME
    )
    app.animation_level = "none"
    async with app.run_test(size=SIZE) as pilot:
        await steps(pilot, 15)
        assert app.run_screen.view.wire.where == "host"
        shown = [row.packet for row in app.run_screen.view.shown_rows() if row.packet is not None]
    frames = _pcap_frames(path)  # written when the run stopped (the app quit)
    syn, syn_ack, fin = 0x02, 0x12, 0x01
    assert [flags for flags, _ in frames[:2]] == [syn, syn_ack]
    assert sum(1 for flags, _ in frames if flags & fin) == 2
    assert len(frames) == len(shown) == 11


async def test_a_wire_that_cannot_be_watched_is_said_once():
    def factory(scenario, consumer, **options):
        return Runner(
            scenario,
            consumer,
            **options,
            wire=WireStatus(None, "user namespaces are turned off here"),
        )

    app = make_app(AppConfig(scenario="tcp-echo", step=True), runner_factory=factory, theme=THEME)
    app.animation_level = "none"
    async with app.run_test(size=SIZE) as pilot:
        await steps(pilot, 1)
        await pilot.press("r")
        await settle(pilot)
        await steps(pilot, 1)
        said = [n.message for n in app._notifications if "wire" in n.message]
        assert said == ["The wire is not shown: user namespaces are turned off here."]
        assert not any(row.packet for row in app.run_screen.view.shown_rows())
        assert "Wire:" not in explained(app)


def test_every_served_tab_watches_the_wire_where_it_was_asked():
    def served(*args: str) -> list[str]:
        return serve_command(check(from_arguments(build_parser().parse_args(["--serve", *args]))))

    assert "--wire" not in served()
    assert served("--wire", "off")[-2:] == ["--wire", "off"]
