"""The time-sequence graph's fold, lines, braille and SVG, on recorded real runs (no
Textual): every mark is a segment of the recording, with its numbers as captured."""

from __future__ import annotations

import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

from sockviz.engine.events import Segment
from sockviz.engine.record.trace_format import read_trace
from sockviz.engine.scenarios import REGISTRY
from sockviz.view import seq_graph as sg
from sockviz.view.history import History
from sockviz.view.seq_graph_art import braille, caption, scale, shapes
from sockviz.view.seq_graph_svg import to_graph_svg
from tests.hostile import fixture_lines, header, write_recording

DATA = Path(__file__).parents[1] / "app" / "data"


def events(fixture: str) -> list:
    return read_trace((DATA / f"{fixture}.jsonl").read_text().splitlines())


def graphs(fixture: str) -> sg.Graphs:
    g = sg.Graphs()
    for e in events(fixture):
        if isinstance(e, Segment):
            g = sg.on_segment(g, e)
    return g


def test_a_lost_segment_its_sacks_and_its_resending_are_each_marked():
    """lost-data: the link loses the first data segment; the receiver's SACK blocks start
    where it ends; the client sends the same bytes again; the ACK then jumps past all."""
    (flow,) = graphs("graph-lost-data-ipv4").flows
    client = flow.sides[
        flow.side(
            next(
                e.local
                for e in events("graph-lost-data-ipv4")
                if isinstance(e, Segment) and e.source == "client"
            )
        )
    ]
    server = flow.sides[1 - flow.sides.index(client)]
    assert (client.name, server.name) == ("client", "conn-1")
    data = [m for m in sg.marks(client.chain) if m.point.nbytes]
    lost = [m for m in data if m.lost]
    again = [m for m in data if m.point.resent]
    assert len(lost) == 1 and len(again) == 1 == client.resent and client.lost == 1
    hole = (lost[0].point.seq_rel, lost[0].point.seq_rel + lost[0].point.nbytes)
    assert (again[0].point.seq_rel, again[0].point.seq_rel + again[0].point.nbytes) == hole
    assert again[0].point.t > lost[0].point.t
    acks = [m.point for m in sg.marks(server.chain) if m.point.ack_rel is not None]
    sacks = [p for p in acks if p.sack]
    assert sacks and all(p.sack[0][0] == hole[1] and p.ack_rel == hole[0] for p in sacks)
    rights = [p.sack[0][1] for p in sacks]
    assert rights == sorted(rights)  # (each SACK says more arrived)
    sent = sum(m.point.nbytes for m in data if not m.point.resent)
    assert max(p.ack_rel for p in acks) >= 1 + sent  # (all acknowledged, in the end)
    assert client.nbytes == sent + again[0].point.nbytes
    # the words say the run's counts
    words = caption(flow, flow.sides.index(client))
    assert f"{client.nbytes:,} bytes in {client.segments} segments" in words[0]
    assert "1 sent again" in words[0] and "1 lost on the link" in words[0]
    assert f"conn-1 sent {len(sacks)} segments with SACK blocks." in words


def test_the_lines_put_each_mark_on_its_layer_and_the_window_edge_above_the_top():
    (flow,) = graphs("graph-lost-data-ipv4").flows
    lines = shapes(flow, 0)
    layers = {line.layer for line in lines}
    assert {"data", "lost", "resent", "sack", "ack", "window"} <= layers
    s = scale(lines)
    highest_data = max(ln.y1 for ln in lines if ln.layer == "data")
    assert s.above is not None and s.above > 3 * highest_data  # (8 KiB under a 64 KiB window)
    assert highest_data <= s.top < 2 * highest_data
    grid = braille(lines, 60, 12, s)
    assert len(grid) == 12 and all(sum(len(t) for t, _ in row) == 60 for row in grid)
    drawn = {layer for row in grid for _, layer in row}
    assert {"data", "lost", "resent", "sack", "ack"} <= drawn
    # the lost bar sits on the floor (its bytes are the first), the SACKs above it
    bottom = {layer for _, layer in grid[-1]}
    assert "lost" in bottom and "resent" in bottom


