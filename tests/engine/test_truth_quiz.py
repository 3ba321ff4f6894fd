"""Issue 23, findings 9, 11 and 18 (predict mode's part): every answer is read off the run -
the call's own event, the kernel's own readings, the datagram as its sender sent it - and
checked here against the same run's facts or an independent witness (``ss``), never against
what the scenario meant."""

from __future__ import annotations

import dataclasses
import shutil
import subprocess

import pytest

from sockviz.engine import scenarios
from sockviz.engine.events import CallEvent, KernelEvent, RunFinished, StepPending
from sockviz.engine.predict_questions import (
    AFTER_FIN,
    NEW_SOCKET,
    ONE_DATAGRAM,
    PART,
    SAME_SOCKET,
    Datagrams,
    ask,
)
from sockviz.engine.run.gate import Mode
from sockviz.engine.run.runner import Runner
from sockviz.engine.scenarios.scenario_files import load
from sockviz.engine.states import Call
from tests.engine.test_predict_questions import Seen
from tests.helpers import Collector


def run(scenario, **options) -> list:
    collector = Collector()
    runner = Runner(scenario, collector, family="ipv4", mode=Mode.FAST, **options)
    runner.start()
    try:
        assert runner.wait(30), "the scenario did not finish"
    finally:
        assert runner.stop()
    return collector.events


def asked(events: list) -> list[dict]:
    """Each question put before a step, with the step's call event, the sockets as the
    kernel had reported them when the run moved on (the reveal), as they were at the end,
    and the size the datagram a recv read was sent with."""
    sockets: dict[str, Seen] = {}
    datagrams, out, current = Datagrams(), [], None

    def snapshot() -> dict[str, Seen]:
        return {name: dataclasses.replace(seen) for name, seen in sockets.items()}

    for event in events:
        if isinstance(event, StepPending | RunFinished) and current is not None:
            current["reveal"] = snapshot()
            out.append(current)
            current = None
        if isinstance(event, StepPending):
            question = ask(event, sockets)
            if question is not None:
                current = {"question": question, "event": None, "datagram": None}
        elif isinstance(event, CallEvent | KernelEvent):
            seen = sockets.setdefault(event.socket, Seen(event.socket, event.role, event.type))
            seen.kernel = event.kernel or seen.kernel
            if isinstance(event, CallEvent):
                size = datagrams.seen(event)
                seen.state = event.state or seen.state
                seen.local, seen.remote = event.local or seen.local, event.remote or seen.remote
                if current is not None and event.step == current["question"].step:
                    current["event"], current["datagram"] = event, size
    for entry in out:
        entry["end"] = sockets
    return out


def truth(entry: dict, when: str = "reveal") -> str:
    return entry["question"].answer(entry["event"], entry[when], (), entry["datagram"])


def of_kind(entries: list[dict], kind: str) -> list[dict]:
    return [e for e in entries if e["question"].kind == kind]


# --- 11: the kernel question is the call's own reading -------------------------------------


def test_the_kernel_answer_is_the_calls_own_reading_not_a_later_line():
    """tcp-echo: client.close() returns in FIN_WAIT2 (its own reading); later the server's
    FIN puts it in TIME_WAIT. However late the reveal comes, the answer is the reading
    taken when close() returned."""
    entries = asked(run(scenarios.get("tcp-echo")))
    (entry,) = of_kind(entries, "kernel")
    event = entry["event"]
    assert event.call is Call.CLOSE and event.kernel == "FIN_WAIT2"
    assert entry["end"][event.socket].kernel == "TIME_WAIT"  # (a later line said so)
    assert truth(entry) == truth(entry, "end") == "FIN_WAIT2"


def test_the_kernel_choices_are_what_close_can_leave():
    """CLOSING can be seen when close() returns (both FINs crossing); CLOSE_WAIT never can
    (close() sends the FIN that ends it). Every kernel question of every scenario has its
    true answer among the choices."""
    question_choices = None
    for name in ("tcp-echo", "time-wait", "reset", "broken-pipe", "websocket"):
        for entry in of_kind(asked(run(scenarios.get(name))), "kernel"):
            question_choices = entry["question"].choices
            assert truth(entry) in question_choices, (name, truth(entry))
            assert truth(entry) == entry["event"].kernel
    assert question_choices == AFTER_FIN
    assert "CLOSING" in AFTER_FIN and "CLOSE_WAIT" not in AFTER_FIN
    assert len(AFTER_FIN) <= 9  # (each has a digit key)


# --- 9: the time-wait question, against ss -----------------------------------------------------


