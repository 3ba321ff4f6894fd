"""Recordings are untrusted: every file either plays or is refused with one clear line.

Whatever a recording holds - terminal escapes, markup, wrong types, huge numbers, a
device, a FIFO, gigabytes - ``--replay FILE --trace`` and ``--export`` either play it with
nothing raw on stdout or stderr, or refuse it with one line naming the file and the line,
exit status 2. Never a traceback, a hang or unbounded memory.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import threading

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sockviz.cli import main
from sockviz.engine.record.trace_format import MAX_EVENTS_PER_STEP, read_trace
from sockviz.view.export import to_mermaid, to_text
from tests.hostile import (
    HOSTILE,
    STRING_FIELDS,
    fixture_lines,
    header,
    raw_in,
    with_field,
    write_recording,
)


def run(*argv: str, timeout: float = 20.0) -> tuple[int, str, str]:
    """``sockviz ARGV`` in this process: (status, stdout, stderr); fails on a hang."""
    out, err, result = io.StringIO(), io.StringIO(), []

    def target() -> None:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            result.append(main(list(argv)))

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(timeout)
    assert not thread.is_alive(), f"sockviz {' '.join(argv)} hung"
    assert result, f"sockviz {' '.join(argv)} raised: {err.getvalue()[-500:]}"
    return result[0], out.getvalue(), err.getvalue()


def assert_played_or_refused(path, *extra: str) -> int:
    status, out, err = run("--replay", str(path), "--trace", *extra)
    assert "Traceback" not in err and not raw_in(out) and not raw_in(err), (out[-300:], err)
    if status == 0:
        assert err == ""
    else:
        assert status in (1, 2) and len(err.splitlines()) == 1, err
        assert err.startswith("sockviz: error: ")
    return status


@pytest.mark.parametrize("field", STRING_FIELDS)
def test_every_field_carrying_each_hostile_string_plays_inert_or_is_refused(tmp_path, field):
    """Names, addresses, errnos and states are refused for what they are not; free text
    (arguments, the OS's words) plays, and nothing of it reaches stdout or stderr raw."""
    lines = fixture_lines()
    for kind, text in HOSTILE.items():
        path = write_recording(tmp_path / f"{field}-{kind}.jsonl", with_field(lines, field, text))
        status = assert_played_or_refused(path)
        if field in ("args", "error_text"):
            assert status == 0, kind
            for form in ("text", "mermaid"):
                code, out, err = run("--replay", str(path), "--trace", "--export", form)
                assert code == 0 and not raw_in(out) and err == ""
                if field == "args" and form == "text":
                    assert "\\x1b" in out or kind not in ("osc2", "osc52", "csi")
        elif field not in ("data",):  # (data is an escaped preview: an ESC is a bad escape)
            assert status == 2, (field, kind)


def test_the_header_scenario_is_shown_inert(tmp_path):
    """The 'not there any more' message quotes the header's scenario file: inert."""
    head = header(scenario="/nowhere/\x1b]2;PWNED\x07\u202e.toml")
    path = write_recording(tmp_path / "r.jsonl", fixture_lines(), head)
    status, _out, err = run("--replay", str(path), "--trace")
    assert status == 2 and not raw_in(err) and "\\x1b]2;PWNED\\x07" in err


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("type", "SOCK_RAW"),
        ("type", 1),
        ("type", None),
        ("args", 7),
        ("kernel", 5),
        ("local", 80),
        ("socket", None),
        ("socket", {"a": 1}),
        ("sent_total", None),
        ("queue", {"a": 1}),
        ("seq", None),
        ("timer", {"t": 1}),
        ("step", 1.5),
        ("step", -1),
        ("step", True),
        ("t", "soon"),
        ("nbytes", 1 << 70),
        ("data", "\\xZZ"),
        ("error", "EVIL; rm -rf"),
        ("local", "999.1.1.1:5"),
        ("local", "127.0.0.1:99999"),
        ("socket", "x" * 1_000_000),
        ("args", "x" * 1_000_000),
        ("implicit_bind", "yes"),
    ],
)
def test_a_wrongly_typed_field_is_refused_with_its_line(tmp_path, field, value):
    lines = fixture_lines()
    target = next(
        i
        for i, r in enumerate(lines)
        if r["call"] != "kernel" and (r[field] is not None or field in ("timer", "queue", "error"))
    )
    lines[target] = dict(lines[target], **{field: value})
    path = write_recording(tmp_path / "r.jsonl", lines)
    status, _out, err = run("--replay", str(path), "--trace")
    assert status == 2 and len(err.splitlines()) == 1, err
    assert f"line {target + 2}:" in err and field in err


