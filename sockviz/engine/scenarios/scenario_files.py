"""Scenarios written as TOML files: ``sockviz --scenario path/to/file.toml``.

A file names its sockets and lists their calls in the one order they always run::

    [scenario]
    name = "my-echo"                  # lower-case letters, digits and dashes (24 at most)
    summary = "one line for --list and the picker"
    about = "a paragraph (optional)"
    families = ["ipv4", "ipv6"]       # optional; any of ipv4, ipv6, unix

    [[socket]]
    name = "server"
    role = "listener"                 # listener, client, connection, server (UDP)
    type = "stream"                   # stream (TCP, the default) or datagram (UDP)

    [[step]]
    socket = "server"
    call = "bind"                     # socket setsockopt bind listen accept connect send
                                      # sendall recv sendto recvfrom shutdown close
    address = "loopback"              # the call's arguments (see CALL_KEYS)
    explain = "what it does, in plain words"
    expect = { state = "bound" }      # checked when it runs: state, error, bytes, kernel
                                      # (on a link also min_seconds, retries)

Every problem is reported, before anything runs, as one :class:`ScenarioFileError` naming the
file, the line and what was expected there. A file is untrusted: each number must fit the
call it goes to, so nothing the checker passes fails later without a line to point at; names
are identifiers; shown text is bounded and plain. Standard library only (``tomllib``).
"""

from __future__ import annotations

import re
import socket as socket_module
import tomllib
from dataclasses import dataclass
from pathlib import Path

from sockviz.engine.families import FAMILIES
from sockviz.engine.record.inert_text import inert
from sockviz.engine.scenarios.expect_table import EXPECT_KEYS, expectation
from sockviz.engine.scenarios.linktable import link_table
from sockviz.engine.scenarios.scenario_types import (
    BIND_ADDRESS,
    ECHO,
    LAST_PEER,
    MESSAGE,
    OWN_ADDRESS,
    SERVER_ADDRESS,
    AddressOf,
    Scenario,
    SocketSpec,
    Step,
)
from sockviz.engine.scenarios.quoted_values import shown as _shown
from sockviz.engine.states import Call, IllegalTransition, Role, Transport

#: The keys each call takes besides the common ones, with what they mean.
CALL_KEYS: dict[Call, dict[str, str]] = {
    Call.SOCKET: {},
    Call.SETSOCKOPT: {
        "option": 'an option name, e.g. "SO_REUSEADDR"',
        "value": "an integer (a C int), or [on, seconds] for SO_LINGER",
        "level": '"SOL_SOCKET" (default) or "IPPROTO_TCP"',
    },
    Call.BIND: {"address": '"loopback" (default), "own", or a socket whose address to take'},
    Call.LISTEN: {"backlog": "an integer from 0 to 65535 (default 5)"},
    Call.ACCEPT: {"new": 'the connection socket it returns (role = "connection")'},
    Call.CONNECT: {
        "to": 'the socket to connect to (default "server")',
        "wait": "true (default) or false: a non-blocking connect",
    },
    Call.SEND: {
        "data": "the text to send",
        "echo": "true: the bytes just received",
        "message": "true (exchange only): the message the user typed",
    },
    Call.RECV: {"size": "the most bytes to take, at most 64 MiB (default 1024)"},
    Call.SENDTO: {
        "data": "the text to send",
        "echo": "true: the bytes just received",
        "message": "true (exchange only): the message the user typed",
        "to": 'the socket to send to, or "last-peer" (default "server")',
    },
    Call.RECVFROM: {"size": "the most bytes to take, at most 64 MiB (default 1024)"},
    Call.SHUTDOWN: {"how": '"SHUT_WR" (default), "SHUT_RD" or "SHUT_RDWR"'},
    Call.CLOSE: {},
}
CALL_KEYS[Call.SENDALL] = CALL_KEYS[Call.SEND]

