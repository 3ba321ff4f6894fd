"""The classic BPF programs the wire's packet sockets run in the kernel, before a frame is
copied anywhere: which loopback frames a capture keeps, and how many bytes of each; which
a frame counter counts.

Loopback hands a packet socket every frame twice (going out and coming in): every program
keeps the outgoing copy only. Classic BPF jumps only forward and by counts of
instructions; :func:`assemble` lets the programs below name their targets instead.
Standard library only.
"""

from __future__ import annotations

import struct

ETH = 14
OUTGOING = 4  # PACKET_OUTGOING
TCP, UDP, ICMP, ICMPV6 = 6, 17, 1, 58

LD_B, LD_H, LD_H_IND = 0x30, 0x28, 0x48  # A = byte / half-word at k, half-word at X + k
LDX_MSH, LDX_IMM = 0xB1, 0x01  # X = 4 * (byte at k & 0xf): an IPv4 header's length; X = k
JEQ, JA, RET = 0x15, 0x05, 0x06
PKTTYPE = 0xFFFFF000 + 4  # SKF_AD_OFF + SKF_AD_PKTTYPE: the frame's direction

#: One instruction: (code, k), or (JEQ, k, label if equal, label if not), or (JA, label);
#: a str alone is a label for the next instruction.
Instruction = tuple[int, int] | tuple[int, int, str, str] | tuple[int, str]
Op = Instruction | str


def assemble(ops: list[Op]) -> bytes:
    """The ``sock_filter`` array for ``ops``, labels turned into forward jump counts."""
    where: dict[str, int] = {}
    code: list[Instruction] = []
    for op in ops:
        if isinstance(op, str):
            where[op] = len(code)
        else:
            code.append(op)
    out: list[tuple[int, int, int, int]] = []
    for at, op in enumerate(code):
        match op:
            case (operation, k, str(yes), str(no)):  # (a conditional jump: JEQ)
                out.append((operation, where[yes] - at - 1, where[no] - at - 1, k))
            case (operation, str(label)):  # (a jump: JA)
                out.append((operation, 0, 0, where[label] - at - 1))
            case (operation, int(k)):
                out.append((operation, 0, 0, k))
    for jt_jf in out:
        if not (0 <= jt_jf[1] < 256 and 0 <= jt_jf[2] < 256):
            raise ValueError("a jump backwards or too far: not classic BPF")
    return b"".join(struct.pack("HBBI", *op) for op in out)


def _head(ports: str, other: str, icmp: str) -> list[Op]:
    """Outgoing IPv4/IPv6 TCP or UDP frames on to ``ports`` with X set to the IP header's
    length (both carry their ports at X + 14 and X + 16); ICMP and ICMPv6 to ``icmp`` (the
    reader keeps the errors about the run's own packets); anything else to ``other``."""
    return [
        (LD_B, PKTTYPE),
        (JEQ, OUTGOING, "out", other),
        "out",
        (LD_H, 12),
        (JEQ, 0x0800, "v4", "v6?"),
        "v4",
        (LD_B, ETH + 9),
        (JEQ, TCP, "v4 ports", "v4 udp?"),
        "v4 udp?",
        (JEQ, UDP, "v4 ports", "v4 icmp?"),
        "v4 icmp?",
        (JEQ, ICMP, icmp, other),
        "v4 ports",
        (LDX_MSH, ETH),
        (JA, ports),
        "v6?",
        (JEQ, 0x86DD, "v6", other),
        "v6",
        (LD_B, ETH + 6),
        (JEQ, TCP, "v6 ports", "v6 udp?"),
        "v6 udp?",
        (JEQ, UDP, "v6 ports", "v6 icmp?"),
        "v6 icmp?",
        (JEQ, ICMPV6, icmp, other),
        "v6 ports",
        (LDX_IMM, 40),
        (JA, ports),
    ]


#: Ports a filter names at most (a run's sockets share a few: a listener's connections
#: have its port); past that it keeps every TCP/UDP frame and the reader sorts them.
MAX_PORTS = 60


def capture(snaplen: int, ports: frozenset[int] | set[int] = frozenset()) -> bytes:
    """Keep the first ``snaplen`` bytes of every outgoing IPv4/IPv6 TCP or UDP frame from
    or to one of ``ports`` (none named, or more than :data:`MAX_PORTS`: every one), and of
    every outgoing ICMP or ICMPv6 one."""
    if not ports or len(ports) > MAX_PORTS:
        return assemble([*_head("keep", "drop", "keep"), "keep", (RET, snaplen), "drop", (RET, 0)])
    ops: list[Op] = [*_head("ports", "drop", "keep"), "ports", (LD_H_IND, ETH)]
    ordered = sorted(ports)
    for i, port in enumerate(ordered):  # the source port, then the destination port
        ops += [(JEQ, port, "keep", f"s{i + 1}"), f"s{i + 1}"]
    ops.append((LD_H_IND, ETH + 2))
    for i, port in enumerate(ordered):
        ops += [(JEQ, port, "keep", f"d{i + 1}"), f"d{i + 1}"]
    return assemble([*ops, (JA, "drop"), "keep", (RET, snaplen), "drop", (RET, 0)])


def one_way(source: int, destination: int) -> bytes:
    """Accept (one byte of) every outgoing IPv4/IPv6 TCP frame from port ``source`` to port
    ``destination`` - one way of one connection - and nothing else: a socket that never
    reads, whose kernel counts what it accepts, counts that way's frames (see
    :class:`~sockviz.engine.wire.capture.FrameCounter`)."""
    return assemble(
        [
            (LD_B, PKTTYPE),
            (JEQ, OUTGOING, "out", "drop"),
            "out",
            (LD_H, 12),
            (JEQ, 0x0800, "v4", "v6?"),
            "v4",
            (LD_B, ETH + 9),
            (JEQ, TCP, "v4 ports", "drop"),
            "v4 ports",
            (LDX_MSH, ETH),
            (JA, "ports"),
            "v6?",
            (JEQ, 0x86DD, "v6", "drop"),
            "v6",
            (LD_B, ETH + 6),
            (JEQ, TCP, "v6 ports", "drop"),
            "v6 ports",
            (LDX_IMM, 40),
            "ports",
            (LD_H_IND, ETH),
            (JEQ, source, "to?", "drop"),
            "to?",
            (LD_H_IND, ETH + 2),
            (JEQ, destination, "keep", "drop"),
            "keep",
            (RET, 1),
            "drop",
            (RET, 0),
        ]
    )