def test_an_accept_whose_listener_never_appeared_is_refused(tmp_path):
    lines = fixture_lines()
    accept = next(i for i, r in enumerate(lines) if r["call"] == "accept")
    lines[accept]["parent"] = "ghost"
    status, _out, err = run(
        "--replay",
        str(write_recording(tmp_path / "r.jsonl", lines)),
        "--trace",
        "--export",
        "mermaid",
    )
    assert status == 2 and f"line {accept + 2}:" in err and "ghost" in err


def test_export_draws_an_accept_from_a_listener_it_never_saw():
    """The export itself does not trip over a parent it has no row for."""
    events = read_trace(json.dumps(r) for r in fixture_lines())
    listener_rows = [e for e in events if e.socket != "server"]  # (the accept's parent)
    for draw in (to_mermaid, to_text):
        assert "accept() → conn-1" in draw(listener_rows)


def test_a_flood_of_kernel_lines_in_one_step_is_refused(tmp_path):
    lines = fixture_lines()
    kernel = next(r for r in lines if r["call"] == "kernel")
    flood = lines[:6] + [kernel] * (MAX_EVENTS_PER_STEP + 1) + lines[6:]
    status, _out, err = run(
        "--replay", str(write_recording(tmp_path / "r.jsonl", flood)), "--trace"
    )
    assert status == 2 and "events after one step's call" in err


@pytest.mark.parametrize("kind", ["device", "fifo", "folder", "huge"])
def test_what_is_not_a_recording_file_is_refused_without_reading_it(tmp_path, kind):
    """/dev/zero would be read for ever, a FIFO would block, a huge file fill memory."""
    path = {"device": "/dev/zero", "folder": str(tmp_path)}.get(kind, str(tmp_path / "f"))
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "huge":
        with open(path, "wb") as f:
            f.truncate(1 << 30)  # sparse: a gigabyte that costs nothing on disk
    status, _out, err = run("--replay", path, "--trace", timeout=5)
    assert status == 2 and len(err.splitlines()) == 1
    assert {
        "device": "a device",
        "fifo": "a FIFO",
        "folder": "a folder",
        "huge": "larger than any recording",
    }[kind] in err


def test_deeply_nested_json_is_refused(tmp_path):
    lines = [json.dumps(header()), "[" * 100_000 + "]" * 100_000]
    path = tmp_path / "r.jsonl"
    path.write_text("\n".join(lines))
    status, _out, err = run("--replay", str(path), "--trace")
    assert status == 2 and "line 2" in err


# --- mutated real recordings ------------------------------------------------------------

FIXTURES = (
    "tcp-echo-ipv4",
    "udp-echo-ipv4",
    "multi-client-ipv4",
    "websocket-ipv4",
    "refused-ipv4",
    "tcp-echo-unix",
    "tcp-echo-ipv6",
    "tcp-echo-wire-ipv4",
)
SCENARIO = {
    "tcp-echo-ipv4": ("tcp-echo", "ipv4"),
    "udp-echo-ipv4": ("udp-echo", "ipv4"),
    "multi-client-ipv4": ("multi-client", "ipv4"),
    "websocket-ipv4": ("websocket", "ipv4"),
    "refused-ipv4": ("refused", "ipv4"),
    "tcp-echo-unix": ("tcp-echo", "unix"),
    "tcp-echo-ipv6": ("tcp-echo", "ipv6"),
    "tcp-echo-wire-ipv4": ("tcp-echo", "ipv4"),
}

values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(1 << 70), max_value=1 << 70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(list(HOSTILE.values())),
    st.text(max_size=40),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)


