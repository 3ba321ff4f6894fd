"""The bounded sample a bulk transfer keeps for its graph: spread over the transfer, every
marked segment kept (up to the bound), the last always, and memory that does not grow."""

from __future__ import annotations

import itertools
import struct

import dpkt

from sockviz.engine.lab.link_packets import LinkSampler
from sockviz.engine.wire.point_sampler import LIMIT, Sampler


def test_a_short_stream_is_kept_whole():
    s: Sampler[int] = Sampler()
    for i in range(LIMIT):
        s.add(i)
    assert s.items() == list(range(LIMIT))


def test_a_long_stream_is_thinned_evenly_and_keeps_its_last():
    s: Sampler[int] = Sampler(limit=100)
    n = 100_000
    for i in range(n):
        s.add(i)
    kept = s.items()
    assert len(kept) <= 2 * 100 + 1
    assert kept[0] == 0 and kept[-1] == n - 1
    gaps = {b - a for a, b in itertools.pairwise(kept[:-1])}
    assert len(gaps) == 1  # (one stride: spread evenly)
    assert kept[-2] >= n - 2 * gaps.pop()  # (reaches the end)


def test_marked_items_are_all_kept_up_to_the_bound():
    s: Sampler[int] = Sampler(limit=50)
    for i in range(20_000):
        s.add(i, marked=i % 97 == 0)
    kept = s.items()
    marked = [i for i in range(20_000) if i % 97 == 0]
    assert set(marked[:50]) <= set(kept)
    assert kept == sorted(kept)  # (in the order they came)
    assert len(kept) <= 50 + 2 * 50 + 1


def _packet(seq: int, nbytes: int, sack=(), window=512) -> bytes:
    """An IPv4 TCP packet as the link carries it (dpkt builds it)."""
    opts = b"\x01\x01\x08\x0a" + bytes(8)
    if sack:
        edges = b"".join(struct.pack("!II", *block) for block in sack)
        opts = b"\x01\x01" + bytes([5, 2 + len(edges)]) + edges
    tcp = dpkt.tcp.TCP(sport=1, dport=2, seq=seq, ack=1, flags=0x10, win=window, opts=opts)
    tcp.off = (20 + len(opts)) // 4
    tcp.data = bytes(nbytes)
    ip = dpkt.ip.IP(src=bytes(4), dst=bytes(4), p=6, data=tcp)
    ip.len = 20 + len(bytes(tcp))
    return bytes(ip)


def test_a_link_sampler_judges_resending_against_every_packet_across_the_wrap():
    f = LinkSampler()
    start = (1 << 32) - 1000  # (the sequence numbers wrap in the middle)
    for i in range(5):
        f.add(_packet((start + i * 500) % (1 << 32), 500), 1.0 + i)
    f.add(_packet((start + 500) % (1 << 32), 500), 6.0)  # (the second segment again)
    f.add(_packet((start + 2500) % (1 << 32), 500), 7.0)
    kept = f.frames()
    assert [resent for _frame, resent in kept] == [False] * 5 + [True, False]
    assert [frame.t for frame, _resent in kept] == [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0]
    assert kept[2][0].seq == (start + 1000) % (1 << 32) and kept[2][0].nbytes == 500


def test_a_link_sampler_keeps_sacks_and_zero_windows():
    f = LinkSampler()
    f.sampler = Sampler(limit=2)
    for i in range(1000):
        sack = ((5, 9),) if i == 777 else ()
        f.add(_packet(i * 10, 10, sack=sack, window=0 if i == 500 else 9), float(i))
    frames = {frame.seq: frame for frame, _resent in f.frames()}
    assert 7770 in frames and 5000 in frames
    assert frames[7770].sack == ((5, 9),) and frames[5000].window == 0
