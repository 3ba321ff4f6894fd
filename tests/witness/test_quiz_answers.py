"""Predict mode's answers against the same run's facts, for every loopback scenario with the
wire watched.

Each scenario is stepped from Python as the app plays predict mode: at each pause the
question the app would put (:class:`sockviz.view.quiz_state.Predictions` over the view folded
from the events), a guess, the step, and at the next pause the reveal. Its truth is then
held against what the run's witnesses show, not against the answer's own reasoning:

* ``kernel`` - the state the wire says the socket was in when the call returned (its FIN
  acknowledged or not, the peer's FIN come or not, a reset), or, where no segment of the
  connection crossed after the return, what ``ss`` shows at the next pause;
* ``time-wait`` - which of the two ends ``ss`` shows in TIME-WAIT;
* ``accept`` - a new socket was born, with the new connection ``ss`` shows;
* ``recv`` - what ``nbytes`` shows (a datagram's size as it crossed the wire);
* the wire's questions - the segments that crossed between the key press and the call's
  return, in order;
* ``outcome``/``state`` - the call line's error and lifecycle state.
"""

from __future__ import annotations

import time

import pytest

from sockviz.engine import predict_questions as quiz
from sockviz.engine import scenarios
from sockviz.engine.events import CallEvent, Segment, WireStatus
from sockviz.engine.scenarios import REGISTRY
from sockviz.engine.sockets.tracer import LINK_DRAIN
from tests.conftest import IPV6
from tests.witness.witnesses import (
    AGAIN,
    flag_set,
    fold,
    need,
    no_mismatch,
    ss,
    ss_state,
    step_through,
    stepped_mismatches,
)

FAMS = ("ipv4", "ipv6") if IPV6 else ("ipv4",)

#: The trace's and the frames' clocks, a call's return and its segments' stamps; and how
#: long before a key press a step's window opens (a key press comes after a pause of half a
#: second: nothing of the step before is this close).
SLACK = 0.002
WINDOW_SLACK = 0.015

CASES = [
    (name, {})
    for name, s in REGISTRY.items()
    if s.link is None and name not in ("time-wait", "bulk")
]
CASES += [
    ("time-wait", {"closer": "client"}),
    ("time-wait", {"closer": "server"}),
    ("bulk", {"size": str(256 * 1024)}),
]


def capture_or_skip():
    from sockviz.engine.wire.capture import Capture, WireUnavailable

    try:
        return Capture()
    except WireUnavailable as exc:
        pytest.skip(f"the wire cannot be watched here: {exc}")


@need("ss")
@pytest.mark.parametrize("family", FAMS)  # (each family a test of its own: a shorter tail)
def test_every_quiz_answer_is_the_runs_fact(family):
    capture_or_skip().close()
    no_mismatch(stepped_mismatches(check, CASES, (family,)))


def check(name: str, options: dict, family: str, capture=None, wire=None) -> list[str]:
    """Every mismatch of one stepped run with the wire watched (``capture``/``wire``: a
    lab's link; None: this machine's loopback)."""
    from sockviz.view.quiz_state import Predictions

    options = {k: (int(v) if k == "size" else v) for k, v in options.items()}
    scenario = scenarios.get(name, **{k: v for k, v in options.items() if k != "size"})
    label = f"[{name} {' '.join(f'--{k} {v}' for k, v in options.items())} {family}]"
    predictions = Predictions(on=True)
    asked: dict = {}
    problems: list[str] = []
    fed = [0]

    def at_pause(runner, latest, pending):
        events = latest()
        for event in events[fed[0] :]:
            if type(event) is CallEvent:
                predictions.saw(event)
        fed[0] = len(events)
        view = fold(scenario, events)
        table = ss()
        reveal = predictions.reveal(view, now=True)
        if reveal is not None:
            question, pressed = asked.pop(reveal.step)
            truth, why = witness(question, events, view, table, pressed)
            if truth is not None and truth != reveal.truth:  # (look again: a kernel timer
                time.sleep(AGAIN)  # firing just then proves
                again, _ = witness(question, latest(), view, ss(), pressed)  # nothing)
                truth = truth if again == truth else None
            if truth is not None and truth != reveal.truth:
                problems.append(
                    f"{label} step {reveal.step} {question.kind} "
                    f"({question.text!r}): sockviz {reveal.truth!r}, the run "
                    f"{truth!r} ({why})"
                )
            if (
                truth is not None
                and truth not in question.choices
                and not truth.startswith(quiz.NOT_YET)  # (no choice says it: sockviz's
            ):  # answer tells the guesser so)
                problems.append(
                    f"{label} step {reveal.step} {question.kind}: the true "
                    f"answer {truth!r} is not among {question.choices}"
                )
        question = predictions.question(view)
        if question is not None:
            predictions.guessed(question, 0)
            asked[question.step] = (question, time.monotonic() - runner.tracer.started)

    if capture is None:
        capture, wire = capture_or_skip(), WireStatus("host")
    step_through(
        scenario,
        family,
        at_pause,
        capture=capture,
        wire=wire,
        **({"size": options["size"]} if "size" in options else {}),
    )
    return problems


