"""Scenarios written as TOML files: ``sockviz --scenario path/to/file.toml``.

A file names its sockets and lists their calls in the one order they always run::

    [scenario]
    name = "my-echo"                  # letters, digits and dashes
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

Every problem is reported as :class:`ScenarioFileError`, naming the file, the line and what
was expected there. Standard library only (``tomllib``).
"""

from __future__ import annotations

import errno
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

from sockviz.engine.families import FAMILIES
from sockviz.engine.scenarios.model import (
    BIND_ADDRESS,
    ECHO,
    LAST_PEER,
    MESSAGE,
    OWN_ADDRESS,
    SERVER_ADDRESS,
    AddressOf,
    Expect,
    Scenario,
    SocketSpec,
    Step,
)
from sockviz.engine.states import Call, IllegalTransition, Role, State, Transport

#: The keys each call takes besides the common ones, with what they mean.
CALL_KEYS: dict[Call, dict[str, str]] = {
    Call.SOCKET: {},
    Call.SETSOCKOPT: {"option": "an option name, e.g. \"SO_REUSEADDR\"",
                      "value": "an integer, or [on, seconds] for SO_LINGER",
                      "level": "\"SOL_SOCKET\" (default) or \"IPPROTO_TCP\""},
    Call.BIND: {"address": "\"loopback\" (default), \"own\", or a socket whose address to take"},
    Call.LISTEN: {"backlog": "an integer (default 5)"},
    Call.ACCEPT: {"new": "the connection socket it returns (declared with role "
                         "\"connection\")"},
    Call.CONNECT: {"to": "the socket to connect to (default \"server\")",
                   "wait": "true (default) or false: a non-blocking connect"},
    Call.SEND: {"data": "the text to send", "echo": "true: the bytes just received",
                "message": "true (exchange only): the message the user typed"},
    Call.RECV: {"size": "the most bytes to take (default 1024)"},
    Call.SENDTO: {"data": "the text to send", "echo": "true: the bytes just received",
                  "message": "true (exchange only): the message the user typed",
                  "to": "the socket to send to, or \"last-peer\" (default \"server\")"},
    Call.RECVFROM: {"size": "the most bytes to take (default 1024)"},
    Call.SHUTDOWN: {"how": "\"SHUT_WR\" (default), \"SHUT_RD\" or \"SHUT_RDWR\""},
    Call.CLOSE: {},
}
CALL_KEYS[Call.SENDALL] = CALL_KEYS[Call.SEND]

STEP_KEYS = {"socket", "call", "actor", "explain", "only", "timeout", "expect"}
EXPECT_KEYS = {"state": "a lifecycle state", "error": "an errno name, e.g. \"ECONNREFUSED\"",
               "bytes": "how many bytes the call moves", "kernel": "a TCP state, e.g. "
               "\"FIN_WAIT2\""}
SCENARIO_KEYS = {"name", "summary", "about", "families", "exchange_at"}
SOCKET_KEYS = {"name", "role", "type"}
KERNEL_STATES = ("LISTEN", "SYN_SENT", "SYN_RECV", "ESTABLISHED", "FIN_WAIT1", "FIN_WAIT2",
                 "CLOSE_WAIT", "CLOSING", "LAST_ACK", "TIME_WAIT", "CLOSE")
NAME = re.compile(r"[a-z0-9][a-z0-9-]*\Z")


class ScenarioFileError(ValueError):
    """A scenario file that cannot be run: where, and what was expected."""

    def __init__(self, path: str, line: int | None, message: str) -> None:
        super().__init__(message)
        self.path, self.line, self.message = path, line, message

    def __str__(self) -> str:
        where = f"{self.path}, line {self.line}" if self.line else self.path
        return f"{where}: {self.message}"