def time_wait_tuples() -> set[tuple[str, str]]:
    """(local, peer) of every TCP connection ``ss`` shows in TIME-WAIT on this machine."""
    text = subprocess.run(
        ["ss", "-tanH", "state", "time-wait"],
        capture_output=True,
        text=True,
        timeout=10,
        check=True,
    ).stdout
    return {
        (fields[-2], fields[-1])
        for fields in (line.split() for line in text.splitlines())
        if len(fields) >= 2
    }


@pytest.mark.skipif(shutil.which("ss") is None, reason="ss is not installed")
@pytest.mark.parametrize("name", ["half-close", "tcp-echo"])
def test_the_time_wait_answer_is_the_end_ss_shows_in_time_wait(name):
    """half-close step 14: the client only shut down its sending side; when conn-1 closes,
    the client's end goes to TIME_WAIT though its socket is still open. The answer names
    the end ss shows in TIME-WAIT, and the question's words fit a socket still open."""
    entries = of_kind(asked(run(scenarios.get(name))), "time-wait")
    waiting = time_wait_tuples()
    assert entries
    for entry in entries:
        question, reveal = entry["question"], entry["reveal"]
        in_ss = [
            end
            for end in (question.socket, question.peer)
            if (reveal[end].local, reveal[end].remote) in waiting
        ]
        assert in_ss, f"ss shows neither end in TIME-WAIT: {waiting}"
        assert truth(entry) == (in_ss[0] if len(in_ss) == 1 else "both"), question.text
        assert "end of the connection" in question.text
    if name == "half-close":
        question = entries[0]["question"]
        assert question.step == 13 and question.peer == "client"
        assert "still open" in question.text and "already closed" not in question.text


# --- 18: accept and a UDP recv are read off the event -----------------------------------


def test_accept_is_answered_by_the_socket_it_gave_back():
    entries = asked(run(scenarios.get("tcp-echo")))
    (entry,) = of_kind(entries, "accept")
    event, question = entry["event"], entry["question"]
    assert event.parent == question.socket == "server" and event.socket == "conn-1"
    assert truth(entry) == NEW_SOCKET
    # The same event, had the listener itself come back: the answer follows the event.
    itself = dataclasses.replace(event, socket="server", parent=None)
    assert question.answer(itself, entry["reveal"]) == SAME_SOCKET


TRUNCATING = """
[scenario]
name = "udp-short-buffer"
summary = "a datagram longer than the buffer recvfrom() is given"
families = ["ipv4"]

[[socket]]
name = "server"
role = "server"
type = "datagram"

[[socket]]
name = "client"
role = "client"
type = "datagram"

[[step]]
socket = "server"
call = "socket"

[[step]]
socket = "server"
call = "bind"

[[step]]
socket = "client"
call = "socket"

[[step]]
socket = "client"
call = "sendto"
data = "marco polo"
to = "server"

[[step]]
socket = "client"
call = "sendto"
data = "hi"
to = "server"

[[step]]
socket = "server"
call = "recvfrom"
size = 4

[[step]]
socket = "server"
call = "recvfrom"
size = 4

[[step]]
socket = "client"
call = "close"

[[step]]
socket = "server"
call = "close"
"""


def test_a_udp_recv_is_answered_by_the_datagram_it_read(tmp_path):
    """recvfrom(4) of a 10-byte datagram returns part of it (the rest is gone); the next
    recvfrom(4) returns the whole 2-byte one. Sizes as the run's own sendto reported."""
    path = tmp_path / "short.toml"
    path.write_text(TRUNCATING)
    entries = of_kind(asked(run(load(str(path)))), "recv")
    assert [(e["event"].nbytes, e["datagram"]) for e in entries] == [(4, 10), (2, 2)]
    assert [truth(e) for e in entries] == [PART, ONE_DATAGRAM]
    assert all(truth(e) in e["question"].choices for e in entries)


def test_message_boundaries_each_recvfrom_reads_one_whole_datagram():
    entries = [
        e
        for e in of_kind(asked(run(scenarios.get("message-boundaries"))), "recv")
        if e["event"].type == "SOCK_DGRAM"
    ]
    assert [e["datagram"] for e in entries] == [4, 4, 6]
    assert [truth(e) for e in entries] == [ONE_DATAGRAM] * 3


# --- the wire's questions, against the segments the same run captured ------------------------


def wire_capture():
    from sockviz.engine.wire.capture import WireUnavailable
    from sockviz.engine.wire.watch_point import decide

    try:
        return decide("host", False).capture("ipv4")
    except WireUnavailable as exc:
        pytest.skip(f"the wire cannot be watched here: {exc}")