def witness(question, events, view, table, pressed) -> tuple[str | None, str]:
    """The answer the run's facts give, and how they were read (None: nothing to check)."""
    calls = [e for e in events if type(e) is CallEvent and e.step == question.step]
    if not calls:
        return None, "the call was not made"
    call = calls[-1]
    segments = [e for e in events if type(e) is Segment]
    kind = question.kind
    if kind == "outcome":
        return call.error or quiz.SUCCEEDS, "the call line's error"
    if kind.startswith("wire-"):
        return wire_truth(question, call, segments, view, pressed)
    if call.error:
        return (
            quiz.AN_ERROR if quiz.AN_ERROR in question.choices else f"it failed with {call.error}"
        ), "the call line's error"
    if kind == "state":
        return call.state.value, "the call line's state"
    if kind == "kernel":
        return kernel_truth(call, segments, table)
    if kind == "recv":
        if call.type == "SOCK_DGRAM":
            sent = [
                s
                for s in segments
                if s.proto == "UDP" and s.remote == call.local and s.local == call.remote
            ]
            sizes = [s.nbytes for s in sent]
            before = sum(
                1
                for e in events
                if type(e) is CallEvent
                and e.call is call.call
                and e.socket == call.socket
                and e.seq < call.seq
                and not e.error
            )
            if before >= len(sizes):
                return None, "no datagram seen on the wire"
            size = sizes[before]
            return (
                quiz.ONE_DATAGRAM
                if call.nbytes == size
                else getattr(quiz, "PART", "part")
                if call.nbytes < size
                else quiz.MERGED
            ), f"read {call.nbytes} B, the datagram crossed with {size} B"
        return (quiz.RECV_EOF if call.nbytes == 0 else quiz.RECV_BYTES), f"nbytes {call.nbytes}"
    if kind == "accept":
        state = ss_state(table, call.local, call.remote)
        if (call.socket != question.socket and state != "CLOSE") or call.kernel == "CLOSE":
            return quiz.NEW_SOCKET, f"{call.socket} born, ss {state}"
        return "no new connection", f"ss {state} for {call.local} <-> {call.remote}"
    if kind == "time-wait":
        ends = [m for m in view.models.values() if m.name in (question.socket, question.peer)]
        # (an end whose FIN is still unanswered - the link broke under it - settles later:
        # "not known yet", named as ss shows it)
        unsettled = [
            f"{m.name} in {state}"
            for m in sorted(ends, key=lambda m: m.name != question.socket)
            if m.remote
            and (
                (state := ss_state(table, m.local, m.remote)) in quiz.UNSETTLED
                or (m.name == question.peer and state == "FIN_WAIT2")
            )
        ]
        if unsettled:
            return f"{quiz.NOT_YET}: {', '.join(unsettled)} when the run moved on", "ss"
        waiting = [
            m.name for m in ends if m.remote and ss_state(table, m.local, m.remote) == "TIME_WAIT"
        ]
        return (
            quiz.BOTH if len(waiting) == 2 else waiting[0] if waiting else quiz.NEITHER
        ), "ss: " + ", ".join(f"{m.name} {ss_state(table, m.local, m.remote)}" for m in ends)
    return None, "a kind this test does not know"