@st.composite
def mutated(draw) -> tuple[str, bytes]:
    name = draw(st.sampled_from(FIXTURES))
    records = fixture_lines(name)
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(["set", "delete", "drop", "duplicate", "swap"]))
        i = draw(st.integers(0, len(records) - 1))
        if op == "set":
            records[i] = dict(records[i])
            records[i][draw(st.sampled_from(sorted(records[i])))] = draw(values)
        elif op == "delete":
            records[i] = dict(records[i])
            del records[i][draw(st.sampled_from(sorted(records[i])))]
        elif op == "drop" and len(records) > 1:
            del records[i]
        elif op == "duplicate":
            records.insert(i, records[i])
        elif op == "swap":
            j = draw(st.integers(0, len(records) - 1))
            records[i], records[j] = records[j], records[i]
    scenario, family = SCENARIO[name]
    text = (
        "\n".join([json.dumps(header(scenario, family))] + [json.dumps(r) for r in records]) + "\n"
    )
    raw = text.encode()
    if draw(st.booleans()):
        cut = draw(st.integers(0, len(raw)))
        raw = raw[:cut] + draw(st.binary(max_size=8))  # cut short, with stray bytes
    return name, raw


@settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(case=mutated())
def test_a_mutated_recording_plays_or_is_refused_in_one_line(tmp_path, case):
    _name, raw = case
    path = tmp_path / "mutated.jsonl"
    path.write_bytes(raw)
    assert_played_or_refused(path)


# --- the kernel's numbers, and numbers JSON does not have -------------------------------


def slow_link(tmp_path, change, name: str = "r.jsonl"):
    """A real slow-link recording with ``change(record)`` applied to each kernel line that
    carries the path's numbers (rtt, cwnd, retrans): the path, and the first such line's
    number in the file."""
    lines = fixture_lines("slow-link-ipv4")
    flows = [i for i, r in enumerate(lines) if r.get("cwnd") is not None]
    for i in flows:
        lines[i] = dict(lines[i])
        change(lines[i])
    return write_recording(tmp_path / name, lines, header("slow-link")), flows[0] + 2


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"rtt": None}, "rtt"),
        ({"retrans": None}, "retrans"),
        ({"cwnd": None}, "cwnd"),
        ({"cwnd": 1 << 32}, "cwnd"),
        ({"retrans": 1 << 62}, "retrans"),
        ({"cwnd": 2147483648, "retrans": 1 << 62}, "retrans"),
        ({"rtt": -1.0}, "rtt"),
        ({"rtt": 5e9}, "rtt"),
        ({"rtt": "81 ms"}, "rtt"),
        ({"cwnd": 10.5}, "cwnd"),
        ({"cwnd": -1}, "cwnd"),
        ({"rtt": True}, "rtt"),
    ],
)
def test_a_kernel_lines_path_numbers_out_of_the_kernels_range_are_refused(tmp_path, changes, field):
    """rtt, cwnd and retrans come from one TCP_INFO (u32s: tcpi_rtt in microseconds): all
    three or none, each in the kernel's range - the issue's 'rtt: null' that crashed the
    card at 80x24, and 'cwnd: 2147483648, retrans: 2**62' at 120 columns, are refused
    with their line."""
    path, line = slow_link(tmp_path, lambda r: r.update(changes))
    status, out, err = run("--replay", str(path), "--trace")
    assert status == 2 and out == "" and len(err.splitlines()) == 1, err
    assert f"line {line}: {field} = " in err


def test_the_kernels_largest_path_numbers_play(tmp_path):
    """The top of each range is a line the kernel could write: it plays."""
    path, _line = slow_link(
        tmp_path, lambda r: r.update(rtt=4294967.3, cwnd=(1 << 32) - 1, retrans=(1 << 32) - 1)
    )
    status, out, err = run("--replay", str(path), "--trace")
    assert status == 0 and err == "" and '"cwnd": 4294967295' in out


@pytest.mark.parametrize("number", ["NaN", "Infinity", "-Infinity", "1e999", "-1E400"])
@pytest.mark.parametrize("where", ["t", "timer", "rtt", "an unread key"])
def test_a_number_json_does_not_have_is_refused_with_its_line(tmp_path, number, where):
    """Python's JSON parser takes NaN, Infinity and -Infinity (and reads 1e999 as
    infinity); a recording's reader does not, wherever it stands - in a key a check reads or
    in one no check looks at."""
    key = {"an unread key": "extra"}.get(where, where)
    path, line = slow_link(tmp_path, lambda r: r.update({key: "@@"}))
    path.write_text(path.read_text().replace('"@@"', number))
    status, out, err = run("--replay", str(path), "--trace")
    assert status == 2 and out == "" and len(err.splitlines()) == 1, err
    assert f"line {line}: " in err and "finite" in err, err


