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
from pathlib import Path

from sockviz.engine.record.user_files import NotReadable, read_bounded
from sockviz.engine.scenarios.expect_table import EXPECT_KEYS, expectation
from sockviz.engine.scenarios.linktable import link_table
from sockviz.engine.scenarios.quoted_values import shown as _shown
from sockviz.engine.scenarios.scenario_reader import (
    C_INT,
    ScenarioFileError,
    Table,
    TableLines,
    TableReader,
    TomlTable,
    table_name,
)
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
    Call.SETBLOCKING: {},
    Call.SELECT: {
        "read": 'the sockets to wait on for reading, e.g. ["server", "conn-1"]',
        "write": 'the sockets to wait on for writing, e.g. ["client"] (and timeout, the '
        "most seconds it waits: the step's)",
    },
}
CALL_KEYS[Call.SENDALL] = CALL_KEYS[Call.SEND]

STEP_KEYS = {"socket", "call", "actor", "explain", "only", "timeout", "expect", "then"}
SCENARIO_KEYS = {"name", "summary", "about", "families", "exchange_at"}
SOCKET_KEYS = {"name", "role", "type"}

# Far above a classroom scenario (a few KB, dozens of steps), and small enough that checking
# and running any file stays quick and bounded.
MAX_FILE_BYTES = 1 << 20
MAX_SUMMARY, MAX_TEXT = 200, 2000  # characters: the summary; about and each explain
TIMEOUT = (0.001, 3600)  # seconds a step may wait for its peer (poll() counts milliseconds)
MAX_BACKLOG = 65535  # Linux lowers any backlog to net.core.somaxconn: 16 bits for years
MAX_RECV = 64 << 20  # recv(size) allocates size first: above any socket buffer, and bounded
MAX_LINGER = 60  # close() may block that long: the one wait a stopped run cannot cut short
MAX_DEPTH = 32  # nested arrays and inline tables (a scenario uses two levels)

#: What a caller of the files imports from here (the error is the reader's).
__all__ = ["CALL_KEYS", "ScenarioFileError", "load", "loads"]


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
    read = TableReader(path, TableLines(text, EXPECT_KEYS))
    for kind, count in read.lines.counts.items():  # before tomllib, which takes its time
        read.at_most(kind, count)
    data = _parse(text, path)
    read.only_keys((), data, {"scenario", "socket", "step", "exchange", "link"})
    head: object = data.get("scenario")
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


def _parse(text: str, path: str) -> TomlTable:
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


def _sockets(read: TableReader, tables: list[TomlTable]) -> dict[str, SocketSpec]:
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
    read: TableReader,
    tables: list[TomlTable],
    kind: str,
    sockets: dict[str, SocketSpec],
    exchange: bool = False,
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
        timeout = read.seconds(table, data, "timeout", 10.0, *TIMEOUT)
        expect, expect_error = expectation(read, table, data.get("expect"), MAX_RECV)
        args, wait = _arguments(read, table, data, call, sockets, exchange)
        then = data.get("then", False)
        if not isinstance(then, bool):
            read.fail(table, "then", f"then must be true or false, not {_shown(then)}")
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
                then=then,
            )
        )
    return tuple(steps)


_CONGESTION = re.compile(r"[a-z0-9_]{1,15}\Z")


def _option_value(read: TableReader, table: Table, data: TomlTable, option: str) -> object:
    """setsockopt's value: a C int, SO_LINGER's struct linger as [on, seconds], or
    TCP_CONGESTION's name (bytes, as the call takes it), checked
    here because ``struct.pack`` or the call would otherwise refuse it in the middle of a run."""
    value = data.get("value")
    if option == "TCP_CONGESTION":  # (a name, as the kernel lists them: the call says
        if not isinstance(value, str) or not _CONGESTION.match(value):  # if it has it)
            read.fail(
                table,
                "value",
                'TCP_CONGESTION takes a congestion control\'s name, value = "cubic" '
                f"(letters, digits and _, at most 15); not {_shown(value)}",
            )
        return value.encode()
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
    read: TableReader,
    table: Table,
    data: TomlTable,
    call: Call,
    sockets: dict[str, SocketSpec],
    exchange: bool,
) -> tuple[tuple[object, ...], bool]:
    """The step's ``args`` (markers where values are known only at run time), and wait."""
    wait = True

    def socket_ref(key: str, default: str, extra: tuple[str, ...] = ()) -> object:
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
        option = read.required_string(table, data, "option")
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
        new = read.required_string(table, data, "new")
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
                f"{table_name(table)} ({call.value}) needs one of data = "
                '"text", echo = true or message = true',
            )
        if given == ["data"]:
            payload: object = read.string(table, data, "data", "").encode("utf-8")
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
    if call is Call.SETBLOCKING:
        return (False,), wait
    if call is Call.SELECT:
        return _select_args(read, table, data, sockets), wait
    return (), wait


def _select_args(
    read: TableReader, table: Table, data: TomlTable, sockets: dict[str, SocketSpec]
) -> tuple[object, ...]:
    """select()'s read and write lists (socket names of the file, at least one in all) and
    its timeout."""
    lists = []
    for key in ("read", "write"):
        names = data.get(key, [])
        if (
            not isinstance(names, list)
            or not all(isinstance(n, str) and n in sockets for n in names)
            or len(names) > 64
        ):
            read.fail(table, key, f"{key} must list sockets of this file, not {_shown(names)}")
        lists.append(tuple(names))
    if not any(lists):
        read.fail(table, "read", "select needs a socket to wait on: read = [...] or write = [...]")
    seconds = data.get("timeout", 2.0)  # (checked as every step's timeout is)
    return (lists[0], lists[1], float(seconds) if type(seconds) in (int, float) else 2.0)


def _check_order(read: TableReader, scenario: Scenario) -> None:
    """Walk the steps through the lifecycle table once a family (not once per prefix, which
    took 13 s for 3,000 steps): the first that cannot come where it is gets its line."""
    for family in scenario.families:
        kept = [i for i, s in enumerate(scenario.steps) if not s.only or family in s.only]
        try:
            scenario._walk(tuple(scenario.steps[i] for i in kept))
        except (ValueError, IllegalTransition) as exc:
            index = kept[exc.step_index]  # type: ignore[union-attr]  # (Scenario._walk sets it)
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
