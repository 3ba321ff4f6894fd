"""The trace's packet lines against tshark's reading of the same run's ``--pcap``.

Every scenario on both families (``bulk`` and ``slow-link`` at 256 KiB, ``time-wait`` with
each closer), every lab and every ``--drop`` kind: the lines and the frames in order, same
count, and field by field - addresses, flags, relative seq/ack as Wireshark computes them,
payload length, the kernel's timestamps, ``retry`` exactly where tshark marks a
retransmission (two hosts; on loopback tshark must mark none). A bulk transfer's summed
lines against the frames they stand for. And what the trace says of who sent a segment and
which call caused it must fit those facts: a ``cause`` only for a segment sent while that
call was under way (between the call before it returning and it returning), never for one
sent again; a ``from`` only a socket that owns a connection or listens.
"""

from __future__ import annotations

import statistics
from pathlib import Path

import pytest

from sockviz.engine.scenarios import REGISTRY
from sockviz.engine.sockets.tracer import LINK_DRAIN
from tests.conftest import IPV6
from tests.witness.witnesses import (
    Frame,
    Run,
    flag_set,
    frames,
    icmp_frames,
    need,
    no_mismatch,
    run_all,
    scratch,
)

FAMS = ("ipv4", "ipv6") if IPV6 else ("ipv4",)

#: Seconds two clocks of one machine may disagree by: the trace's call times (monotonic)
#: and the frames' (the kernel's wall-clock stamps, mapped onto the run's clock once).
SLACK = 0.0005
#: The same on two hosts, where a frame's time is the link's reading of it.
LINK_SLACK = 0.010


def runs(family: str) -> list[tuple[str, ...]]:
    """One family's runs (each family is a test of its own, on a worker of its own)."""
    out = []
    for name, scenario in REGISTRY.items():
        if family not in scenario.families:
            continue
        base = ("--scenario", name, "--family", family)
        if name in ("bulk", "slow-link"):
            out.append((*base, "--size", "256K"))
        elif name == "time-wait":
            out += [(*base, "--closer", "client"), (*base, "--closer", "server")]
        else:
            out.append(base)
    for kind in ("syn", "syn-ack", "ack", "data", "fin"):
        out.append(("--scenario", "tcp-echo", "--drop", kind, "--family", family))
    return out


@need("tshark")
@pytest.mark.parametrize("family", FAMS)
def test_every_packet_line_is_the_frame_tshark_reads(family):
    with scratch() as place:
        done = run_all(runs(family), Path(place))
        problems = []
        for run in done:
            problems += [f"[{run.name}] {p}" for p in compare(run, frames(run.pcap))]
            problems += [f"[{run.name}] {p}" for p in compare_icmp(run)]
            if "syn-ack" in run.args:
                problems += [f"[{run.name}] {p}" for p in both_timers(run)]
    no_mismatch(problems)


def both_timers(run: Run) -> list[str]:
    """A lost SYN-ACK starts both kernels' timers: the client's SYN or the server's SYN-ACK
    comes again first, whichever fires first, each about a second after its first sending
    (an ACK on its way has told its sender nothing) - and neither first sending is a retry."""
    lines = [r for r in run.records if r["call"] == "packet"]
    syns = [r for r in lines if r["flags"] == "SYN"]
    synacks = [r for r in lines if r["flags"] == "SYN,ACK"]
    again = syns[1:] + synacks[1:]
    out = []
    if syns[0]["retry"] is not None or synacks[0]["retry"] is not None:
        out.append(f"a first SYN or SYN-ACK has retry: {syns[0]['retry']}, {synacks[0]['retry']}")
    if not again or not all(r["retry"] >= 0.9 for r in again):  # (the kernel's timer)
        out.append(f"sent again: {[(r['flags'], r['retry']) for r in again]}")
    return out


def compare_icmp(run: Run) -> list[str]:
    """The trace's ICMP lines against tshark's ICMP errors: the same ones, in order - kind,
    the address that could not be reached, the sender's address."""
    assert run.pcap is not None
    ours = [
        (4 if r["family"] == "AF_INET" else 6, r["flags"], r["local"], r["remote"])
        for r in run.records
        if r["call"] == "packet" and r["proto"] == "ICMP"
    ]
    theirs = icmp_frames(run.pcap)
    return [] if ours == theirs else [f"ICMP lines {ours}, tshark {theirs}"]


