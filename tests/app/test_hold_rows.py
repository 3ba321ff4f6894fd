"""The link's rows as the ladder draws them in a terminal 120 columns wide: the rows the
issue found cut there (``⏸ SYN,ACK seq 0 ack``, ``crosse``) are whole."""

from __future__ import annotations

from dataclasses import replace

import pytest

from sockviz.app.widgets.ladder import row_content
from tests.view.test_hold_words import HOLD
from tests.view.test_linkview import folded, segment

#: The ladder's width in a 120-column terminal (measured: the Ladder widget is 31 wide).
LADDER_AT_120 = 31


@pytest.mark.parametrize(
    ("label", "flags", "link", "whole"),
    [
        ("SYN,ACK seq 0 ack 1 crosses", "SYN,ACK", "crossed", "SYN,ACK crosses"),
        ("SYN,ACK seq 0 ack 1", "SYN,ACK", "held", "SYN,ACK seq 0 ack 1"),
        ("↻ SYN seq 0 · 1.02 s", "SYN", "held", "↻ SYN seq 0 · 1.02 s"),
        ("↻ SYN,ACK seq 0 ack 1 · 1.03 s", "SYN,ACK", "held", "↻ SYN,ACK · 1.03 s"),
        ("↻ PSH,ACK 14 B · 1.02 s", "PSH,ACK", "held", "↻ PSH,ACK 14 B · 1.02 s"),
        ("SYN seq 0 ✗ lost", "SYN", "dropped", "SYN seq 0 ✗ lost"),
    ],
)
def test_wire_rows_are_whole_in_a_ladder_120_columns_wide(label, flags, link, whole):
    """The rows the issue found cut at 120 columns (``⏸ SYN,ACK seq 0 ack``, ``crosse``),
    as the ladder renders them: every word there, the arrow's head or stop mark too (a
    handshake segment too long for the ladder loses its relative numbers, never a word
    cut: SYN's seq is always 0, SYN-ACK's ack 1)."""
    packet = replace(segment(6, 0.1, flags, link), ack_rel=1 if "ACK" in flags else None)
    view = folded(HOLD, packet)
    row = next(r for r in view.shown_rows() if r.packet is not None)
    row = replace(row, label=label)
    text = row_content(row, LADDER_AT_120, delivered=True).plain
    assert len(text) == LADDER_AT_120
    assert f" {whole} " in text, text
    mark = {"held": "⏸", "dropped": "✗", "crossed": "›"}[link]
    assert mark in text and "…" not in text