class _Lines:
    """Where each table and key of the file is (``tomllib`` keeps no positions)."""

    HEADER = re.compile(r"\s*(\[\[?)\s*([A-Za-z0-9_.\-]+)\s*\]\]?")
    KEY = re.compile(r"\s*([A-Za-z0-9_\-]+)\s*=")

    def __init__(self, text: str) -> None:
        self.tables: dict[tuple, int] = {}
        self.keys: dict[tuple, int] = {}
        counts: dict[str, int] = {}
        table: tuple = ()
        in_string = False
        for number, line in enumerate(text.splitlines(), start=1):
            quotes = line.count('"""') + line.count("'''")
            if in_string:
                in_string = quotes % 2 == 0
                continue
            if quotes % 2:
                in_string = True
            header = self.HEADER.match(line)
            if header and not in_string:
                name = header.group(2)
                if header.group(1) == "[[":
                    counts[name] = counts.get(name, -1) + 1
                    table = (name, counts[name])
                elif "." in name:  # [step.expect]: a part of the latest [[step]]
                    head, _, rest = name.partition(".")
                    table = (head, counts.get(head, 0), rest)
                else:
                    table = (name,)
                self.tables.setdefault(table, number)
                continue
            key = self.KEY.match(line)
            if key:
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
            self.fail(table, None, f"{_name(table)} needs {key} = \"...\"")
        if value is not None and not isinstance(value, str):
            self.fail(table, key, f"{key} must be a string in quotes, not {value!r}")
        return value

    def integer(self, table: tuple, data: dict, key: str, default: int, low: int = 0):
        value = data.get(key, default)
        if not isinstance(value, int) or isinstance(value, bool) or value < low:
            self.fail(table, key, f"{key} must be a whole number of at least {low}, "
                                  f"not {value!r}")
        return value

    def choice(self, table: tuple, data: dict, key: str, choices, default=None):
        value = self.string(table, data, key, default, required=default is None)
        if value not in choices:
            self.fail(table, key, f"{key} = {value!r}: expected one of "
                                  f"{', '.join(map(str, choices))}")
        return value

    def only_keys(self, table: tuple, data: dict, allowed) -> None:
        for key in data:
            if key not in allowed:
                self.fail(table, key, f"unknown key {key!r} in {_name(table)} (expected one "
                                      f"of: {', '.join(sorted(allowed))})")


def _name(table: tuple) -> str:
    if len(table) == 1:
        return f"[{table[0]}]"
    return f"[[{table[0]}]] number {table[1] + 1}"