STEP_KEYS = {"socket", "call", "actor", "explain", "only", "timeout", "expect"}
SCENARIO_KEYS = {"name", "summary", "about", "families", "exchange_at"}
SOCKET_KEYS = {"name", "role", "type"}
#: Scenario and socket names: they end up in titles, events, recordings and file names.
NAME = re.compile(r"[a-z0-9][a-z0-9-]{0,23}\Z")
#: Words that ``address`` and ``to`` take with a meaning of their own: not socket names.
RESERVED_NAMES = ("loopback", "own", "last-peer")

# Far above a classroom scenario (a few KB, dozens of steps), and small enough that checking
# and running any file stays quick and bounded.
MAX_FILE_BYTES = 1 << 20
MAX_TABLES = {"socket": 64, "step": 1000, "exchange": 1000}
MAX_SUMMARY, MAX_TEXT = 200, 2000  # characters: the summary; about and each explain
TIMEOUT = (0.001, 3600)  # seconds a step may wait for its peer (poll() counts milliseconds)
MAX_BACKLOG = 65535  # Linux lowers any backlog to net.core.somaxconn: 16 bits for years
MAX_RECV = 64 << 20  # recv(size) allocates size first: above any socket buffer, and bounded
MAX_LINGER = 60  # close() may block that long: the one wait a stopped run cannot cut short
C_INT = (-(1 << 31), (1 << 31) - 1)
MAX_DEPTH = 32  # nested arrays and inline tables (a scenario uses two levels)

#: Refused in text shown to the user (the display would escape them; this names the line):
#: C0 controls but tab and newline, DEL, C1, bidi controls, line and paragraph separators.
UNSHOWABLE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069]")


class ScenarioFileError(ValueError):
    """A scenario file that cannot be run: where, and what was expected."""

    def __init__(self, path: str, line: int | None, message: str) -> None:
        super().__init__(message)
        self.path, self.line, self.message = path, line, message

    def __str__(self) -> str:
        where = f"{self.path}, line {self.line}" if self.line else self.path
        return inert(f"{where}: {self.message}")  # one line, whatever the path holds


class _Lines:
    """Where each table and key is (``tomllib`` keeps no positions); how many [[tables]]."""

    HEADER = re.compile(r"\s*(\[\[?)\s*([A-Za-z0-9_.\-]+)\s*\]\]?")
    KEY = re.compile(r"\s*([A-Za-z0-9_\-]+)\s*=")

    def __init__(self, text: str) -> None:
        self.tables: dict[tuple, int] = {}
        self.keys: dict[tuple, int] = {}
        self.counts: dict[str, int] = {}
        table: tuple = ()
        in_string = False
        # "\n" only, as TOML counts lines: str.splitlines() also splits at U+0085 and
        # U+2028, which a string or comment may hold, and every later line would be off.
        for number, line in enumerate(text.split("\n"), start=1):
            quotes = line.count('"""') + line.count("'''")
            if in_string:
                in_string = quotes % 2 == 0
                continue
            in_string = quotes % 2 == 1
            header = self.HEADER.match(line)
            if header and not in_string:
                name = header.group(2)
                if header.group(1) == "[[":
                    self.counts[name] = self.counts.get(name, 0) + 1
                    table = (name, self.counts[name] - 1)
                elif "." in name:  # [step.expect]: a part of the latest [[step]]
                    head, _, rest = name.partition(".")
                    table = (head, self.counts.get(head, 1) - 1, rest)
                else:
                    table = (name,)
                self.tables.setdefault(table, number)
            elif key := self.KEY.match(line):
                self.keys.setdefault((*table, key.group(1)), number)

    def of(self, table: tuple, key: str | None = None) -> int | None:
        if key is not None:
            inline = ((*table, "expect"),) if key in EXPECT_KEYS else ()
            for where in ((*table, key), (*table, "expect", key), *inline):
                if where in self.keys:
                    return self.keys[where]
        return self.tables.get(table)