@pytest.mark.parametrize("number", ["NaN", "Infinity", "1e999"])
def test_a_header_with_a_number_json_does_not_have_is_refused(tmp_path, number):
    path = write_recording(tmp_path / "r.jsonl", fixture_lines())
    text = path.read_text().replace('"sockviz-recording": 1', f'"sockviz-recording": {number}')
    path.write_text(text.replace('"size": null', f'"size": {number}', 1))
    status, _out, err = run("--replay", str(path), "--trace")
    assert status == 2 and len(err.splitlines()) == 1 and "line 1:" in err, err


# --- the time-sequence graph's nested numbers -------------------------------------------


def _graph_recording(tmp_path, key: str, change) -> tuple:
    """A real recording whose first line with ``key`` (a packet line's SACK blocks, a
    packets line's points) has ``change`` applied to that list: the path and the line's
    number in the file."""
    name, scenario = (
        ("graph-lost-data-ipv4", "lost-data")
        if key == "sack"
        else ("graph-slow-link-ipv4", "slow-link")
    )
    lines = fixture_lines(name)
    i = next(i for i, r in enumerate(lines) if isinstance(r.get(key), list))
    lines[i] = dict(lines[i], **{key: json.loads(json.dumps(lines[i][key]))})
    change(lines[i][key])
    return write_recording(tmp_path / "r.jsonl", lines, header(scenario)), i + 2


@pytest.mark.parametrize(
    ("key", "change", "field"),
    [
        ("sack", lambda v: None, None),
        ("points", lambda v: None, None),
        ("sack", lambda v: v[0].__setitem__(0, -1), "sack[0].left"),
        ("sack", lambda v: v[0].__setitem__(1, 1 << 32), "sack[0].right"),
        ("sack", lambda v: v.extend([[1, 2]] * 4), "sack"),
        ("sack", lambda v: v[0].append(3), "sack[0]"),
        ("sack", lambda v: v.clear(), "sack"),
        ("points", lambda v: v[3].__setitem__(1, 1 << 32), "points[3].seq_rel"),
        ("points", lambda v: v[0].__setitem__(5, 1), "points[0].resent"),
        ("points", lambda v: v[2].__setitem__(0, -0.5), "points[2].t"),
        ("points", lambda v: v[2].__setitem__(0, 1e308), "points[2].t"),
        ("points", lambda v: v[1].__setitem__(6, [[1]]), "points[1].sack[0]"),
        ("points", lambda v: v[1].pop(), "points[1]"),
        ("points", lambda v: v.extend([v[0]] * 2001), "points"),
        ("points", lambda v: v[4].__setitem__(4, "64 KiB"), "points[4].window"),
    ],
)
def test_a_sack_block_or_graph_point_out_of_range_is_refused_with_its_line(
    tmp_path, key, change, field
):
    path, number = _graph_recording(tmp_path, key, change)
    status, _out, err = run("--replay", str(path), "--trace")
    if field is None:  # (the real recording, unchanged: it plays)
        assert status == 0, err
        return
    assert status == 2 and len(err.splitlines()) == 1, err
    assert f"line {number}:" in err and f"{field} = " in err, err


@pytest.mark.parametrize(
    ("fixture", "kind", "key", "value"),
    [
        ("graph-slow-link-ipv4", "packets", "sack", [[1, 2]]),
        ("graph-lost-data-ipv4", "packet", "points", []),
    ],
)
def test_a_key_on_a_line_that_does_not_have_it_is_refused(tmp_path, fixture, kind, key, value):
    lines = fixture_lines(fixture)
    i = next(i for i, r in enumerate(lines) if r["call"] == kind)
    lines[i] = dict(lines[i], **{key: value})
    scenario = {"graph-slow-link-ipv4": "slow-link", "graph-lost-data-ipv4": "lost-data"}
    path = write_recording(tmp_path / "r.jsonl", lines, header(scenario[fixture]))
    status, _out, err = run("--replay", str(path), "--trace")
    assert status == 2 and len(err.splitlines()) == 1 and f"line {i + 2}:" in err, err
    assert key in err