def load(path: str | Path) -> Scenario:
    """Read and check a scenario file; :class:`ScenarioFileError` if it cannot run."""
    path = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ScenarioFileError(path, None, f"cannot read it: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise ScenarioFileError(path, None, f"not UTF-8 text ({exc.reason})") from None
    return loads(text, path)


def loads(text: str, path: str = "<scenario>") -> Scenario:
    """A scenario from the text of a file (``path`` names it in errors)."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        line = getattr(exc, "lineno", None)
        message = str(exc)
        found = re.search(r"\(at line (\d+), column (\d+)\)", message)
        if found:
            line = int(found.group(1))
            message = message[: found.start()].strip()
        raise ScenarioFileError(path, line, f"not valid TOML: {message}") from None
    read = _Reader(path, _Lines(text))
    read.only_keys((), data, {"scenario", "socket", "step", "exchange"})
    head = data.get("scenario")
    if not isinstance(head, dict):
        read.fail((), None, "no [scenario] table: it needs at least name and summary")
    table = ("scenario",)
    read.only_keys(table, head, SCENARIO_KEYS)
    name = read.string(table, head, "name", required=True)
    if not NAME.match(name):
        read.fail(table, "name", f"name = {name!r}: expected lower-case letters, digits and "
                                 "dashes, like \"my-echo\"")
    summary = read.string(table, head, "summary", required=True)
    families = head.get("families", ["ipv4", "ipv6"])
    if not isinstance(families, list) or not families or \
            any(f not in FAMILIES for f in families):
        read.fail(table, "families", f"families must be a list of {', '.join(FAMILIES)}, "
                                     f"not {families!r}")

    sockets = _sockets(read, data.get("socket"))
    roles = {spec.name: spec for spec in sockets}
    steps = _steps(read, data.get("step"), "step", roles)
    exchange = _steps(read, data.get("exchange", []), "exchange", roles, exchange=True)
    exchange_at = 0
    if exchange:
        exchange_at = read.integer(table, head, "exchange_at", -1)
        if exchange_at > len(steps):
            read.fail(table, "exchange_at", f"exchange_at = {exchange_at}: there are only "
                                            f"{len(steps)} steps")
    scenario = Scenario(
        name=name, summary=summary, about=read.string(table, head, "about", "") or "",
        families=tuple(families), sockets=sockets, steps=steps, exchange=exchange,
        exchange_at=exchange_at,
    )
    _check_order(read, scenario)
    return scenario


def _sockets(read: _Reader, tables) -> tuple[SocketSpec, ...]:
    if not isinstance(tables, list) or not tables:
        read.fail((), None, "no [[socket]] tables: name each socket the steps use")
    specs = []
    for index, data in enumerate(tables):
        table = ("socket", index)
        read.only_keys(table, data, SOCKET_KEYS)
        name = read.string(table, data, "name", required=True)
        if any(spec.name == name for spec in specs):
            read.fail(table, "name", f"a socket called {name!r} is already declared")
        role = Role(read.choice(table, data, "role", [r.value for r in Role]))
        kind = read.choice(table, data, "type", ["stream", "datagram"], "stream")
        transport = Transport.STREAM if kind == "stream" else Transport.DGRAM
        if role in (Role.LISTENER, Role.CONNECTION) and transport is not Transport.STREAM:
            read.fail(table, "type", f"a {role.value} is a TCP socket: type = \"stream\"")
        specs.append(SocketSpec(name, role, transport))
    return tuple(specs)


def _steps(read: _Reader, tables, kind: str, sockets: dict[str, SocketSpec],
           exchange: bool = False) -> tuple[Step, ...]:
    if not isinstance(tables, list) or (not tables and not exchange):
        read.fail((), None, f"no [[{kind}]] tables: list the calls in the order they run")
    steps = []
    for index, data in enumerate(tables):
        table = (kind, index)
        call_name = read.choice(table, data, "call", [c.value for c in Call])
        call = Call(call_name)
        read.only_keys(table, data, STEP_KEYS | set(CALL_KEYS[call]))
        name = read.choice(table, data, "socket", list(sockets))
        spec = sockets[name]
        actor = read.choice(table, data, "actor", ["server", "client"],
                            "client" if spec.role is Role.CLIENT else "server")
        only = data.get("only", [])
        if not isinstance(only, list) or any(f not in FAMILIES for f in only):
            read.fail(table, "only", f"only must be a list of {', '.join(FAMILIES)}")
        timeout = data.get("timeout", 10.0)
        if not isinstance(timeout, int | float) or isinstance(timeout, bool) or timeout <= 0:
            read.fail(table, "timeout", f"timeout must be a number of seconds above 0, "
                                        f"not {timeout!r}")
        expect, expect_error = _expect(read, table, data.get("expect"))
        args, wait = _arguments(read, table, data, call, sockets, exchange)
        steps.append(Step(
            actor, name, call, args,
            explain=read.string(table, data, "explain", "") or "",
            expect_error=expect_error, timeout=float(timeout), only=tuple(only), wait=wait,
            expect=expect,
        ))
    return tuple(steps)


def _expect(read: _Reader, table: tuple, data) -> tuple[Expect | None, str | None]:
    if data is None:
        return None, None
    if not isinstance(data, dict) or not data:
        read.fail(table, "expect", "expect must be a table: { state = \"...\", error = "
                                   "\"...\", bytes = N, kernel = \"...\" }")
    read.only_keys(table, data, EXPECT_KEYS)
    state = data.get("state")
    if state is not None:
        read.choice(table, data, "state", [s.value for s in State])
        state = State(state)
    error = data.get("error")
    if error is not None:
        read.string(table, data, "error")
        if not error.startswith("E") or not hasattr(errno, error):
            read.fail(table, "error", f"error = {error!r}: expected an errno name such as "
                                      "\"ECONNREFUSED\" or \"EADDRINUSE\"")
    nbytes = data.get("bytes")
    if nbytes is not None:
        nbytes = read.integer(table, data, "bytes", 0)
    kernel = data.get("kernel")
    if kernel is not None:
        read.choice(table, data, "kernel", KERNEL_STATES)
    return Expect(state=state, error=error, nbytes=nbytes, kernel=kernel), error


def _arguments(read: _Reader, table: tuple, data: dict, call: Call,
               sockets: dict[str, SocketSpec], exchange: bool) -> tuple[tuple, bool]:
    """The step's ``args`` (markers where values are known only at run time), and wait."""
    wait = True

    def socket_ref(key: str, default: str, extra: tuple = ()) -> object:
        target = read.choice(table, data, key, [*sockets, *extra], default
                             if default in sockets or default in extra else None)
        if target == "server":
            return SERVER_ADDRESS
        if target == "last-peer":
            return LAST_PEER
        if target == "own":
            return OWN_ADDRESS
        if target == "loopback":
            return BIND_ADDRESS
        return AddressOf(target)

    if call is Call.SETSOCKOPT:
        import socket as socket_module

        option = read.string(table, data, "option", required=True)
        if not option.startswith(("SO_", "TCP_")) or not hasattr(socket_module, option):
            read.fail(table, "option", f"option = {option!r}: expected a socket option this "
                                       "system has, like \"SO_REUSEADDR\" or \"TCP_NODELAY\"")
        level = read.choice(table, data, "level", ["SOL_SOCKET", "IPPROTO_TCP"],
                            "IPPROTO_TCP" if option.startswith("TCP_") else "SOL_SOCKET")
        value = data.get("value")
        if isinstance(value, list) and len(value) == 2 and all(
                isinstance(v, int) and not isinstance(v, bool) for v in value):
            value = tuple(value)
        elif isinstance(value, bool) or not isinstance(value, int):
            read.fail(table, "value", "value must be an integer (1 turns an option on), or "
                                      f"[on, seconds] for SO_LINGER; not {value!r}")
        return (level, option, value), wait
    if call is Call.BIND:
        return (socket_ref("address", "loopback", ("loopback", "own")),), wait
    if call is Call.LISTEN:
        return (read.integer(table, data, "backlog", 5),), wait
    if call is Call.ACCEPT:
        new = read.string(table, data, "new", required=True)
        if new not in sockets or sockets[new].role is not Role.CONNECTION:
            read.fail(table, "new", f"new = {new!r}: expected a socket declared with role = "
                                    "\"connection\"")
        return (new,), wait
    if call is Call.CONNECT:
        wait = data.get("wait", True)
        if not isinstance(wait, bool):
            read.fail(table, "wait", f"wait must be true or false, not {wait!r}")
        return (socket_ref("to", "server"),), wait
    if call in (Call.SEND, Call.SENDALL, Call.SENDTO):
        given = [k for k in ("data", "echo", "message") if k in data]
        if len(given) != 1:
            read.fail(table, None, f"{_name(table)} ({call.value}) needs one of data = "
                                   "\"text\", echo = true or message = true")
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
        return (read.integer(table, data, "size", 1024, low=1),), wait
    if call is Call.SHUTDOWN:
        return (read.choice(table, data, "how", ["SHUT_WR", "SHUT_RD", "SHUT_RDWR"],
                            "SHUT_WR"),), wait
    return (), wait


def _check_order(read: _Reader, scenario: Scenario) -> None:
    """Walk the steps through the lifecycle table, for each family: the first step that
    cannot come where it is gets its own line and the reason."""
    for family in scenario.families:
        kept = [i for i, s in enumerate(scenario.steps) if not s.only or family in s.only]
        for count in range(1, len(kept) + 1):
            try:
                scenario._walk(tuple(scenario.steps[i] for i in kept[:count]))
            except (ValueError, IllegalTransition) as exc:
                index = kept[count - 1]
                step = scenario.steps[index]
                reason = str(exc).split("): ", 1)[-1]
                read.fail(("step", index), None, f"{step.socket}.{step.call.value}() cannot "
                          f"come here{f' on {family}' if len(scenario.families) > 1 else ''}: "
                          f"{reason}")
        try:
            scenario._validate_family(family)
        except (ValueError, IllegalTransition) as exc:
            read.fail(("scenario",), "exchange_at", f"the exchange does not fit: {exc}")
