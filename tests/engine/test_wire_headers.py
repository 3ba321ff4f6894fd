"""The wire's parser against dpkt, an independent reader: every field of every header, and
every field of the :class:`Frame` the run is told about - on frames Hypothesis builds with
dpkt (IPv4 with and without options, IPv6, TCP with any well-formed options, UDP) and on the
frames a real run captured into its pcap file.

Also the two-host link's reading of an IP packet (its kind, connection and ends), which goes
through the same headers.
"""

from __future__ import annotations

import socket
import struct
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sockviz.engine.lab.link_packets import ends_of, flow_of, kind_of
from sockviz.engine.wire import headers as h
from sockviz.engine.wire.frame_parser import Frame, parse
from tests.conftest import IPV6
from tests.engine.test_wire import needs_private, trace

dpkt = pytest.importorskip("dpkt")

#: dpkt's option kinds -> ours, by name (the ones a learner meets; others are left out).
_OPTION_NAMES = {2: "mss", 3: "wscale", 4: "sack_ok", 5: "sack", 8: "ts"}
_FLAG_BITS = [
    ("SYN", dpkt.tcp.TH_SYN),
    ("FIN", dpkt.tcp.TH_FIN),
    ("RST", dpkt.tcp.TH_RST),
    ("PSH", dpkt.tcp.TH_PUSH),
    ("ACK", dpkt.tcp.TH_ACK),
    ("URG", dpkt.tcp.TH_URG),
    ("ECE", dpkt.tcp.TH_ECE),
    ("CWR", dpkt.tcp.TH_CWR),
]


def same_headers(frame: bytes) -> None:
    """Each header as ours reads it is dpkt's, field by field."""
    ether = dpkt.ethernet.Ethernet(frame)
    ours_ether = h.ETHERNET.read(frame)
    assert ours_ether == (ether.dst, ether.src, ether.type)
    ip = ether.data
    if isinstance(ip, dpkt.ip.IP):
        ours_ip: Any = h.IPV4.read(frame, h.ETHERNET.size)
        assert ours_ip == h.IPv4Fields(
            ip._v_hl, ip.tos, ip.len, ip.id, ip._flags_offset, ip.ttl, ip.p, ip.sum, ip.src, ip.dst
        )
        assert (ours_ip.version, ours_ip.header_length) == (ip.v, ip.hl * 4)
        start = h.ETHERNET.size + ours_ip.header_length
    else:
        ours_ip = h.IPV6.read(frame, h.ETHERNET.size)
        assert ours_ip == h.IPv6Fields(ip._v_fc_flow, ip.plen, ip.nxt, ip.hlim, ip.src, ip.dst)
        assert ours_ip.version == ip.v
        start = h.ETHERNET.size + h.IPV6.size
    segment = ip.data
    if isinstance(segment, dpkt.tcp.TCP):
        tcp = h.TCP.read(frame, start)
        assert tcp == h.TCPFields(
            segment.sport,
            segment.dport,
            segment.seq,
            segment.ack,
            segment._off_flags >> 8,
            segment._off_flags & 0xFF,
            segment.win,
            segment.sum,
            segment.urp,
        )
        assert tcp is not None and tcp.header_length == segment.off * 4
    elif isinstance(segment, dpkt.udp.UDP):
        assert h.UDP.read(frame, start) == (segment.sport, segment.dport, segment.ulen, segment.sum)


