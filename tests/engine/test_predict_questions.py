"""Predict mode's questions, against real runs: whatever a step's call really does, its true
answer is one of the choices offered before it ran."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from sockviz.engine import scenarios
from sockviz.engine.events import CallEvent, KernelEvent, RunFinished, StepPending
from sockviz.engine.predict_questions import BOTH, NEITHER, SUCCEEDS, Datagrams, ask
from sockviz.engine.run.gate import Mode
from sockviz.engine.run.runner import Runner
from sockviz.engine.states import Role, State
from tests.helpers import Collector


@dataclass
class Seen:
    """A socket as the questions see it, built from the run's events."""

    name: str
    role: Role
    type: str
    state: State | None = None
    kernel: str | None = None
    local: str | None = None
    remote: str | None = None


def quiz_run(scenario, **options) -> list[tuple]:
    """Run ``scenario`` for real; ask before each step, answer once it has settled.
    Returns (question, answer) for every step that had a question."""
    collector = Collector()
    runner = Runner(scenario, collector, family="ipv4", mode=Mode.FAST, **options)
    runner.start()
    try:
        assert runner.wait(20), "the scenario did not finish"
    finally:
        assert runner.stop()
    sockets: dict[str, Seen] = {}
    asked, made, results = None, None, []
    datagrams, size = Datagrams(), None  # (a recvfrom's answer: the size it was sent with)
    for event in collector.events:
        if isinstance(event, StepPending | RunFinished) and asked is not None and made is not None:
            results.append((asked, asked.answer(made, sockets, (), size)))
            asked = None
        if isinstance(event, StepPending) and asked is None:
            # (a step made together with the asked one is pending before the asked call
            # returns: as in the app, it is not asked about, and the answer waits)
            asked, made = ask(event, sockets), None
        elif isinstance(event, CallEvent | KernelEvent):
            seen = sockets.setdefault(event.socket, Seen(event.socket, event.role, event.type))
            seen.kernel = event.kernel or seen.kernel
            if isinstance(event, CallEvent):
                sent = datagrams.seen(event)
                seen.state = event.state or seen.state
                seen.local, seen.remote = event.local or seen.local, event.remote or seen.remote
                if asked is not None and event.step == asked.step:
                    made, size = event, sent
    return results


# (the labs that need two hosts run in a process of their own: their questions are held
# against each host's kernel by tests/witness/test_labs_stepped.py)
CASES = [
    (name, {})
    for name in scenarios.REGISTRY
    if name != "bulk" and scenarios.REGISTRY[name].link_only is None
]
CASES += [("bulk", {"size": 1 << 20})]


@pytest.mark.parametrize(("name", "options"), CASES, ids=[c[0] for c in CASES])
def test_every_true_answer_is_among_the_choices(name, options):
    results = quiz_run(scenarios.get(name), **options)
    assert results, f"{name} asked nothing"
    for question, answer in results:
        assert answer in question.choices, (question.text, question.choices, answer)
        assert len(set(question.choices)) == len(question.choices) >= 2


def test_tcp_echo_asks_state_kernel_and_time_wait():
    """The classic: the second close leaves the first closer - the client - in TIME_WAIT."""
    results = quiz_run(scenarios.get("tcp-echo"))
    kinds = [q.kind for q, _ in results]
    assert {"state", "accept", "recv", "kernel", "time-wait"} <= set(kinds)
    ((question, answer),) = [(q, a) for q, a in results if q.kind == "time-wait"]
    assert question.socket == "conn-1" and answer == "client"
    ((question, answer),) = [(q, a) for q, a in results if q.kind == "kernel"]
    assert question.socket == "client" and answer == "FIN_WAIT2"


def test_time_wait_lands_on_the_server_when_it_closes_first():
    results = quiz_run(scenarios.get("time-wait", closer="server"))
    ((question, answer),) = [(q, a) for q, a in results if q.kind == "time-wait"]
    assert answer == question.peer and answer != "client"


def test_reset_leaves_neither_in_time_wait_and_refused_is_an_outcome():
    reset = {q.kind: a for q, a in quiz_run(scenarios.get("reset"))}
    assert NEITHER in reset.values() or reset.get("kernel") == "CLOSE"
    refused = [(q, a) for q, a in quiz_run(scenarios.get("refused")) if q.kind == "outcome"]
    assert refused and refused[0][1] == "ECONNREFUSED" and SUCCEEDS in refused[0][0].choices
    assert BOTH not in {a for _, a in refused}


def test_each_handshake_call_asks_whether_it_ends_the_handshake():
    """Four do_handshake() calls, four questions; the real answers: each side's first must
    wait for the peer's records, each side's second ends it."""
    results = quiz_run(scenarios.get("tls"))
    shakes = [(q.socket, a) for q, a in results if "do_handshake" in q.text]
    assert shakes == [
        ("client", "SSLWantReadError"),
        ("conn-1", "SSLWantReadError"),
        ("client", SUCCEEDS),
        ("conn-1", SUCCEEDS),
    ]
