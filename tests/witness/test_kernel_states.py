"""The kernel state sockviz shows for each TCP socket, at every paused step, against
``ss -tanoi`` read at that moment.

Each scenario is stepped from Python on loopback (the wire off), one call per step; at each
pause, once the engine has gone quiet, ``ss`` is read and the view of the run - folded from
its events as the app folds them - is compared socket by socket: a connection by its four
addresses (TIME_WAIT's included: a closed socket, or an open one, whose connection the
kernel holds in TIME_WAIT shows TIME_WAIT), a listener by its address, and ``CLOSE`` where
ss lists nothing for the socket's addresses.
"""

from __future__ import annotations

import time

import pytest

from sockviz.engine import scenarios
from sockviz.engine.states import Role, State
from tests.conftest import IPV6
from tests.witness.witnesses import (
    AGAIN,
    fold,
    need,
    no_mismatch,
    ss,
    ss_state,
    step_through,
    stepped_mismatches,
)

FAMS = ("ipv4", "ipv6") if IPV6 else ("ipv4",)

CASES = [
    ("tcp-echo", {}),
    ("half-close", {}),
    ("time-wait", {"closer": "client"}),
    ("time-wait", {"closer": "server"}),
    ("reset", {}),
    ("broken-pipe", {}),
    ("refused", {}),
    ("multi-client", {}),
    # (and the other loopback scenarios with TCP sockets)
    ("backlog-full", {}),
    ("address-in-use", {}),
    ("message-boundaries", {}),
    ("websocket", {}),
    ("tls", {}),
]


@need("ss")
@pytest.mark.parametrize("family", FAMS)  # (each family a test of its own: a shorter tail)
def test_every_paused_step_shows_the_kernel_state_ss_shows(family):
    no_mismatch(stepped_mismatches(check, CASES, (family,)))


def check(name: str, options: dict, family: str, capture=None, wire=None) -> list[str]:
    """Every mismatch of one stepped run (``capture``/``wire``: a lab's link)."""
    scenario = scenarios.get(name, **options)
    label = f"[{name} {' '.join(f'--{k} {v}' for k, v in options.items())} {family}]"
    problems: list[str] = []

    def mismatches(events, table, pending) -> list[str]:
        view = fold(scenario, events)
        moment = (
            f"before step {pending.step} ({pending.socket}.{pending.call.value}())"
            if pending
            else "at the end"
        )
        out = []
        for model in view.models.values():
            if model.type != "SOCK_STREAM" or model.family == "AF_UNIX":
                continue
            if model.state is State.CLOSED and not model.remote:
                want = "CLOSE"  # (a listener closed has no connection left: the
                #                   address may be another socket's by now)
            else:
                want = ss_state(
                    table, model.local, model.remote, listener=model.role is Role.LISTENER
                )
            got = model.kernel
            if got != want and not (got is None and want == "CLOSE"):
                out.append(
                    f"{label} {moment}: {model.name} ({model.local} <-> "
                    f"{model.remote}): ss {want}, sockviz {got}"
                )
        return out

    def at_pause(_runner, latest, pending):
        found = mismatches(latest(), ss(), pending)
        if found:  # the same after a second look: not a change caught halfway
            time.sleep(AGAIN)
            problems.extend(p for p in mismatches(latest(), ss(), pending) if p in found)

    step_through(scenario, family, at_pause, capture=capture, wire=wire)
    return problems
