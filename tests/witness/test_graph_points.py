"""A transfer's graph points where the link sampled them (no ``--pcap``: the frames are
counted, not read), against the kernel's own counts of the same transfer.

With ``--pcap`` the points are read from the frames and test_packets holds each against
tshark's; without it the link keeps them while it counts, and what it judged - which bytes
were sent again, how far the sequence numbers reached - must agree with what the sending
kernel counted (``TCP_INFO``'s retransmissions and bytes sent, on the sum's line) and with
the bytes the calls moved.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from sockviz.engine.wire.point_sampler import LIMIT
from tests.conftest import IPV6
from tests.helpers import two_hosts_here
from tests.witness.witnesses import no_mismatch, run_all, scratch

SIZE = 256 * 1024


@pytest.mark.skipif(not two_hosts_here(), reason="no two hosts here")
def test_the_link_s_points_agree_with_the_kernel_s_counts():
    families = ("ipv4", "ipv6") if IPV6 else ("ipv4",)
    runs = [("--scenario", "slow-link", "--size", "256K", "--family", f) for f in families]
    with scratch() as place:
        done = run_all(runs, Path(place), pcap=False)
    problems = []
    for run in done:
        sums = [r for r in run.records if r["call"] == "packets"]
        data = max(sums, key=lambda r: r["nbytes"])
        acks = next(r for r in sums if r is not data)
        points = data.get("points") or []
        say = f"[{run.name}]"
        if data["largest"] is not None:
            problems.append(f"{say} the frames were read: this test is for the link's sample")
        if len(points) != min(data["count"], LIMIT) and data["count"] <= LIMIT:
            problems.append(f"{say} {len(points)} points of {data['count']} frames counted")
        times = [p[0] for p in points]
        if times != sorted(times):
            problems.append(f"{say} the points are not in the order they were sent")
        ends = [p[1] + p[2] for p in points if p[2]]
        if not ends or max(ends) != 1 + SIZE or min(p[1] for p in points if p[2]) != 1:
            problems.append(
                f"{say} the data's points span {min(ends, default=0)}..{max(ends, default=0)}"
            )
        resent = sum(1 for p in points if p[5])
        if resent != data["retransmissions"]:
            problems.append(
                f"{say} the link judged {resent} sent again, the kernel counted "
                f"{data['retransmissions']}"
            )
        sent = sum(p[2] for p in points)
        if data["count"] <= LIMIT and sent != data["nbytes"]:
            problems.append(
                f"{say} the points carry {sent} bytes, the kernel sent {data['nbytes']}"
            )
        acked = [p[3] for p in acks.get("points") or [] if p[3] is not None]
        if acked != sorted(acked) or not acked or max(acked) < 1 + SIZE:
            problems.append(f"{say} the ACKs do not climb to {1 + SIZE}: {acked[-3:]}")
    no_mismatch(problems)