@dataclass
class _Reader:
    path: str
    lines: _Lines

    def fail(self, table: tuple, key: str | None, message: str):
        raise ScenarioFileError(self.path, self.lines.of(table, key), message)

    def string(self, table: tuple, data: dict, key: str, default=None, required=False):
        value = data.get(key, default)
        if value is None and required:
            self.fail(table, None, f'{_name(table)} needs {key} = "..."')
        if value is not None and not isinstance(value, str):
            self.fail(table, key, f"{key} must be a string in quotes, not {_shown(value)}")
        return value

    def text(self, table: tuple, data: dict, key: str, limit: int, one_line=False) -> str:
        """Words shown as they are: bounded, nothing a terminal acts on; one_line: the summary."""
        value = self.string(table, data, key, None if one_line else "", required=one_line)
        if bad := UNSHOWABLE.search(value) or (one_line and re.search("[\n\t]", value)):
            self.fail(
                table,
                key,
                f"{key} has a control character (U+{ord(bad[0]):04X}) at "
                f"character {bad.start() + 1}: expected plain text"
                f"{' on one line' if one_line else ''}",
            )
        if len(value) > limit:
            self.fail(table, key, f"{key} is {len(value)} characters long: at most {limit}")
        return value

    def name(self, table: tuple, data: dict, key: str) -> str:
        value = self.string(table, data, key, required=True)
        if not NAME.match(value) or value in RESERVED_NAMES:
            self.fail(
                table,
                key,
                f"{key} = {_shown(value)}: expected 1 to 24 lower-case "
                'letters, digits and dashes, like "my-echo" (but not '
                f"{', '.join(RESERVED_NAMES)})",
            )
        return value

    def number(
        self,
        table: tuple,
        data: dict,
        key: str,
        default,
        low=0,
        high=C_INT[1],
        kind: type | tuple = int,
    ):
        """A whole number, or with ``kind`` (int, float) seconds, from low to high (NaN
        fails every comparison, so it is refused too)."""
        value = data.get(key, default)
        if isinstance(value, bool) or not isinstance(value, kind) or not low <= value <= high:
            what = "whole number" if kind is int else "number of seconds"
            self.fail(
                table,
                key,
                f"{key} must be a {what} from {low} to {high}, "
                + ("not given" if value is None else f"not {_shown(value)}"),
            )
        return value

    def choice(self, table: tuple, data: dict, key: str, choices, default=None):
        value = self.string(table, data, key, default, required=default is None)
        if value not in choices:
            self.fail(
                table,
                key,
                f"{key} = {_shown(value)}: expected one of {', '.join(map(str, choices))}",
            )
        return value

    def only_keys(self, table: tuple, data: dict, allowed) -> None:
        for key in data:
            if key not in allowed:
                self.fail(
                    table,
                    key,
                    f"unknown key {_shown(key)} in {_name(table)} (expected "
                    f"one of: {', '.join(sorted(allowed))})",
                )

    def families(self, table: tuple, data: dict, key: str, default) -> tuple[str, ...]:
        value = data.get(key, default)
        if (
            not isinstance(value, list)
            or (key == "families" and not value)
            or any(not isinstance(f, str) or f not in FAMILIES for f in value)
        ):
            self.fail(
                table, key, f"{key} must be a list of {', '.join(FAMILIES)}, not {_shown(value)}"
            )
        return tuple(value)

    def at_most(self, kind: str, count: int) -> None:
        if count > MAX_TABLES.get(kind, count):
            self.fail(
                (kind, MAX_TABLES[kind]),
                None,
                f"{count} [[{kind}]] tables: at most {MAX_TABLES[kind]} (a scenario has dozens)",
            )

    def tables(self, data: dict, kind: str) -> list:
        """The [[kind]] tables; [[exchange]] may be left out, the others may not."""
        tables = data.get(kind, [] if kind == "exchange" else None)
        if not isinstance(tables, list) or (not tables and kind != "exchange"):
            self.fail(
                (),
                None,
                f"no [[{kind}]] tables: "
                + (
                    "name each socket the steps use"
                    if kind == "socket"
                    else "list the calls in the order they run"
                ),
            )
        self.at_most(kind, len(tables))
        for index, table in enumerate(tables):
            if not isinstance(table, dict):
                self.fail((kind, index), None, f"{_name((kind, index))} must be a table")
        return tables


