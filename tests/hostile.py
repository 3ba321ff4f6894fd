"""A corpus of hostile text, and recordings that carry it, for the tests of untrusted input.

Each string is something a stranger's file could hold that must never act: terminal
escapes that retitle the window, write the clipboard or clear the screen; a C1 CSI (one
byte that some terminals take as ESC [); BEL and NUL; bidirectional overrides that make
text read other than it is; Textual markup that would draw a clickable action or a link,
or break the parser.
"""

from __future__ import annotations

import json
import pathlib

DATA = pathlib.Path(__file__).parent / "app" / "data"

HOSTILE = {
    "osc2": "\x1b]2;PWNED\x1b\\",
    "osc52": "\x1b]52;c;cHduZWQ=\x07",
    "csi": "\x1b[2J\x1b[H",
    "bel-nul": "\x07\x00",
    "c1-csi": "\x9b2J",
    "bidi": "\u202eevil\u202c\u2066x\u2069",
    "click": "[@click=app.screenshot('owned.svg','/tmp')]SHOT[/]",
    "link": "[link=https://evil.example]x[/link]",
    "close-tag": "[/]",
}

#: What must never reach a terminal raw: ESC, BEL, NUL, C1 CSI and ST, the bidi controls.
RAW = ("\x1b", "\x07", "\x00", "\x9b", "\x9c", "\u202e", "\u202c", "\u2066", "\u2069")

#: Every string field of a trace line.
STRING_FIELDS = (
    "socket",
    "role",
    "call",
    "state",
    "family",
    "type",
    "local",
    "remote",
    "error",
    "error_text",
    "kernel",
    "args",
    "data",
    "parent",
    "previous",
)


def raw_in(text: str) -> list[str]:
    """The raw controls found in ``text`` (none, for inert text)."""
    return [ch for ch in RAW if ch in text]


def fixture_lines(name: str = "tcp-echo-ipv4") -> list[dict]:
    return [json.loads(line) for line in (DATA / f"{name}.jsonl").read_text().splitlines()]


def header(scenario: str = "tcp-echo", family: str = "ipv4") -> dict:
    return {
        "sockviz-recording": 1,
        "scenario": scenario,
        "family": family,
        "closer": None,
        "size": None,
    }


def write_recording(
    path: pathlib.Path, records: list[dict], head: dict | None = None, raw: bytes | None = None
) -> pathlib.Path:
    """A recording file: a header line and one JSON line per record (``raw``: the file's
    bytes as given, for what JSON cannot say, such as invalid UTF-8)."""
    if raw is not None:
        path.write_bytes(raw)
        return path
    lines = [json.dumps(head or header())] + [json.dumps(r) for r in records]
    path.write_text("\n".join(lines) + "\n")
    return path


def with_field(records: list[dict], field: str, value: str) -> list[dict]:
    """The records with ``field`` set to ``value`` wherever it has a value (on every record
    for the names every line has; on the first line that can hold it when no line does)."""
    always = field in ("socket", "role", "call", "family", "type")
    out, changed = [], False
    for record in records:
        record = dict(record)
        if record.get(field) is not None or always:
            record[field], changed = value, True
        out.append(record)
    if not changed:
        kernel_only = field in ("previous",)
        first = next(
            i
            for i, r in enumerate(out)
            if (r["call"] == "kernel") == kernel_only and r["call"] != "tcp"
        )  # (the settings line: its own checks, its own tests)
        out[first][field] = value
    return out