def compare(run: Run, seen: list[Frame], early: float = SLACK) -> list[str]:
    """Every way the run's packet lines differ from tshark's frames (a line's ``t`` may be
    up to ``early`` before its frame's stamp: see ``test_tcpdump``)."""
    lines = [r for r in run.records if r["call"] in ("packet", "packets") and r["proto"] != "ICMP"]
    singles = [r for r in lines if r["call"] == "packet"]
    sums = [r for r in lines if r["call"] == "packets"]
    problems: list[str] = []
    if sums:
        # (a packet line between two sums - what a kernel sent while no transfer was being
        # counted, under load a window update or a probe between sendall() and recv() - is
        # held against the block as a sum of one frame)
        first, last = lines.index(sums[0]), lines.index(sums[-1])
        sums = [
            line if line["call"] == "packets" else _as_sum(line) for line in lines[first : last + 1]
        ]
        head, tail = lines[:first], lines[last + 1 :]
        block = seen[len(head) : len(seen) - len(tail)]
        pairs = list(zip(head, seen[: len(head)], strict=False)) + list(
            zip(tail, seen[len(seen) - len(tail) :], strict=False)
        )
        # (the run's clock less the frames' stamps, from the lines held one to one)
        offset = statistics.median(ln["t"] - f.epoch for ln, f in pairs) if pairs else None
        problems += compare_sums(sums, block, offset)
    else:
        if len(singles) != len(seen):
            problems.append(
                f"count: the trace has {len(singles)} packet lines, tshark {len(seen)} frames"
            )
        pairs = list(zip(singles, seen, strict=False))
    linked = any("link" in r for r in lines)
    for line, frame in pairs:
        problems += compare_one(line, frame, seen, linked, early)
    problems += compare_times(pairs, early)
    problems += check_causes(run.records, pairs)
    problems += check_senders(run.records, pairs)
    return problems


def say(line: dict, frame: Frame, field: str, want, got) -> str:
    return (
        f"frame {frame.number} / line seq {line['seq']} ({line.get('flags')} "
        f"{line.get('from')}->{line.get('to')}): {field}: tshark {want!r}, trace {got!r}"
    )


def compare_one(
    line: dict, frame: Frame, seen: list[Frame], linked: bool, early: float = SLACK
) -> list[str]:
    """A line's fields against its frame's; ``retry`` against the gap since the first
    sending within 2 ms, widened by what each of the two stamps may be ``early``."""
    out = []
    checks = [
        ("proto", frame.proto, line["proto"]),
        ("source", frame.src, line["local"]),
        ("destination", frame.dst, line["remote"]),
        ("payload length", frame.nbytes, line["nbytes"]),
    ]
    if frame.proto == "TCP":
        sack = line.get("sack")
        checks += [
            ("flags", sorted(frame.flags), sorted(flag_set(line["flags"]))),
            ("seq_rel", frame.seq, line["seq_rel"]),
            ("ack_rel", frame.ack, line["ack_rel"]),
            ("sack", frame.sack, None if sack is None else tuple(map(tuple, sack))),
        ]
    for field, want, got in checks:
        if want != got:
            out.append(say(line, frame, field, want, got))
    retry = line.get("retry")
    if linked:
        if (frame.retransmission or frame.resent_bytes) != (retry is not None):
            out.append(
                say(
                    line,
                    frame,
                    f"retransmission (tshark's mark {frame.marked})",
                    frame.retransmission,
                    retry,
                )
            )
        elif retry is not None:
            first = first_sending(frame, seen)
            allowed = 0.002 + early - SLACK
            if first is not None and abs((frame.epoch - first.epoch) - retry) > allowed:
                out.append(
                    say(
                        line,
                        frame,
                        f"retry (s since first sent, frame {first.number})",
                        round(frame.epoch - first.epoch, 4),
                        retry,
                    )
                )
    elif frame.retransmission:
        out.append(say(line, frame, "retransmission (loopback line has no retry key)", True, retry))
    return out


