"""The lifecycle table: every role x state x call, checked against a second statement of it."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sockviz.engine.states import (
    INITIAL,
    ROLES,
    TRANSITIONS,
    Call,
    IllegalTransition,
    Role,
    State,
    Transport,
    allowed_calls,
    next_state,
    reachable_states,
)

# The same truth as the table, written the other way round and by hand: for each
# transport, role and state, the calls allowed and where each one leads. If the table
# changes, this must change with it, on purpose.
TALK = "send sendall recv setsockopt"
# (TLS over a connected TCP socket: wrapping it and its handshake leave it connected)
TLS = " wrap_socket>connected do_handshake>connected"
SPEC = {
    ("SOCK_STREAM", "listener", "created"): "setsockopt>created bind>bound close>closed",
    ("SOCK_STREAM", "listener", "bound"): "setsockopt>bound listen>listening close>closed",
    (
        "SOCK_STREAM",
        "listener",
        "listening",
    ): "setsockopt>listening listen>listening accept>listening close>closed",
    (
        "SOCK_STREAM",
        "client",
        "created",
    ): "setsockopt>created bind>bound connect>connected close>closed",
    ("SOCK_STREAM", "client", "bound"): "setsockopt>bound connect>connected close>closed",
    ("SOCK_STREAM", "client", "connected"): " ".join(f"{c}>connected" for c in TALK.split())
    + " shutdown>half-closed close>closed"
    + TLS,
    ("SOCK_STREAM", "client", "half-closed"): " ".join(f"{c}>half-closed" for c in TALK.split())
    + " shutdown>half-closed close>closed",
    ("SOCK_STREAM", "connection", "connected"): " ".join(f"{c}>connected" for c in TALK.split())
    + " shutdown>half-closed close>closed"
    + TLS,
    ("SOCK_STREAM", "connection", "half-closed"): " ".join(f"{c}>half-closed" for c in TALK.split())
    + " shutdown>half-closed close>closed",
    ("SOCK_DGRAM", "server", "created"): "setsockopt>created bind>bound close>closed",
    ("SOCK_DGRAM", "server", "bound"): "setsockopt>bound recvfrom>bound sendto>bound close>closed",
    (
        "SOCK_DGRAM",
        "client",
        "created",
    ): "setsockopt>created bind>bound sendto>bound connect>connected close>closed",
    (
        "SOCK_DGRAM",
        "client",
        "bound",
    ): "setsockopt>bound sendto>bound recvfrom>bound connect>connected close>closed",
    (
        "SOCK_DGRAM",
        "client",
        "connected",
    ): "send>connected recv>connected sendto>connected recvfrom>connected "
    "setsockopt>connected close>closed",
}


def expected(transport: Transport, role: Role, state: State, call: Call) -> State | None:
    """What SPEC says; None for "illegal". A state not in SPEC is one the role never has."""
    key = (transport.value, role.value, state.value)
    text = SPEC.get(key, "")
    # (setblocking() and select() change no state, and may come wherever setsockopt() may)
    wanted = "setsockopt" if call in (Call.SETBLOCKING, Call.SELECT) else call.value
    for item in text.split():
        name, _, after = item.partition(">")
        if name == wanted:
            return State(after)
    return None


ALL = [(t, r, s, c) for t, roles in ROLES.items() for r in roles for s in State for c in Call]


@pytest.mark.parametrize(("transport", "role", "state", "call"), ALL, ids=lambda v: v.value)
def test_every_role_state_call(transport, role, state, call):
    """Each of the role x state x call cases is legal exactly when the spec says, with its
    target."""
    want = expected(transport, role, state, call)
    if want is None:
        with pytest.raises(IllegalTransition) as info:
            next_state(transport, role, state, call)
        assert info.value.call is call and info.value.state is state
        assert call.value in str(info.value)
    else:
        assert next_state(transport, role, state, call) is want


def test_table_has_nothing_beyond_the_spec():
    """No transition hides in the table that the spec does not know about."""
    for (t, r, s, c), after in TRANSITIONS.items():
        assert expected(t, r, s, c) is after, (t, r, s, c)


def test_roles_belong_to_their_transport():
    assert set(ROLES[Transport.STREAM]) == {Role.LISTENER, Role.CONNECTION, Role.CLIENT}
    assert set(ROLES[Transport.DGRAM]) == {Role.SERVER, Role.CLIENT}
    for t, r, _, _ in TRANSITIONS:
        assert r in ROLES[t]


@pytest.mark.parametrize(
    ("transport", "role"), [(t, r) for t, rs in ROLES.items() for r in rs], ids=str
)
def test_closed_is_reachable_and_final(transport, role):
    """Every socket can end closed, and nothing can be done with it after."""
    assert State.CLOSED in reachable_states(transport, role)
    assert allowed_calls(transport, role, State.CLOSED) == []


def test_what_each_role_can_become():
    assert reachable_states(Transport.STREAM, Role.LISTENER) == {
        State.CREATED,
        State.BOUND,
        State.LISTENING,
        State.CLOSED,
    }
    assert reachable_states(Transport.STREAM, Role.CONNECTION) == {
        State.CONNECTED,
        State.HALF_CLOSED,
        State.CLOSED,
    }
    assert State.LISTENING not in reachable_states(Transport.STREAM, Role.CLIENT)
    assert State.LISTENING not in reachable_states(Transport.DGRAM, Role.SERVER)
    assert INITIAL[Role.CONNECTION] is State.CONNECTED


roles = st.sampled_from([(t, r) for t, rs in ROLES.items() for r in rs])


@given(roles, st.lists(st.sampled_from(list(Call)), max_size=30))
def test_random_walks_stay_inside_the_table(transport_role, calls):
    """Any sequence of calls: legal ones move along the table, illegal ones change nothing."""
    transport, role = transport_role
    state = INITIAL[role]
    reachable = reachable_states(transport, role)
    for call in calls:
        try:
            state = next_state(transport, role, state, call)
        except IllegalTransition:
            assert call not in allowed_calls(transport, role, state)
        assert state in reachable
        if state is State.CLOSED:
            assert allowed_calls(transport, role, state) == []


def test_no_row_for_a_state_the_role_never_reaches():
    for t, r, s, _ in TRANSITIONS:
        assert s in reachable_states(t, r), (t, r, s)


def test_guide_diagram_is_generated_from_the_table():
    """The user guide's lifecycle diagrams are exactly what the table says today."""
    import pathlib
    import subprocess
    import sys

    root = pathlib.Path(__file__).resolve().parents[2]
    out = subprocess.run(
        [sys.executable, str(root / "scripts" / "state_diagram.py")],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    page = root / "docs" / "guide.md"
    assert out in page.read_text(), "run scripts/state_diagram.py --write"