def wire_questions(name: str, kind: str) -> list[tuple]:
    """(question, call event, segments it caused, answer) for each ``kind`` question of a
    real run of ``name`` with the wire watched."""
    from sockviz.engine.events import Segment

    events = run(scenarios.get(name), capture=wire_capture())
    sockets: dict[str, Seen] = {}
    found, current = [], None
    for event in events:
        if isinstance(event, StepPending | RunFinished) and current is not None:
            question, made = current
            caused = [
                s
                for s in events
                if isinstance(s, Segment) and made is not None and s.cause == made.seq
            ]
            found.append((question, made, caused, question.answer(made, sockets, caused)))
            current = None
        if isinstance(event, StepPending):
            question = ask(event, sockets, wire=True)
            current = (question, None) if question and question.kind == kind else None
        elif isinstance(event, CallEvent | KernelEvent):
            seen = sockets.setdefault(event.socket, Seen(event.socket, event.role, event.type))
            seen.kernel = event.kernel or seen.kernel
            if isinstance(event, CallEvent):
                seen.state = event.state or seen.state
                seen.local, seen.remote = event.local or seen.local, event.remote or seen.remote
                if current is not None and event.step == current[0].step:
                    current = (current[0], event)
    return found


@pytest.mark.parametrize("name", ["backlog-full", "tcp-echo"])
def test_connect_is_asked_what_it_sends_only_when_it_sends_the_syn(name):
    """backlog-full: each client's second connect() ends a handshake its first connect()
    (EINPROGRESS) began - client-3's waits a second for the kernel's retried SYN. Those
    calls put no SYN of their own on the wire, so they are not asked what they put there;
    every connect() asked sent its SYN itself."""
    found = wire_questions(name, "wire-connect")
    assert len(found) == (0 if name == "backlog-full" else 1)
    for question, made, caused, answer in found:
        assert caused and caused[0].flags == "SYN" and caused[0].source == made.socket
        assert answer in question.choices


def test_a_close_that_resets_is_not_said_to_wait_for_a_fin():
    """reset: conn-1 closes with SO_LINGER 0 - its kernel sends RST, never a FIN. The
    wire-fin question's answer says a reset ended it (among the choices), not that a FIN
    "waits for both to close"."""
    from sockviz.engine.predict_questions import RST_NOT_FIN

    found = wire_questions("reset", "wire-fin")
    ((question, made, caused, answer),) = found
    flags = [s.flags or "" for s in caused]
    assert made.socket == "conn-1" and any("RST" in f for f in flags), flags
    assert not any("FIN" in f for f in flags)
    assert answer == RST_NOT_FIN and answer in question.choices


def test_the_kernel_question_asks_for_the_moment_it_is_answered_at():
    """The answer is the reading taken when close() returned: the question says so."""
    (entry,) = of_kind(asked(run(scenarios.get("tcp-echo"))), "kernel")
    assert entry["question"].text.startswith("When client.close() returns, which TCP state")


def test_a_fin_sent_after_close_returned_is_not_the_answer():
    """A CI run beside a burner: conn-1.close() in websocket returned before its kernel's
    FIN left (the capture had none up to the return; the FIN came later, sent by the kernel
    on its own, so with no cause). predict mode answered 'conn-1' from that later FIN. The
    wire question asks what has left *by the return*: what the kernels send after it is not
    the answer. The run's own events are folded as the app folds them, once as they came and
    once with the FIN the kernel's own, sent after the return (as that loaded run had it)."""
    from sockviz.engine.events import Segment, WireStatus
    from sockviz.engine.predict_questions import NO_FIN
    from sockviz.view.quiz_state import Predictions
    from tests.witness.witnesses import fold

    scenario = scenarios.get("websocket")
    events = run(scenario, capture=wire_capture(), wire=WireStatus("host"))
    close = next(e for e in events if isinstance(e, CallEvent) and e.call is Call.CLOSE)
    fin = next(
        e for e in events if isinstance(e, Segment) and e.cause == close.seq and "FIN" in e.flags
    )
    # (as the loaded run recorded it: no cause, stamped 20 ms after the return)
    late = [dataclasses.replace(e, cause=None, t=close.t + 0.02) if e is fin else e for e in events]

    def answer(events: list) -> str:
        predictions = Predictions(on=True)
        for k, event in enumerate(events):
            if isinstance(event, CallEvent):
                predictions.saw(event)
            if isinstance(event, StepPending) and event.step == close.step:
                question = predictions.question(fold(scenario, events[: k + 1]))
                assert question is not None and question.kind == "wire-fin", question
                predictions.guessed(question, 0)
            elif isinstance(event, StepPending) and event.step == close.step + 1:
                reveal = predictions.reveal(fold(scenario, events[: k + 1]))
                assert reveal is not None
                return reveal.truth
        raise AssertionError("the step after close() was never pending")

    assert answer(events) == "conn-1"
    assert answer(late) == NO_FIN