def first_sending(frame: Frame, seen: list[Frame]) -> Frame | None:
    """The earliest frame carrying the same thing from the same sender (same seq, and
    bytes, a SYN or a FIN)."""
    for other in seen:
        if (
            (other.src, other.dst, other.seq) == (frame.src, frame.dst, frame.seq)
            and other.number < frame.number
            and (other.nbytes or other.flags & {"SYN", "FIN"})
            and (other.flags & {"SYN", "FIN"}) == (frame.flags & {"SYN", "FIN"})
        ):
            return other
    return None


def _as_sum(line: dict) -> dict:
    """A packet line as a summed line of one frame."""
    return {
        **line,
        "count": 1,
        "largest": line["nbytes"],
        "retransmissions": int(line.get("retry") is not None),
    }


def compare_sums(sums: list[dict], block: list[Frame], offset: float | None = None) -> list[str]:
    """A bulk transfer's summed lines, one a direction, against the frames they stand for."""
    out = []
    for source in dict.fromkeys(line["local"] for line in sums):
        lines = [line for line in sums if line["local"] == source]
        mine = [f for f in block if f.src == source]
        counted = any(line["largest"] is None for line in lines)
        want = {
            "count": len(mine),
            "nbytes": sum(f.nbytes for f in mine),
            "largest": max((f.nbytes for f in mine), default=0),
            # (a kernel-counted sum's retransmissions are the kernel's own count of segments
            # it sent again: held against the frames the capture saw twice, not tshark's
            # guesses - see Frame.repeats; a sum of frames read holds to tshark's marks)
            "retransmissions": sum(f.repeats if counted else f.retransmission for f in mine),
            "flags": sorted(set().union(*(f.flags for f in mine))),
        }
        got = {
            "count": sum(line["count"] for line in lines),
            "nbytes": sum(line["nbytes"] for line in lines),
            "largest": max(line["largest"] for line in lines)
            if all(line["largest"] is not None for line in lines)
            else None,
            "retransmissions": sum(line["retransmissions"] for line in lines),
            "flags": sorted(set().union(*(flag_set(line["flags"]) for line in lines)))
            if all(line["flags"] is not None for line in lines)
            else None,
        }
        for key in want:
            # (None: the kernel counted the frames without reading them, and the line says
            # it did not see their flags or sizes - a claim of nothing to hold against them)
            if (
                got[key] is not None
                and want[key] != got[key]
                and not (key == "count" and len(lines) > 1 and want[key] - got[key] == 1)
            ):
                # (a sum split in two - a sendall() that returned with bytes still buffered
                # - may leave the one frame at the split out: the README says so)
                out.append(
                    f"summed line(s) seq {[line['seq'] for line in lines]} "
                    f"({lines[0]['from']}->{lines[0]['to']}, frames "
                    f"{block[0].number if block else '-'}-"
                    f"{block[-1].number if block else '-'}): {key}: tshark "
                    f"{want[key]!r}, trace {got[key]!r}"
                )
    out += compare_points(sums, block, offset)
    others = [f for f in block if f.src not in {line["local"] for line in sums}]
    if others:
        out.append(
            f"{len(others)} frames among the summed ones belong to no summed line "
            f"(first: frame {others[0].number})"
        )
    return out


def compare_points(
    sums: list[dict], block: list[Frame], offset: float | None, early: float = LINK_SLACK
) -> list[str]:
    """A sum's graph points: each one of its frames, in order, with that frame's numbers
    (seq, length, ack, SACK blocks) at that frame's time (``offset``: the run's clock less
    the frames' stamps, from the packet lines; a point's frame is the one with its numbers
    nearest its time - duplicate ACKs have the same numbers), sent again or not as tshark
    says."""
    out = []
    for line in sums:
        points = line.get("points") or []
        mine = [f for f in block if f.src == line["local"]]
        at = 0
        for p in points:
            t, seq, nbytes, ack, _window, resent, sack = p
            sack = None if sack is None else tuple(map(tuple, sack))
            same = [
                i
                for i in range(at, len(mine))
                if (mine[i].seq, mine[i].nbytes, mine[i].ack, mine[i].sack)
                == (seq, nbytes, ack, sack)
            ]
            if not same:
                out.append(f"summed line seq {line['seq']}: point {p} is no frame of it, in order")
                break
            i = (
                same[0]
                if offset is None
                else min(same, key=lambda i: abs(mine[i].epoch + offset - t))
            )
            frame = mine[i]
            if frame.retransmission != resent:
                out.append(f"point {p}: sent again {resent}, tshark {frame.retransmission}")
            if offset is not None and abs(frame.epoch + offset - t) > 2 * early:
                out.append(f"point {p}: at {t:.4f} s, tshark's frame at {frame.epoch + offset:.4f}")
            at = i + 1
    return out


