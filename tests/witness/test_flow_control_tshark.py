"""Flow control's words against tshark: each window of 0, probe, keepalive and window update
sockviz names in ``zero-window``'s and ``keepalive``'s segments is the frame Wireshark's
analysis marks so.

sockviz names them from the segments before each (:mod:`sockviz.view.flow_control`);
tshark reads the run's own ``--pcap`` with its TCP analysis. One difference is Wireshark's,
and the test holds it: Linux probes a zero window with a segment one byte below what the
peer acknowledged and no payload - the same shape as a keepalive, and tshark calls it one
(``tcp.analysis.keep_alive``); sockviz calls it a window probe when the peer's last window
was 0 (what makes the kernel send it) and a keepalive when it was open.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from sockviz.engine.record.trace_format import from_record
from sockviz.view import flow_control
from tests.conftest import IPV6
from tests.witness.witnesses import need, no_mismatch, run_all, scratch

#: tshark's mark for a probe's shape (its keep-alive or zero-window probe): sockviz's
#: window probe or keepalive, told apart by the peer's window.
SHAPE = "probe or keepalive"
FIELDS = (
    "frame.number",
    "tcp.analysis.zero_window",
    "tcp.analysis.window_update",
    "tcp.analysis.keep_alive",
    "tcp.analysis.zero_window_probe",
)


#: The scenarios, and what each must show.
LESSONS = {
    "zero-window": (flow_control.ZERO, flow_control.PROBE, flow_control.UPDATE),
    "keepalive": (flow_control.KEEPALIVE,),
}
SHAPED = (flow_control.PROBE, flow_control.KEEPALIVE)


def marks(pcap: Path) -> list[set[str]]:
    """Each TCP frame's analysis marks, in order."""
    command = ["tshark", "-n", "-r", str(pcap), "-Y", "tcp", "-T", "fields", "-E", "separator=,"]
    for field in FIELDS:
        command += ["-e", field]
    proc = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    out = []
    for line in proc.stdout.splitlines():
        _number, zero, update, keep_alive, probe = line.split(",")
        out.append(
            {
                name
                for name, value in (
                    (flow_control.ZERO, zero),
                    (flow_control.UPDATE, update),
                    (SHAPE, keep_alive or probe),
                )
                if value
            }
        )
    return out


@need("tshark")
def test_zero_windows_probes_keepalives_and_window_updates_are_what_tshark_marks():
    families = ("ipv4", "ipv6") if IPV6 else ("ipv4",)
    runs = [("--scenario", s, "--family", f) for s in LESSONS for f in families]
    problems = []
    with scratch() as place:
        for run in run_all(runs, Path(place)):
            assert run.pcap is not None
            seen = marks(run.pcap)
            segments = [from_record(r) for r in run.records if r["call"] == "packet"]
            if len(segments) != len(seen):
                problems.append(f"[{run.name}] {len(segments)} lines, {len(seen)} frames")
                continue
            offers: dict = {}
            named = dict.fromkeys(LESSONS[run.args[1]], 0)
            for segment, theirs in zip(segments, seen, strict=True):
                ours = flow_control.note(segment, offers)
                before = offers.get((segment.local, segment.remote))
                flow_control.offered(offers, segment)
                if ours is not None:
                    named[ours] = named.get(ours, 0) + 1
                    shape = ours in (flow_control.PROBE, flow_control.KEEPALIVE)
                    if (SHAPE if shape else ours) not in theirs:
                        problems.append(f"[{run.name}] seq {segment.seq}: {ours}, tshark {theirs}")
                # (tshark marks any window that grew; sockviz names one that opened from 0)
                opened = before is not None and before[1] == 0
                for mark in theirs - {ours, SHAPE if ours in SHAPED else None}:
                    if mark != flow_control.UPDATE or opened:
                        problems.append(
                            f"[{run.name}] seq {segment.seq}: tshark {mark}, ours {ours}"
                        )
            problems += [f"[{run.name}] no {what} seen" for what, n in named.items() if not n]
    no_mismatch(problems)
