"""The link's router's ICMP errors, read back by dpkt: the checksums dpkt computes, the kind,
the MTU, and the start of the packet it answers."""

from __future__ import annotations

import socket

import dpkt

from sockviz.engine.lab.router import ROUTER_IP, ROUTER_IP6, too_big


def _tcp_v4(size: int, df: bool = True) -> bytes:
    tcp = dpkt.tcp.TCP(sport=40000, dport=5000, seq=7, flags=0x18, data=bytes(size))
    ip = dpkt.ip.IP(
        src=socket.inet_aton("10.217.0.2"), dst=socket.inet_aton("10.217.0.1"), p=6, data=tcp
    )
    ip.df = int(df)
    return bytes(ip)


def _tcp_v6(size: int) -> bytes:
    tcp = dpkt.tcp.TCP(sport=40000, dport=5000, seq=7, flags=0x18, data=bytes(size))
    ip = dpkt.ip6.IP6(
        src=socket.inet_pton(socket.AF_INET6, "fd17:217::2"),
        dst=socket.inet_pton(socket.AF_INET6, "fd17:217::1"),
        nxt=6,
        hlim=64,
        data=tcp,
    )
    ip.plen = len(bytes(tcp))
    return bytes(ip)


def test_an_ipv4_packet_too_big_with_df_gets_fragmentation_needed():
    packet = _tcp_v4(1448)
    error = too_big(packet, 1280)
    assert error is not None
    ip = dpkt.ip.IP(error)
    assert socket.inet_ntoa(ip.src) == ROUTER_IP and socket.inet_ntoa(ip.dst) == "10.217.0.2"
    sent_sum = ip.sum
    ip.sum = 0
    assert dpkt.ip.IP(bytes(ip)).sum == sent_sum  # (dpkt's checksum of the same header)
    icmp = ip.data
    assert (icmp.type, icmp.code) == (3, 4)
    raw = bytes(icmp)
    assert int.from_bytes(raw[6:8], "big") == 1280
    assert raw[8:] == packet[: len(raw) - 8] and len(raw) - 8 >= 28
    assert dpkt.in_cksum(raw) == 0  # (a correct checksum sums to zero)


def test_a_packet_that_fits_or_may_be_fragmented_gets_nothing():
    assert too_big(_tcp_v4(1000), 1280) is None
    assert too_big(_tcp_v4(1448, df=False), 1280) is None
    assert too_big(b"", 1280) is None


def test_an_ipv6_packet_too_big_gets_packet_too_big():
    packet = _tcp_v6(1448)
    error = too_big(packet, 1280)
    assert error is not None and len(error) <= 1280
    ip = dpkt.ip6.IP6(error)
    assert socket.inet_ntop(socket.AF_INET6, ip.src) == ROUTER_IP6
    raw = error[40:]
    assert (raw[0], raw[1]) == (2, 0) and int.from_bytes(raw[4:8], "big") == 1280
    assert raw[8:] == packet[: len(raw) - 8]
    pseudo = ip.src + ip.dst + len(raw).to_bytes(4, "big") + b"\0\0\0\x3a"
    assert dpkt.in_cksum(pseudo + raw) == 0


def test_cut_counts_the_runs_packets_not_a_hosts_own_chatter():
    """--drop cut:N counts TCP and UDP packets only: the neighbour discovery and multicast
    reports a host sends when its device comes up (ICMPv6) are not the run's - in the TUI,
    where the hosts are up a while before the first call, they had used the first numbers
    and cut the handshake."""
    from sockviz.engine.lab.link_packets import carries_data

    assert carries_data(_tcp_v4(10)) and carries_data(_tcp_v6(10))
    udp = dpkt.ip.IP(src=bytes(4), dst=bytes(4), p=17, data=dpkt.udp.UDP(data=b"x"))
    assert carries_data(bytes(udp))
    solicit = dpkt.ip6.IP6(src=bytes(16), dst=bytes(16), nxt=58, hlim=255, data=b"\x85\0\0\0")
    solicit.plen = 4
    assert not carries_data(bytes(solicit))
    assert not carries_data(too_big(_tcp_v4(1448), 1280) or b"")
