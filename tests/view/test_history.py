"""History: the view at any moment is the view folded live up to it - however it was
reached (straight from a checkpoint, or by a walk back and forth)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sockviz.view.fold import apply
from sockviz.view.history import History
from sockviz.view.run_view import RunView
from tests.view.view_helpers import FROZEN, RUNS, events_of, history_of, scenario_of, shown


def whole(view: RunView) -> dict:
    """Everything a view holds that a screen or a later fold could see."""
    at = view.folded
    return {
        **shown(view),
        "folded": at,
        "time": view.time,
        "inflight": {
            k: [(row.index, left) for row, left in q] for k, q in view.inflight.items() if q
        },
        "connecting": sorted(view.connecting),
        "checks": sorted(view.checks),
        "newest": view.newest_data,
        "rows": view.row_count,
        "lines": view.line_count,
    }


def folded_live(run: str, history: History, moment: int) -> RunView:
    view = RunView(scenario_of(run))
    for index in range(history.cut(moment)):
        apply(view, history.events[index], history.times[index])
    return view


@settings(max_examples=150, deadline=None)
@given(run=st.sampled_from(list(RUNS)), every=st.integers(1, 40), data=st.data())
def test_the_view_at_any_moment_is_the_live_fold_up_to_it(run, every, data):
    history = history_of(run, every=every)
    moment = data.draw(st.integers(0, history.moments))
    assert whole(history.view_at(moment)) == whole(folded_live(run, history, moment))


@settings(max_examples=150, deadline=None)
@given(run=st.sampled_from(list(RUNS)), every=st.integers(1, 40), data=st.data())
def test_a_walk_back_and_forth_ends_at_the_same_view(run, every, data):
    """As the app walks: back is the view at that moment, forward folds on from the view
    shown (one step at a time, or a jump)."""
    history = history_of(run, every=every)
    walk = data.draw(st.lists(st.integers(0, history.moments), min_size=1, max_size=12))
    view, at = history.live.copy(), history.moments
    for moment in walk:
        if moment < at:
            view = history.view_at(moment)
        else:
            history.after(view, moment)
        at = moment
    assert whole(view) == whole(folded_live(run, history, at))


def test_the_live_view_is_never_changed_by_looking_back():
    history = history_of("multi-client-ipv4", every=5)
    before = whole(history.live)
    for moment in range(history.moments + 1):
        history.after(history.view_at(moment), history.moments)
    assert whole(history.live) == before


def test_past_its_limit_the_history_is_let_go_and_the_live_view_goes_on():
    events = events_of("tcp-echo-ipv4")
    history = History(scenario_of("tcp-echo-ipv4"), limit=10)
    for event in events:
        history.add(FROZEN, event)
    assert history.dropped and history.events == [] and history.moments == 15
    assert whole(history.live)["models"] == whole(history_of("tcp-echo-ipv4").live)["models"]
    with pytest.raises(LookupError):
        history.view_at(0)
    assert len(history.trace) == sum(
        1 for e in events if type(e).__name__ in ("CallEvent", "KernelEvent")
    )