def test_a_transfer_s_points_come_from_its_sum_and_end_where_it_ended():
    """slow-link, 256 KiB over the link: the sum carries some of its segments (the link
    sampled them while it counted); the data reaches the last byte, the ACK line with it."""
    evs = events("graph-slow-link-ipv4")
    sums = [e for e in evs if isinstance(e, Segment) and e.is_sum]
    data_sum = max(sums, key=lambda e: e.nbytes)
    assert data_sum.points and data_sum.nbytes == 256 * 1024
    assert len(data_sum.points) <= data_sum.count
    times = [p.t for p in data_sum.points]
    assert times == sorted(times)
    ends = [p.seq_rel + p.nbytes for p in data_sum.points]
    assert max(ends) == 1 + data_sum.nbytes  # (the last segment is always kept)
    (flow,) = graphs("graph-slow-link-ipv4").flows
    sender = flow.side(data_sum.local)
    assert sender is not None
    side, other = flow.sides[sender], flow.sides[1 - sender]
    assert side.unread == 0 and side.shown >= len(data_sum.points)
    acks = [m.point.ack_rel for m in sg.marks(other.chain) if m.point.ack_rel is not None]
    assert max(acks) >= 1 + data_sum.nbytes


def test_a_loopback_transfer_counted_by_the_kernel_says_it_is_not_drawn():
    """A sum whose frames nobody read (the engine's shape of it: no flags, no largest, no
    points) is counted in the words and drawn nowhere."""
    counted = Segment(
        seq=30,
        t=0.0,
        proto="TCP",
        flags=None,
        source="client",
        target="conn-1",
        seq_rel=None,
        ack_rel=None,
        window=None,
        nbytes=64 << 20,
        options=None,
        cause=20,
        family="AF_INET",
        local="127.0.0.1:40000",
        remote="127.0.0.1:5000",
        count=1100,
        is_sum=True,
        largest=None,
    )
    g = sg.on_segment(sg.Graphs(), counted)
    (flow,) = g.flows
    assert flow.sides[0].unread == 1100 and shapes(flow, 0) == []
    words = " ".join(caption(flow, 0))
    assert "67,108,864 bytes in 1,100 segments" in words
    assert "1,100 of its segments were counted by the kernel, not read" in words


def test_going_back_shows_the_graph_as_it_stood():
    scenario = REGISTRY["lost-data"]
    history = History(scenario)
    for e in events("graph-lost-data-ipv4"):
        history.add(e.t, e)
    later, earlier = history.view_at(history.moments), history.view_at(6)
    assert sum(f.sides[0].shown + f.sides[1].shown for f in earlier.graphs.flows) < sum(
        f.sides[0].shown + f.sides[1].shown for f in later.graphs.flows
    )
    assert history.view_at(history.moments).graphs == later.graphs


def test_the_svg_is_well_formed_and_draws_every_line():
    svg = to_graph_svg(events("graph-lost-data-ipv4"), "sockviz lost-data · ipv4")
    root = ET.fromstring(svg)
    ns = "{http://www.w3.org/2000/svg}"
    lines = root.findall(f".//{ns}line")
    g = graphs("graph-lost-data-ipv4")
    expected = 0
    for i, side in g.directions():
        drawn = shapes(g.flows[i], side)
        bars = sum(1 for ln in drawn if ln.layer in ("data", "resent", "lost") and ln.t0 == ln.t1)
        expected += len(drawn) + 2 * bars  # (each bar with its two ticks)
    assert len(lines) == expected
    texts = " ".join(t.text or "" for t in root.iter(f"{ns}text"))
    assert "sockviz lost-data · ipv4" in texts and "lost on the link" in texts


def test_a_run_without_tcp_data_says_so():
    svg = to_graph_svg(events("udp-echo-ipv4"))
    assert "No TCP connection carried bytes in this run." in svg
    assert sg.Graphs().directions() == []


def test_export_graph_prints_the_svg_of_a_recording(tmp_path):
    path = write_recording(
        tmp_path / "r.jsonl", fixture_lines("graph-lost-data-ipv4"), header("lost-data")
    )
    proc = subprocess.run(
        [sys.executable, "-m", "sockviz", "--replay", str(path), "--trace", "--export", "graph"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr
    root = ET.fromstring(proc.stdout)
    assert root.tag.endswith("svg") and "1 lost on the link" in proc.stdout