def _name(table: tuple) -> str:
    if len(table) < 2:
        return f"[{table[0]}]" if table else "the file's top level"
    return f"[[{table[0]}]] number {table[1] + 1}"


def load(path: str | Path) -> Scenario:
    """Read and check a scenario file; :class:`ScenarioFileError` if it cannot run."""
    path = str(path)
    raw = _read(path)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ScenarioFileError(
            path, raw.count(b"\n", 0, exc.start) + 1, f"not UTF-8 text ({exc.reason})"
        ) from None
    return loads(text, path)


def _read(path: str) -> bytes:
    """The file's bytes, at most :data:`MAX_FILE_BYTES` of them, from a regular file only
    (``--scenario /dev/zero`` would read until memory ran out, a FIFO hold the start until
    someone wrote to it): see :func:`sockviz.engine.record.user_files.read_bounded`."""
    from sockviz.engine.record.user_files import NotReadable, read_bounded

    try:
        return read_bounded(path, MAX_FILE_BYTES, "scenario file")
    except NotReadable as exc:
        raise ScenarioFileError(path, None, str(exc)) from None
    except (OSError, ValueError) as exc:  # (ValueError: a NUL in the path)
        raise ScenarioFileError(
            path, None, f"cannot read it: {getattr(exc, 'strerror', None) or exc}"
        ) from None


def loads(text: str, path: str = "<scenario>") -> Scenario:
    """A scenario from the text of a file (``path`` names it in errors)."""
    read = _Reader(path, _Lines(text))
    for kind, count in read.lines.counts.items():  # before tomllib, which takes its time
        read.at_most(kind, count)
    data = _parse(text, path)
    read.only_keys((), data, {"scenario", "socket", "step", "exchange", "link"})
    head = data.get("scenario")
    if not isinstance(head, dict):
        read.fail((), None, "no [scenario] table: it needs at least name and summary")
    table = ("scenario",)
    read.only_keys(table, head, SCENARIO_KEYS)
    name = read.name(table, head, "name")
    summary = read.text(table, head, "summary", MAX_SUMMARY, one_line=True)
    families = read.families(table, head, "families", ["ipv4", "ipv6"])

    sockets = _sockets(read, read.tables(data, "socket"))
    steps = _steps(read, read.tables(data, "step"), "step", sockets)
    exchange = _steps(read, read.tables(data, "exchange"), "exchange", sockets, exchange=True)
    exchange_at = read.number(table, head, "exchange_at", None, high=len(steps)) if exchange else 0
    scenario = Scenario(
        name=name,
        summary=summary,
        about=read.text(table, head, "about", MAX_TEXT),
        families=families,
        sockets=tuple(sockets.values()),
        steps=steps,
        exchange=exchange,
        exchange_at=exchange_at,
        link=link_table(read, data, families),
    )
    _check_order(read, scenario)
    return scenario


def _parse(text: str, path: str) -> dict:
    """``tomllib.loads``, with each way it can fail turned into one line about the file."""
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        line, message = None, str(exc)
        found = re.search(r"\(at line (\d+), column (\d+)\)", message)
        if found:
            line = int(found.group(1))
            message = message[: found.start()].strip()
        raise ScenarioFileError(path, line, f"not valid TOML: {message}") from None
    except RecursionError:  # tomllib recurses per level; the line: MAX_DEPTH [ { unclosed
        found = re.search(r"(?:[\[{][^\[\]{}]*){" + str(MAX_DEPTH) + "}", text)
        message = f"arrays or inline tables nested too deep: at most {MAX_DEPTH} levels"
    except ValueError:  # int() refuses more than sys.get_int_max_str_digits() digits
        found = re.search(r"[0-9_]{1000,}", text)
        message = "a number with thousands of digits: expected one that fits its call"
    line = text.count("\n", 0, found.end()) + 1 if found else None
    raise ScenarioFileError(path, line, message)