def compare_times(pairs: list[tuple[dict, Frame]], early: float = SLACK) -> list[str]:
    """``t`` is the kernel's timestamp of the frame: the same gaps as the pcap's stamps
    (``SLACK`` either way; up to ``early`` before it)."""
    if not pairs:
        return []
    offset = statistics.median(frame.epoch - line["t"] for line, frame in pairs)
    return [
        say(
            line,
            frame,
            "t (kernel's stamp on the run's clock)",
            round(frame.epoch - offset, 6),
            line["t"],
        )
        for line, frame in pairs
        if not -SLACK <= frame.epoch - offset - line["t"] <= early
    ]


def step_calls(records: list[dict]) -> list[dict]:
    return [
        r
        for r in records
        if r.get("step") is not None and r["call"] not in ("packet", "packets", "kernel", "link")
    ]


def check_causes(records: list[dict], pairs: list[tuple[dict, Frame]]) -> list[str]:
    """A segment's ``cause`` names the call during which its kernel sent it: sent after the
    call before it had returned, and by the time it returned; a retransmission has none."""
    out = []
    calls = step_calls(records)
    by_seq = {c["seq"]: n for n, c in enumerate(calls)}
    # On two hosts a frame's t is when the link read it from the sender's device, a little
    # after the kernel put it there (seen: up to ~2 ms); the pcap has the same stamps. A
    # call's own frames are those the link had read by the end of its drain (LINK_DRAIN
    # at most, then the stamping of what it read): beside a CPU burner, close()'s FIN
    # stamped 12 ms after the return.
    link = any("link" in line for line, _ in pairs)
    slack = LINK_SLACK if link else SLACK
    drain = LINK_DRAIN if link else 0.0
    for line, frame in pairs:
        cause = line.get("cause")
        if cause is None:
            continue
        if frame.retransmission or line.get("retry") is not None:
            out.append(say(line, frame, "cause of a retransmission", None, cause))
            continue
        if cause not in by_seq:
            out.append(say(line, frame, "cause (no such call)", None, cause))
            continue
        n = by_seq[cause]
        call = calls[n]
        before = calls[n - 1]["t"] if n > 0 else 0.0
        together = (
            n > 0
            and calls[n - 1]["call"] in ("sendall", "recv")
            and call["call"] in ("sendall", "recv")
            and (call.get("parts") or calls[n - 1].get("parts"))
        )
        if line["t"] > call["t"] + drain + slack or (line["t"] < before - slack and not together):
            out.append(
                say(
                    line,
                    frame,
                    f"cause: sent at t={line['t']}, but "
                    f"{call['socket']}.{call['call']}() ran from after t={before} to "
                    f"t={call['t']}",
                    "a call under way then",
                    cause,
                )
            )
    return out


def check_senders(records: list[dict], pairs: list[tuple[dict, Frame]]) -> list[str]:
    """``from`` names a socket with the frame's source address that can send a segment: one
    that listens, connects or was accepted - not one only bound (its kernel answers a SYN
    with RST for nobody's connection)."""
    owners: dict[str, set[str]] = {}
    for r in step_calls(records):
        if r["call"] in ("listen", "connect", "accept", "sendto", "send", "sendall") or r.get(
            "state"
        ) in ("listening", "connected", "half-closed"):
            owners.setdefault(r["socket"], set()).add(r["call"])
    names = {r["socket"] for r in step_calls(records)}
    out = []
    for line, frame in pairs:
        sender = line.get("from")
        if sender in names and frame.proto == "TCP" and sender not in owners:
            out.append(
                say(
                    line,
                    frame,
                    "from: a socket that never listened, connected or was accepted",
                    "the kernel, for no socket",
                    sender,
                )
            )
    return out
