"""Snapshots of the main screens, from recorded real runs (same bytes and ports every time).

Each test replays a trace recorded from a real run (tests/app/data, made by
scripts/record_fixtures.py) through the real app and its real key bindings, with the
theme, the clock and the terminal size fixed.
"""

from __future__ import annotations

import pytest

from sockviz.app.widgets.ladder import Ladder
from tests.app.app_helpers import at_step, replay_app

SIZE = (100, 30)


def test_first_screen(snap_compare):
    """sockviz --step before any call: empty lanes, the first call announced under Next."""
    assert snap_compare(
        replay_app("tcp-echo-ipv4", "tcp-echo"), terminal_size=SIZE, run_before=at_step(0)
    )


def test_tcp_echo_bound(snap_compare):
    """After bind(): the listener's card is bound to 127.0.0.1:5000."""
    assert snap_compare(
        replay_app("tcp-echo-ipv4", "tcp-echo"), terminal_size=SIZE, run_before=at_step(3)
    )


def test_tcp_echo_listening(snap_compare):
    """After listen(): strip at listening, kernel badge LISTEN."""
    assert snap_compare(
        replay_app("tcp-echo-ipv4", "tcp-echo"), terminal_size=SIZE, run_before=at_step(4)
    )


def test_tcp_echo_connected_with_bytes(snap_compare):
    """After the echo came back: three cards ESTABLISHED, 14 B each way, solid arrows."""
    assert snap_compare(
        replay_app("tcp-echo-ipv4", "tcp-echo"), terminal_size=SIZE, run_before=at_step(11)
    )


def test_tcp_echo_closed_time_wait(snap_compare):
    """The end: every socket closed, TIME_WAIT (60 s) on the client, which closed first."""
    assert snap_compare(
        replay_app("tcp-echo-ipv4", "tcp-echo"), terminal_size=SIZE, run_before=at_step(15)
    )


def test_udp_echo_midway(snap_compare):
    """udp-echo after the server's recvfrom(): datagram cards, no kernel badge."""
    assert snap_compare(
        replay_app("udp-echo-ipv4", "udp-echo"), terminal_size=SIZE, run_before=at_step(5)
    )


def test_ipv6(snap_compare):
    """tcp-echo over ::1: AF_INET6 cards, [::1]:5000 addresses."""
    assert snap_compare(
        replay_app("tcp-echo-ipv6", "tcp-echo", family="ipv6"),
        terminal_size=SIZE,
        run_before=at_step(8),
    )


def test_help_screen(snap_compare):
    """? shows every key and how to read the screen."""
    assert snap_compare(
        replay_app("tcp-echo-ipv4", "tcp-echo"),
        terminal_size=SIZE,
        run_before=at_step(4, "question_mark"),
    )


def test_scenario_picker(snap_compare):
    """s opens the scenario list with the running one marked and described."""
    assert snap_compare(
        replay_app("tcp-echo-ipv4", "tcp-echo"), terminal_size=SIZE, run_before=at_step(2, "s")
    )


def test_port_in_use_error_on_card(snap_compare):
    """bind() failed with EADDRINUSE: the error, in plain words, on the listener's card."""
    assert snap_compare(
        replay_app("tcp-echo-port-in-use", "tcp-echo"), terminal_size=SIZE, run_before=at_step(3)
    )


def test_payload_view(snap_compare):
    """p shows the selected message's bytes in hex and ASCII."""
    assert snap_compare(
        replay_app("tcp-echo-ipv4", "tcp-echo"), terminal_size=SIZE, run_before=at_step(9, "p")
    )


def test_small_terminal_80x24(snap_compare):
    """The connected screen at 80x24: everything there, lanes scroll."""
    assert snap_compare(
        replay_app("tcp-echo-ipv4", "tcp-echo"), terminal_size=(80, 24), run_before=at_step(11)
    )


def test_projector_160x45(snap_compare):
    """The connected screen on a projector-sized terminal, 160x45."""
    assert snap_compare(
        replay_app("tcp-echo-ipv4", "tcp-echo"), terminal_size=(160, 45), run_before=at_step(11)
    )