def dpkt_frame(frame: bytes, t: float) -> Frame | None:
    """The :class:`Frame` for ``frame``, every field worked out from dpkt's reading."""
    ether = dpkt.ethernet.Ethernet(frame)
    ip = ether.data
    if isinstance(ip, dpkt.ip.IP):
        version, family, payload = 4, socket.AF_INET, ip.len - ip.hl * 4
    elif isinstance(ip, dpkt.ip6.IP6):
        version, family, payload = 6, socket.AF_INET6, ip.plen
    else:
        return None
    src, dst = socket.inet_ntop(family, ip.src), socket.inet_ntop(family, ip.dst)
    segment = ip.data
    if isinstance(segment, dpkt.tcp.TCP):
        options, sack = [], None
        for kind, body in dpkt.tcp.parse_opts(segment.opts):
            if kind == dpkt.tcp.TCP_OPT_EOL:
                break
            name = _OPTION_NAMES.get(kind)
            if name == "sack" and sack is None:  # (the first SACK option's blocks)
                sack = tuple(struct.iter_unpack("!II", body[: len(body) // 8 * 8]))
            if name == "mss":
                options.append((name, struct.unpack("!H", body)[0]))
            elif name == "wscale":
                options.append((name, body[0]))
            elif name is not None:
                options.append((name, None))
        names = [name for name, bit in _FLAG_BITS if segment.flags & bit]
        return Frame(
            t,
            version,
            (src, segment.sport),
            (dst, segment.dport),
            "TCP",
            tuple(names),
            segment.seq,
            segment.ack if segment.flags & dpkt.tcp.TH_ACK else 0,
            segment.win,
            payload - segment.off * 4,
            tuple(options),
            frame[:384],
            len(frame),
            sack=sack or (),
        )
    if isinstance(segment, dpkt.udp.UDP):
        return Frame(
            t,
            version,
            (src, segment.sport),
            (dst, segment.dport),
            "UDP",
            (),
            0,
            0,
            0,
            segment.ulen - 8,
            (),
            frame[:384],
            len(frame),
        )
    return None


# --- frames Hypothesis builds with dpkt ---------------------------------------------------
_option = st.one_of(
    st.integers(0, 65535).map(lambda mss: b"\x02\x04" + mss.to_bytes(2, "big")),
    st.integers(0, 14).map(lambda shift: b"\x03\x03" + bytes([shift])),
    st.just(b"\x04\x02"),
    st.binary(min_size=8, max_size=8).map(lambda stamps: b"\x08\x0a" + stamps),
    st.integers(1, 3)
    .flatmap(lambda n: st.binary(min_size=8 * n, max_size=8 * n))
    .map(lambda edges: bytes([5, 2 + len(edges)]) + edges),
    st.just(b"\x01"),
)


@st.composite
def options(draw: st.DrawFn) -> bytes:
    """Well-formed TCP options, padded to a whole number of words (at most 40 bytes)."""
    data = b""
    for one in draw(st.lists(_option, max_size=6)):
        if len(data) + len(one) > 40:
            break
        data += one
    padding = -len(data) % 4
    return data + draw(st.sampled_from([b"\x00", b"\x01"])) * padding


@st.composite
def frames(draw: st.DrawFn) -> bytes:
    """An Ethernet frame with a TCP segment or UDP datagram in IPv4 or IPv6, built by dpkt."""
    payload = draw(st.binary(max_size=64))
    if draw(st.booleans()):
        segment = dpkt.tcp.TCP(
            sport=draw(st.integers(0, 65535)),
            dport=draw(st.integers(0, 65535)),
            seq=draw(st.integers(0, 2**32 - 1)),
            ack=draw(st.integers(0, 2**32 - 1)),
            flags=draw(st.integers(0, 255)),
            win=draw(st.integers(0, 65535)),
            sum=draw(st.integers(0, 65535)),
            urp=draw(st.integers(0, 65535)),
            opts=draw(options()),
            data=payload,
        )
        segment.off = (20 + len(segment.opts)) // 4
        protocol = h.IPPROTO_TCP
    else:
        segment = dpkt.udp.UDP(
            sport=draw(st.integers(0, 65535)),
            dport=draw(st.integers(0, 65535)),
            sum=draw(st.integers(0, 65535)),
            data=payload,
        )
        segment.ulen = 8 + len(payload)
        protocol = h.IPPROTO_UDP
    if draw(st.booleans()):
        ip = dpkt.ip.IP(
            src=draw(st.binary(min_size=4, max_size=4)),
            dst=draw(st.binary(min_size=4, max_size=4)),
            p=protocol,
            id=draw(st.integers(0, 65535)),
            ttl=draw(st.integers(0, 255)),
            tos=draw(st.integers(0, 255)),
            sum=draw(st.integers(1, 65535)),
            opts=b"\x01" * 4 * draw(st.integers(0, 2)),
            data=segment,
        )
        ip.hl = 5 + len(ip.opts) // 4
        ethertype = h.ETHERTYPE_IPV4
    else:
        ip = dpkt.ip6.IP6(
            src=draw(st.binary(min_size=16, max_size=16)),
            dst=draw(st.binary(min_size=16, max_size=16)),
            nxt=protocol,
            hlim=draw(st.integers(0, 255)),
            data=segment,
        )
        ip.plen = len(bytes(segment))
        ethertype = h.ETHERTYPE_IPV6
    return bytes(dpkt.ethernet.Ethernet(src=bytes(6), dst=bytes(6), type=ethertype, data=ip))


@settings(max_examples=400, deadline=None)
@given(frames())
def test_every_field_is_what_dpkt_reads(frame):
    same_headers(frame)
    assert parse(frame, 1.5) == dpkt_frame(frame, 1.5)


@settings(max_examples=200, deadline=None)
@given(frames())
def test_the_link_reads_an_ip_packet_as_dpkt_does(frame):
    """Kind (for its faults), connection and ends of the IP packet the link carries."""
    packet = frame[h.ETHERNET.size :]
    ours = parse(frame)
    assert ours is not None
    if ours.proto != "TCP":
        assert kind_of(packet) is flow_of(packet) is ends_of(packet) is None
        return
    flags = set(ours.flags)
    expected = (
        ("syn-ack" if "ACK" in flags else "syn")
        if "SYN" in flags
        else "fin"
        if "FIN" in flags
        else "data"
        if ours.nbytes
        else "ack"
    )
    assert kind_of(packet) == expected
    src, dst = ours.src, ours.dst
    if ours.version == 6:
        assert ends_of(packet) == (f"[{src[0]}]:{src[1]}", f"[{dst[0]}]:{dst[1]}")
    else:
        assert ends_of(packet) == (f"{src[0]}:{src[1]}", f"{dst[0]}:{dst[1]}")
    family = socket.AF_INET6 if ours.version == 6 else socket.AF_INET
    ends = sorted(socket.inet_pton(family, ip) + port.to_bytes(2, "big") for ip, port in (src, dst))
    assert flow_of(packet) == tuple(ends)


def test_a_frame_too_short_or_of_another_kind_is_none():
    assert parse(b"") is None and parse(b"\x00" * 20) is None
    assert parse(bytes(12) + b"\x08\x06" + bytes(40)) is None  # (ARP)
    assert parse(bytes(12) + b"\x08\x00" + b"\x65" + bytes(39)) is None  # (version 6 in v4)


# --- frames a real run captured ------------------------------------------------------------
FAMILIES = ["ipv4", pytest.param("ipv6", marks=pytest.mark.skipif(not IPV6, reason="no ::1"))]


@needs_private
@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("scenario", ["tcp-echo", "udp-echo"])
def test_a_real_runs_frames_are_read_as_dpkt_reads_them(tmp_path: Path, scenario, family):
    """Each frame of the run's pcap file, as the capture took it (handshake options, data,
    teardown; datagrams): ours and dpkt's readings agree field by field, and the trace's
    packet lines are those frames."""
    pcap = tmp_path / "run.pcap"
    lines, _ = trace(
        "--wire", "private", "--scenario", scenario, "--family", family, "--pcap", str(pcap)
    )
    with open(pcap, "rb") as f:
        captured = list(dpkt.pcap.Reader(f))
    assert captured
    ours = []
    for t, frame in captured:
        same_headers(frame)
        mine = parse(frame, t)
        assert mine is not None and mine == dpkt_frame(frame, t)
        ours.append(mine)
    packets = [line for line in lines if line["call"] == "packet"]
    assert [(f.proto, ",".join(f.flags) or None, f.nbytes) for f in ours] == [
        (p["proto"], p["flags"], p["nbytes"]) for p in packets
    ]
    if any(f.proto == "TCP" for f in ours):
        assert any(dict(f.options).get("mss") for f in ours)  # (the SYN's, read as dpkt did)


def test_frames_are_parsed_as_capture_tools_read_them():
    """parse() on a frame made by hand, the way loopback frames are laid out."""
    tcp = bytes.fromhex("c350138800000064000000c88012ffff00000000020405b40402010101030307")
    ip = (
        bytes.fromhex("4500")
        + (20 + len(tcp)).to_bytes(2, "big")
        + bytes(5)
        + b"\x06"
        + bytes(2)
        + socket.inet_aton("127.0.0.1") * 2
    )
    frame = parse(bytes(12) + b"\x08\x00" + ip + tcp)
    assert frame.proto == "TCP" and frame.flags == ("SYN", "ACK")
    assert (frame.src, frame.dst) == (("127.0.0.1", 50000), ("127.0.0.1", 5000))
    assert frame.seq == 100 and frame.ack == 200 and frame.nbytes == 0
    assert dict(frame.options) == {"mss": 1460, "sack_ok": None, "wscale": 7}
    assert parse(b"\x00" * 20) is None and parse(bytes(12) + b"\x08\x06" + bytes(40)) is None
