"""The status line's timeline: marks for moments, and a click's mark back to its moment."""

from __future__ import annotations

import pytest

from sockviz.app.widgets.status import Position, moment_at, timeline


@pytest.mark.parametrize("total", [1, 5, 15, 19, 400])
@pytest.mark.parametrize("room", [6, 16, 40, 90])
def test_each_mark_is_the_moment_a_click_on_it_shows(total, room):
    """Every mark the bar draws maps back to a moment that is drawn at that very mark
    (the ● lands where the click was), and the first and last marks are the run's ends."""
    for live in (0, total // 2, total):
        bar = timeline(Position(at=live, live=live, total=total), room).plain
        for mark in range(len(bar)):
            chosen = moment_at(Position(at=live, live=live, total=total), room, mark)
            assert 0 <= chosen <= total
            drawn = timeline(Position(at=chosen, live=total, total=total), room).plain
            assert drawn.index("●") == mark, (mark, chosen, drawn)
        assert moment_at(Position(live, live, total), room, 0) == 0
        assert moment_at(Position(live, live, total), room, len(bar) - 1) == total


def test_the_bar_shows_where_you_look_and_the_live_edge():
    assert timeline(Position(at=3, live=6, total=10), 40).plain == "━━━●──◆····"
    assert timeline(Position(at=6, live=6, total=10), 40).plain == "━━━━━━●····"
