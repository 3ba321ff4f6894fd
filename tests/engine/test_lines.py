"""The fast trace lines (``sockviz.engine.record.trace_lines``) are, to the character, what the
general JSON encoder makes of :func:`~sockviz.engine.record.trace_format.to_record` - for every
event of every scenario, every recorded fixture (segments and bulk sums among them), and
hostile text."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from sockviz.engine.events import CallEvent, KernelEvent, Segment
from sockviz.engine.record.trace_format import read_trace, to_record
from sockviz.engine.record.trace_lines import line
from sockviz.engine.scenarios import REGISTRY
from sockviz.engine.states import Call, Role, State
from tests.helpers import on_loopback, run_scenario

FIXTURES = sorted((Path(__file__).parent.parent / "app" / "data").glob("*.jsonl"))


def general(event) -> str:
    return json.dumps(to_record(event), ensure_ascii=True, separators=(", ", ": "))


@pytest.mark.parametrize("name", sorted(on_loopback()))
def test_every_scenario_event_is_written_as_the_general_encoder_would(name):
    events = [
        e
        for e in run_scenario(REGISTRY[name]).events
        if isinstance(e, (CallEvent, KernelEvent, Segment))
    ]
    assert events
    assert [line(e) for e in events] == [general(e) for e in events]


@pytest.mark.parametrize("path", FIXTURES, ids=lambda p: p.stem)
def test_every_recorded_line_is_written_back_the_same(path):
    text = path.read_text().splitlines()
    events = read_trace(text)
    assert [line(e) for e in events] == [general(e) for e in events]


def test_hostile_text_and_odd_numbers_are_written_as_json_writes_them():
    call = CallEvent(
        seq=7,
        t=1e-06,
        socket='a"b\\c\n\x1b[31m',
        role=Role.CLIENT,
        call=Call.SEND,
        state=State.CONNECTED,
        family="AF_INET",
        type="SOCK_STREAM",
        local="é:1",
        remote="\u2028",
        nbytes=0,
        sent_total=2**70,
        recv_total=0,
        error="EPIPE",
        error_text='broken "pipe"\t',
        kernel=None,
        args="b'\\x00'",
        data=b'\x00\xff"\\ok',
        implicit_bind=True,
        parent=None,
        parts=3,
        step=0,
        partial=1,
        queue=(0, 16),
    )
    kernel = KernelEvent(
        seq=8,
        t=2.5,
        socket="x",
        role=Role.CONNECTION,
        state=None,
        family="AF_INET6",
        type="SOCK_STREAM",
        local=None,
        remote=None,
        sent_total=0,
        recv_total=0,
        kernel="TIME_WAIT",
        previous="\x7f",
        timer=float("inf"),
        source="proc",
        queue=None,
    )
    segment = Segment(
        seq=9,
        t=0.0,
        proto="UDP",
        flags=None,
        source='"',
        target="\x00",
        seq_rel=None,
        ack_rel=None,
        window=None,
        nbytes=5,
        options=None,
        cause=None,
        family="AF_INET",
        local="1",
        remote="2",
    )
    summed = dataclasses.replace(
        segment,
        proto="TCP",
        flags="ACK",
        count=19890,
        largest=65483,
        retransmissions=2,
        nbytes=2**31,
        is_sum=True,
    )
    for event in (call, kernel, segment, summed):
        assert line(event) == general(event)
        json.loads(line(event))
        assert line(event).isascii()