def _sockets(read: _Reader, tables: list) -> dict[str, SocketSpec]:
    specs: dict[str, SocketSpec] = {}
    for index, data in enumerate(tables):
        table = ("socket", index)
        read.only_keys(table, data, SOCKET_KEYS)
        name = read.name(table, data, "name")
        if name in specs:
            read.fail(table, "name", f"a socket called {name!r} is already declared")
        role = Role(read.choice(table, data, "role", [r.value for r in Role]))
        kind = read.choice(table, data, "type", ["stream", "datagram"], "stream")
        transport = Transport.STREAM if kind == "stream" else Transport.DGRAM
        if role in (Role.LISTENER, Role.CONNECTION) and transport is not Transport.STREAM:
            read.fail(table, "type", f'a {role.value} is a TCP socket: type = "stream"')
        specs[name] = SocketSpec(name, role, transport)
    return specs


def _steps(
    read: _Reader, tables: list, kind: str, sockets: dict[str, SocketSpec], exchange: bool = False
) -> tuple[Step, ...]:
    steps = []
    names, calls = list(sockets), [c.value for c in Call]
    for index, data in enumerate(tables):
        table = (kind, index)
        call = Call(read.choice(table, data, "call", calls))
        read.only_keys(table, data, STEP_KEYS | set(CALL_KEYS[call]))
        name = read.choice(table, data, "socket", names)
        actor = read.choice(
            table,
            data,
            "actor",
            ["server", "client"],
            "client" if sockets[name].role is Role.CLIENT else "server",
        )
        only = read.families(table, data, "only", [])
        timeout = float(read.number(table, data, "timeout", 10.0, *TIMEOUT, (int, float)))
        expect, expect_error = expectation(read, table, data.get("expect"), MAX_RECV)
        args, wait = _arguments(read, table, data, call, sockets, exchange)
        steps.append(
            Step(
                actor,
                name,
                call,
                args,
                explain=read.text(table, data, "explain", MAX_TEXT),
                expect_error=expect_error,
                timeout=timeout,
                only=only,
                wait=wait,
                expect=expect,
            )
        )
    return tuple(steps)


def _option_value(read: _Reader, table: tuple, data: dict, option: str):
    """setsockopt's value: a C int, or SO_LINGER's struct linger as [on, seconds], checked
    here because ``struct.pack`` or the call would otherwise refuse it in the middle of a run."""
    value = data.get("value")
    if option != "SO_LINGER":
        return read.number(table, data, "value", None, *C_INT)
    if not (
        isinstance(value, list)
        and len(value) == 2
        and all(isinstance(v, int) and not isinstance(v, bool) for v in value)
        and value[0] in (0, 1)
        and 0 <= value[1] <= MAX_LINGER
    ):
        read.fail(
            table,
            "value",
            f"SO_LINGER takes value = [on, seconds]: on 0 or 1, "
            f"seconds 0 to {MAX_LINGER}; not {_shown(value)}",
        )
    return tuple(value)