# The scenario library: each at the step where its lesson is on the screen.
# (fixture, scenario, steps, keys, closer, what the snapshot proves)
LIBRARY = [
    (
        "multi-client-ipv4",
        "multi-client",
        13,
        (),
        None,
        "three connections from one listener: same local address, three remote ports",
    ),
    (
        "backlog-full-ipv4",
        "backlog-full",
        13,
        (),
        None,
        "queue 2/1 on the listener; client-3 in SYN_SENT, its connect() EALREADY",
    ),
    (
        "refused-ipv4",
        "refused",
        4,
        (),
        None,
        "connect() to a bound, not listening port: ECONNREFUSED shown as the lesson",
    ),
    (
        "address-in-use-ipv4",
        "address-in-use",
        19,
        (),
        None,
        "EADDRINUSE twice, then bind() succeeds with SO_REUSEADDR over TIME_WAIT",
    ),
    (
        "reset-ipv4",
        "reset",
        12,
        (),
        None,
        "SO_LINGER 0 close: RST, ECONNRESET on the client, no TIME_WAIT",
    ),
    (
        "broken-pipe-ipv4",
        "broken-pipe",
        10,
        (),
        None,
        "first send() after the peer closed succeeds, the second fails EPIPE",
    ),
    (
        "half-close-ipv4",
        "half-close",
        13,
        (),
        None,
        "shutdown(SHUT_WR): half-closed client in FIN_WAIT2 still reads the reply",
    ),
    (
        "time-wait-ipv4",
        "time-wait",
        11,
        (),
        "client",
        "--closer client: TIME_WAIT on the client only",
    ),
    (
        "time-wait-server-ipv4",
        "time-wait",
        11,
        (),
        "server",
        "--closer server: TIME_WAIT on the server's connection only",
    ),
    (
        "message-boundaries-ipv4",
        "message-boundaries",
        21,
        ("l",),
        None,
        "one TCP recv() of 14 bytes for three sends; three UDP recvfrom() of one each",
    ),
    (
        "bulk-ipv4",
        "bulk",
        9,
        (),
        None,
        "64 MiB each way counted in one sendall and one recv, with their system calls",
    ),
    (
        "websocket-ipv4",
        "websocket",
        13,
        ("p",),
        None,
        "a masked WebSocket text frame, its header decoded in the payload view",
    ),
    (
        "tcp-echo-unix",
        "tcp-echo",
        10,
        (),
        None,
        "AF_UNIX stream sockets: file paths for addresses, no ports, no kernel badge",
    ),
]


@pytest.mark.parametrize(
    ("fixture", "scenario", "n", "keys", "closer", "proves"),
    LIBRARY,
    ids=[row[0] for row in LIBRARY],
)
def test_scenario_library(snap_compare, fixture, scenario, n, keys, closer, proves):
    """Each scenario at the step that teaches it (see ``proves`` in LIBRARY)."""
    family = "unix" if fixture.endswith("-unix") else "ipv4"
    app = replay_app(fixture, scenario, family=family, closer=closer)
    assert snap_compare(app, terminal_size=SIZE, run_before=at_step(n, *keys))


def test_rewound_to_step_three(snap_compare):
    """Six calls made, then ← three times: step three's screen again (cards, ladder,
    explanation as they were), the status line saying so and its timeline marking the live
    edge at six."""
    assert snap_compare(
        replay_app("tcp-echo-ipv4", "tcp-echo"),
        terminal_size=SIZE,
        run_before=at_step(6, "left", "left", "left"),
    )


def test_predict_question(snap_compare):
    """g then → before the last close: predict mode asks which socket the kernel will keep
    in TIME_WAIT, with numbered choices; the call waits for the answer."""
    assert snap_compare(
        replay_app("tcp-echo-ipv4", "tcp-echo"),
        terminal_size=SIZE,
        run_before=at_step(13, "g", "right"),
    )


def test_wire_handshake(snap_compare):
    """After connect() with the wire recorded: SYN, SYN-ACK and ACK as thin arrows under it,
    and what crossed in 'what just happened'."""
    assert snap_compare(
        replay_app("tcp-echo-wire-ipv4", "tcp-echo"), terminal_size=SIZE, run_before=at_step(6)
    )


def test_wire_segment_header(snap_compare):
    """A segment chosen on the ladder: its header spelled out in the payload view."""

    async def choose_syn_ack(pilot) -> None:
        await at_step(6)(pilot)
        pilot.app.query_one(Ladder).focus()
        for key in ("up", "up"):  # the newest segment (ACK 1), then the one before it
            await pilot.press(key)
            await pilot.pause()

    assert snap_compare(
        replay_app("tcp-echo-wire-ipv4", "tcp-echo"), terminal_size=SIZE, run_before=choose_syn_ack
    )


def test_wire_projector_160x45(snap_compare):
    """The whole tcp-echo on a projector-sized terminal, every segment under its call."""
    assert snap_compare(
        replay_app("tcp-echo-wire-ipv4", "tcp-echo"),
        terminal_size=(160, 45),
        run_before=at_step(15),
    )


def test_lost_syn_on_two_hosts(snap_compare):
    """The lost-syn lab, recorded on two hosts, after connect(): the link strip with its
    settings and counters, the SYN cut short at ✗, a second passing, the kernel's retry ↻,
    the card's RTT and retransmission, and the story in 'what just happened'."""
    assert snap_compare(
        replay_app("lost-syn-ipv4", "lost-syn"), terminal_size=(120, 40), run_before=at_step(6)
    )
