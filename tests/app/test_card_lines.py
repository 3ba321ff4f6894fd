"""The card's byte counter and rate line: plain text that must fit the card."""

from __future__ import annotations

import pytest
from textual.app import App

from sockviz.app.widgets.socket_card import BARS, CardModel, SocketCard, bytes_line, rate_line
from sockviz.engine.states import Role

GiB = 1 << 30


def model(**changes) -> CardModel:
    m = CardModel(name="client", role=Role.CLIENT, family="AF_INET", type="SOCK_STREAM", path=[])
    for name, value in changes.items():
        setattr(m, name, value)
    return m


def test_counters_in_full_when_they_fit():
    assert bytes_line(model(sent=14, received=14), 40) == "↑ sent 14 B · ↓ received 14 B"


def test_counters_shorten_on_a_narrow_card():
    assert bytes_line(model(sent=14, received=14), 21) == "sent 14 B · recv 14 B"
    # narrower still: arrows for the words, never a line longer than the card
    assert bytes_line(model(sent=14, received=14), 20) == "↑ 14 B · ↓ 14 B"
    assert bytes_line(model(sent=64 * 2**20, received=0), 22) == "↑ 64.0 MiB · ↓ 0 B"


@pytest.mark.parametrize("width", [33, 40, 60, 99])
def test_a_transfer_keeps_its_share_and_rate_on_the_line(width):
    m = model(sent=9 * GiB, transfer=(9 * GiB, 64 * GiB), rates=[1.5 * GiB])
    line = bytes_line(m, width)
    assert len(line) <= width
    assert "14%" in line and "1.5 GiB/s" in line and "9.0 GiB" in line


def test_the_share_outlives_the_rate_when_space_runs_out():
    m = model(sent=9 * GiB, transfer=(9 * GiB, 64 * GiB), rates=[1.5 * GiB])
    line = bytes_line(m, 24)
    assert "14%" in line and "/s" not in line


def test_rate_line_scales_to_its_highest_sample_and_keeps_the_newest():
    line = rate_line([0.0, 1.0, 2.0, 4.0, 8.0], 4)
    assert len(line) == 4  # the oldest sample no longer fits
    assert line[-1] == BARS[-1]  # the highest is a full bar
    assert line[0] == BARS[1]  # anything above zero shows
    assert list(line) == sorted(line)


def test_rate_line_is_empty_with_nothing_moving():
    assert rate_line([], 10) == ""
    assert rate_line([0.0, 0.0], 10) == ""


async def test_a_card_redrawn_while_it_is_torn_down_does_not_raise():
    """The TIME_WAIT countdown timer can redraw a card after the app removed its lines
    (seen in CI: the app's teardown removes children first, then the card)."""
    m = model(kernel="TIME_WAIT", kernel_deadline=100.0, sent=14)

    class One(App):
        def compose(self):
            yield SocketCard(m)

    app = One()
    async with app.run_test() as pilot:
        card = app.query_one(SocketCard)
        card.show(40.0)
        assert "60s" in str(card.border_subtitle)
        await card.remove_children()
        card.show(41.0)  # raised NoMatches before the card held its own lines
        assert "59s" in str(card.border_subtitle)
        await pilot.pause()