def _arguments(
    read: _Reader,
    table: tuple,
    data: dict,
    call: Call,
    sockets: dict[str, SocketSpec],
    exchange: bool,
) -> tuple[tuple, bool]:
    """The step's ``args`` (markers where values are known only at run time), and wait."""
    wait = True

    def socket_ref(key: str, default: str, extra: tuple = ()) -> object:
        target = read.choice(
            table,
            data,
            key,
            [*sockets, *extra],
            default if default in sockets or default in extra else None,
        )
        return {
            "server": SERVER_ADDRESS,
            "last-peer": LAST_PEER,
            "own": OWN_ADDRESS,
            "loopback": BIND_ADDRESS,
        }.get(target) or AddressOf(target)

    if call is Call.SETSOCKOPT:
        option = read.string(table, data, "option", required=True)
        if not option.startswith(("SO_", "TCP_")) or not hasattr(socket_module, option):
            read.fail(
                table,
                "option",
                f"option = {_shown(option)}: expected a socket option "
                'here, like "SO_REUSEADDR" or "TCP_NODELAY"',
            )
        level = read.choice(
            table,
            data,
            "level",
            ["SOL_SOCKET", "IPPROTO_TCP"],
            "IPPROTO_TCP" if option.startswith("TCP_") else "SOL_SOCKET",
        )
        return (level, option, _option_value(read, table, data, option)), wait
    if call is Call.BIND:
        return (socket_ref("address", "loopback", ("loopback", "own")),), wait
    if call is Call.LISTEN:
        return (read.number(table, data, "backlog", 5, high=MAX_BACKLOG),), wait
    if call is Call.ACCEPT:
        new = read.string(table, data, "new", required=True)
        if new not in sockets or sockets[new].role is not Role.CONNECTION:
            read.fail(
                table,
                "new",
                f'new = {_shown(new)}: expected a socket declared with role = "connection"',
            )
        return (new,), wait
    if call is Call.CONNECT:
        wait = data.get("wait", True)
        if not isinstance(wait, bool):
            read.fail(table, "wait", f"wait must be true or false, not {_shown(wait)}")
        return (socket_ref("to", "server"),), wait
    if call in (Call.SEND, Call.SENDALL, Call.SENDTO):
        given = [k for k in ("data", "echo", "message") if k in data]
        if len(given) != 1:
            read.fail(
                table,
                None,
                f"{_name(table)} ({call.value}) needs one of data = "
                '"text", echo = true or message = true',
            )
        if given == ["data"]:
            payload = read.string(table, data, "data").encode("utf-8")
        elif data[given[0]] is not True:
            read.fail(table, given[0], f"{given[0]} must be true")
        elif given == ["message"] and not exchange:
            read.fail(table, "message", "message = true belongs in an [[exchange]] step")
        else:
            payload = ECHO if given == ["echo"] else MESSAGE
        if call is Call.SENDTO:
            return (payload, socket_ref("to", "server", ("last-peer",))), wait
        return (payload,), wait
    if call in (Call.RECV, Call.RECVFROM):
        return (read.number(table, data, "size", 1024, low=1, high=MAX_RECV),), wait
    if call is Call.SHUTDOWN:
        return (
            read.choice(table, data, "how", ["SHUT_WR", "SHUT_RD", "SHUT_RDWR"], "SHUT_WR"),
        ), wait
    return (), wait


def _check_order(read: _Reader, scenario: Scenario) -> None:
    """Walk the steps through the lifecycle table once a family (not once per prefix, which
    took 13 s for 3,000 steps): the first that cannot come where it is gets its line."""
    for family in scenario.families:
        kept = [i for i, s in enumerate(scenario.steps) if not s.only or family in s.only]
        try:
            scenario._walk(tuple(scenario.steps[i] for i in kept))
        except (ValueError, IllegalTransition) as exc:
            index = kept[exc.step_index]
            step = scenario.steps[index]
            reason = str(exc).split("): ", 1)[-1]
            read.fail(
                ("step", index),
                None,
                f"{step.socket}.{step.call.value}() cannot "
                f"come here{f' on {family}' if len(scenario.families) > 1 else ''}: "
                f"{reason}",
            )
        try:
            scenario._validate_family(family)
        except (ValueError, IllegalTransition) as exc:
            read.fail(("scenario",), "exchange_at", f"the exchange does not fit: {exc}")
