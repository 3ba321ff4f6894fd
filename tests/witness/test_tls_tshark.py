"""The ``tls`` lesson's record names against tshark's TLS dissector on the run's own pcap:
each packet line's ``tls`` is the records tshark finds in that frame, in order.

tshark is told the run's port is TLS (``-d tcp.port==PORT,tls``). Where the capture kept
a record's header but not all of its body, tshark shows a bare "Record Layer" (it does not
name what it cannot take whole): any name of ours matches it. A record whose header lies
past the bytes kept, which sockviz writes ``…``, tshark does not show at all.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from tests.witness.test_packets import FAMS
from tests.witness.witnesses import Run, need, no_mismatch, run_all, scratch

#: tshark's words for a record -> sockviz's name (None: a record tshark did not name).
_THEIRS = re.compile(r"^\s+TLSv[\d.]+ Record Layer: (.+?) Protocol: (.+)$|^\s+(Record Layer)$")


def tshark_records(pcap: Path, port: int) -> dict[int, list[str | None]]:
    """Frame number -> the records tshark dissects in it, named as sockviz names them."""
    proc = subprocess.run(
        ["tshark", "-n", "-r", str(pcap), "-d", f"tcp.port=={port},tls", "-O", "tls"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    out: dict[int, list[str | None]] = {}
    frame = 0
    for line in proc.stdout.splitlines():
        if line.startswith("Frame "):
            frame = int(line.split()[1].rstrip(":"))
            continue
        found = _THEIRS.match(line)
        if found is None:
            continue
        kind, what, bare = found.groups()
        if bare:
            name = None
        elif kind == "Handshake":
            name = what.split(":")[0].replace(" ", "")  # ("Server Hello" -> ServerHello)
        else:
            name = kind.replace(" ", "")  # (Change Cipher Spec, Application Data, Alert)
        out.setdefault(frame, []).append(name)
    return out


def compare(run: Run) -> list[str]:
    """Every packet line whose records differ from tshark's frame at the same place."""
    assert run.pcap is not None
    port = int(next(r for r in run.records if r["call"] == "bind")["local"].rsplit(":", 1)[1])
    theirs = tshark_records(run.pcap, port)
    lines = [r for r in run.records if r["call"] == "packet" and r["proto"] == "TCP"]
    problems = []
    for number, line in enumerate(lines, start=1):
        ours = [n for n in line.get("tls") or [] if n != "…"]
        want = theirs.get(number, [])
        if len(ours) != len(want) or any(
            w is not None and w != o for o, w in zip(ours, want, strict=True)
        ):
            problems.append(f"frame {number} (line seq {line['seq']}): tshark {want}, trace {ours}")
    if not any(line.get("tls") for line in lines):
        problems.append("no packet line names a TLS record")
    return problems


@need("tshark")
def test_every_tls_record_named_is_the_record_tshark_dissects():
    with scratch() as place:
        done = run_all([("--scenario", "tls", "--family", f) for f in FAMS], Path(place))
        problems = []
        for run in done:
            problems += [f"[{run.name}] {p}" for p in compare(run)]
    no_mismatch(problems)
