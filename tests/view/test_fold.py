"""The fold, without Textual: every recorded real run, folded event by event, gives at each
moment the cards, ladder rows and log lines the app showed then (tests/view/data: one screen
per step - first taken from the app before the view existed; since the fixtures were recorded
again, folded from them and the differences read one by one: a fold that changes them says
why in its commit)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from sockviz.view.fold import Changes, apply
from sockviz.view.run_view import RunView
from tests.view.view_helpers import (
    FROZEN,
    RUNS,
    events_of,
    golden,
    history_of,
    scenario_of,
    shown,
)


@pytest.mark.parametrize("run", list(RUNS))
def test_each_moment_of_each_recorded_run_is_what_the_app_showed(run):
    history = history_of(run)
    screens = golden(run)
    for moment, screen in enumerate(screens):
        assert shown(history.view_at(moment)) == screen, f"{run} at moment {moment}"
    assert shown(history.live) == screens[-1]


@pytest.mark.parametrize("run", ["tcp-echo-ipv4", "multi-client-ipv4", "udp-echo-ipv4"])
def test_what_changed_is_what_a_screen_must_redraw(run):
    """Folding a step's events says which cards were made, changed and moved, and how many
    rows and lines came: exactly the differences between the two views."""
    view = RunView(scenario_of(run))
    for event in events_of(run):
        before = {n: (m.state, m.kernel, m.sent, m.received) for n, m in view.models.items()}
        rows, lines = view.row_count, view.line_count
        changes = apply(view, event, FROZEN)
        after = {n: (m.state, m.kernel, m.sent, m.received) for n, m in view.models.items()}
        assert changes.added == [n for n in after if n not in before]
        assert {n for n in after if n in before and before[n] != after[n]} <= changes.changed
        born = {n for n in after if n not in before and after[n][0] is not None}
        assert changes.moved == born | {
            n for n in after if n in before and before[n][0] != after[n][0]
        }
        assert changes.rows == view.row_count - rows
        assert len(changes.lines) == view.line_count - lines
        assert isinstance(changes, Changes)


def test_the_view_never_imports_textual():
    code = (
        "import sockviz.view, sockviz.view.fold, sockviz.view.history, sys; "
        "assert not [m for m in sys.modules if m.split('.')[0] in ('textual', 'rich')]"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=30)
