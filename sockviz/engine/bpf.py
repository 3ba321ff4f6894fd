"""The classic BPF programs the wire's packet sockets run in the kernel, before a frame is
copied anywhere: which loopback frames a capture keeps, and how many bytes of each.

Loopback hands a packet socket every frame twice (going out and coming in): every program
keeps the outgoing copy only. Classic BPF jumps only forward and by counts of
instructions; :func:`assemble` lets the programs below name their targets instead.
Standard library only.
"""

from __future__ import annotations

import struct

ETH = 14
OUTGOING = 4  # PACKET_OUTGOING
TCP, UDP = 6, 17

LD_B, LD_H, LD_H_IND = 0x30, 0x28, 0x48  # A = byte / half-word at k, half-word at X + k
LDX_MSH, LDX_IMM = 0xB1, 0x01  # X = 4 * (byte at k & 0xf): an IPv4 header's length; X = k
JEQ, JA, RET = 0x15, 0x05, 0x06
PKTTYPE = 0xFFFFF000 + 4  # SKF_AD_OFF + SKF_AD_PKTTYPE: the frame's direction

#: One instruction: (code, k), or (JEQ, k, label if equal, label if not), or (JA, label);
#: a str alone is a label for the next instruction.
Op = tuple | str


def assemble(ops: list[Op]) -> bytes:
    """The ``sock_filter`` array for ``ops``, labels turned into forward jump counts."""
    where: dict[str, int] = {}
    code: list[tuple] = []
    for op in ops:
        if isinstance(op, str):
            where[op] = len(code)
        else:
            code.append(op)
    out = []
    for at, op in enumerate(code):
        if op[0] == JEQ:
            _c, k, yes, no = op
            out.append((JEQ, where[yes] - at - 1, where[no] - at - 1, k))
        elif op[0] == JA:
            out.append((JA, 0, 0, where[op[1]] - at - 1))
        else:
            out.append((op[0], 0, 0, op[1]))
    for jt_jf in out:
        if not (0 <= jt_jf[1] < 256 and 0 <= jt_jf[2] < 256):
            raise ValueError("a jump backwards or too far: not classic BPF")
    return b"".join(struct.pack("HBBI", *op) for op in out)


def _head(tcp_v4: str, tcp_v6: str, udp: str, other: str) -> list[Op]:
    """Outgoing frames only; then to ``tcp_v4``/``tcp_v6`` with X set to the IP header's
    length (so a filter can go on to the TCP ports, at X + 14 and X + 16), to ``udp``, or
    to ``other``."""
    return [
        (LD_B, PKTTYPE), (JEQ, OUTGOING, "out", other), "out",
        (LD_H, 12), (JEQ, 0x0800, "v4", "v6?"),
        "v4", (LD_B, ETH + 9), (JEQ, TCP, "v4tcp", "v4udp?"),
        "v4udp?", (JEQ, UDP, udp, other),
        "v4tcp", (LDX_MSH, ETH), (JA, tcp_v4),
        "v6?", (JEQ, 0x86DD, "v6", other),
        "v6", (LD_B, ETH + 6), (JEQ, TCP, "v6tcp", "v6udp?"),
        "v6udp?", (JEQ, UDP, udp, other),
        "v6tcp", (LDX_IMM, 40), (JA, tcp_v6),
    ]


def capture(snaplen: int) -> bytes:
    """Keep the first ``snaplen`` bytes of every outgoing IPv4/IPv6 TCP or UDP frame."""
    return assemble([*_head("keep", "keep", "keep", "drop"),
                     "keep", (RET, snaplen), "drop", (RET, 0)])