def between(segments: list, one: str | None, other: str | None) -> list:
    return [s for s in segments if {s.local, s.remote} == {one, other}]


def kernel_truth(call, segments, table) -> tuple[str, str]:
    """The state of ``call``'s socket when it returned, as the wire tells it."""
    mine = between(segments, call.local, call.remote)
    later = [s for s in mine if s.t > call.t + SLACK]
    if not later:
        return ss_state(table, call.local, call.remote), "ss (nothing crossed since)"
    done = [s for s in mine if s.t <= call.t + SLACK]
    flags = [(s, flag_set(s.flags)) for s in done]
    if any("RST" in f for _, f in flags):
        return "CLOSE", "a reset crossed before it returned"
    ours = [s for s, f in flags if "FIN" in f and s.local == call.local]
    theirs = [s for s, f in flags if "FIN" in f and s.local != call.local]
    if not ours:
        return ("CLOSE_WAIT" if theirs else "ESTABLISHED"), "no FIN of its own by its return"
    fin = ours[0]
    acked = any(
        s.local != call.local and s.ack_rel is not None and s.ack_rel > fin.seq_rel and s.t >= fin.t
        for s, _ in flags
    )
    said = f"its FIN at t={fin.t}, {'acknowledged' if acked else 'not acknowledged'} by t={call.t}"
    if theirs and theirs[0].t < fin.t:
        return ("CLOSE" if acked else "LAST_ACK"), said + ", the peer's FIN first"
    if theirs:
        return ("TIME_WAIT" if acked else "CLOSING"), said + ", the peer's FIN after"
    return ("FIN_WAIT2" if acked else "FIN_WAIT1"), said


def wire_truth(question, call, segments, view, pressed) -> tuple[str | None, str]:
    """The wire's questions, from what crossed between the key press and the return."""
    # (a segment's t is its kernel's stamp put on the run's clock, a call's t the run's
    # clock at its return, the two within a microsecond (the clock offset keeps its
    # closest reading): what is stamped after the return left after it - a FIN the kernel
    # let go a moment later on a loaded machine, which is not what the call put on the
    # wire. On a link a frame is stamped when the link takes it, up to LINK_DRAIN later.)
    late = LINK_DRAIN if view.link is not None else 0.0
    window = [s for s in segments if pressed - WINDOW_SLACK <= s.t <= call.t + late]
    # (a connect() refused has no peer address: its SYN and what came back are its port's)
    mine = [s for s in window if call.local in (s.local, s.remote)]
    flags = [",".join(sorted(flag_set(s.flags))) for s in mine]
    said = "crossed: " + (" ".join(s.flags for s in mine) or "nothing")
    norm = {"SYN": "SYN", "ACK,SYN": "SYN,ACK", "ACK": "ACK"}
    names = [norm.get(f, f) for f in flags]
    if question.kind == "wire-connect":
        once = [n for k, n in enumerate(names) if n not in names[:k]]  # (a SYN sent again
        if once[:3] == ["SYN", "SYN,ACK", "ACK"]:  # is the same SYN)
            return quiz.HANDSHAKE, said
        if once[:1] == ["SYN"]:
            return (quiz.SYN_RST if any("RST" in f for f in flags[1:]) else quiz.SYN_ONLY), said
        return quiz.NOTHING, said
    if question.kind == "wire-refused":
        back = [s.flags for s in mine if s.local != call.local]
        return (back[0] if back else quiz.NO_ANSWER), said
    if question.kind == "wire-fin":
        asker = view.models.get(question.socket)
        fin = next((s for s, f in zip(mine, flags, strict=False) if "FIN" in f), None)
        if fin is not None:
            return (
                question.socket
                if asker and fin.local == asker.local and fin.remote == asker.remote
                else next(
                    (
                        m.name
                        for m in view.models.values()
                        if m.local == fin.local and m.remote == fin.remote
                    ),
                    fin.local,
                )
            ), said
        if any("RST" in f for f in flags):
            return getattr(quiz, "RST_NOT_FIN", "reset"), said
        return quiz.NO_FIN, said
    return None, "a wire question this test does not know"
