"""A segment's header spelled out, field by field, as the payload view shows it.

Why apart from :mod:`sockviz.view.wirewords`: that module tells what crossed under a call
in sentences; this one reads one segment's fields. Standard library only.
"""

from __future__ import annotations

from sockviz.engine.events import Segment

FLAG_MEANING = {
    "SYN": "synchronise: opens a connection, carries the sender's first sequence number",
    "ACK": "acknowledges every byte before ack",
    "PSH": "push: hand the data to the program now",
    "FIN": "finished: the sender will send no more",
    "RST": "reset: the connection is refused or torn down at once",
    "URG": "urgent data",
    "ECE": "congestion seen",
    "CWR": "congestion window reduced",
}


def header_lines(segment: Segment) -> list[str]:
    """A segment's header, field by field, as the payload view shows it."""
    if segment.summed:
        counted = segment.seq_rel is None
        how = (
            "frames counted by the kernel as they crossed, never read (reading each would "
            "have slowed the transfer); bytes and retransmissions from TCP_INFO at both "
            "ends"
            if counted
            else "each one captured (--pcap keeps them all)"
        )
        unread = "not seen: the frames were counted, not read"
        return [
            (
                f"{segment.count:,} {segment.proto} segments from {segment.source} to "
                f"{segment.target}: a bulk transfer's, summed, never drawn one by one"
            ),
            how,
            f"payload: {segment.nbytes:,} bytes in all",
            "largest segment: "
            + (f"{segment.largest:,} B" if segment.largest is not None else unread),
            f"sent again (retransmissions): {segment.retransmissions:,}",
            "flags: " + (segment.flags or (unread if counted else "-")),
        ]
    lines = [
        (
            f"{segment.proto} {'segment' if segment.proto == 'TCP' else 'datagram'}  "
            f"{segment.local} → {segment.remote}"
        ),
        f"from {segment.source} to {segment.target}",
    ]
    if segment.proto == "TCP":
        lines.append(f"flags: {segment.flags}")
        lines += [
            f"  {flag}: {FLAG_MEANING.get(flag, '')}"
            for flag in (segment.flags or "").split(",")
            if flag
        ]
        ack = f"   ack {segment.ack_rel} (relative)" if segment.ack_rel is not None else ""
        lines.append(f"seq {segment.seq_rel} (relative){ack}")
        lines.append(f"window: {segment.window} B")
        if segment.options:
            lines.append(f"options: {segment.options}")
    lines.append(f"payload: {segment.nbytes} B")
    lines.append(
        f"caused by call {segment.cause}"
        if segment.cause is not None
        else "sent by the kernel on its own (no call made it)"
    )
    return lines
