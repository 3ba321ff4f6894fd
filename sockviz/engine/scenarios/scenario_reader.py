"""Reading a scenario file's tables as untrusted input: each value checked for its type and
range, each refusal one :class:`ScenarioFileError` naming the file's line.

``tomllib`` keeps no positions, so :class:`TableLines` finds where each table and key is,
and :class:`TableReader` checks values and fails with that line. It is apart from
:mod:`sockviz.engine.scenarios.scenario_files` (which knows what a scenario's tables mean)
because the ``[link]`` and ``expect`` readers use it too, and a reader that knew them would
import them back. Standard library only.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any, NoReturn, overload

from sockviz.engine.families import FAMILIES
from sockviz.engine.record.inert_text import inert
from sockviz.engine.scenarios.quoted_values import shown as _shown

#: Where a table is: ``("scenario",)``, ``("step", 3)``, ``("step", 3, "expect")``.
Table = tuple[str | int, ...]
#: A table as ``tomllib`` gives it: any TOML value under each key, unchecked.
TomlTable = dict[str, Any]

#: Scenario and socket names: they end up in titles, events, recordings and file names.
NAME = re.compile(r"[a-z0-9][a-z0-9-]{0,23}\Z")
#: Words that ``address`` and ``to`` take with a meaning of their own: not socket names.
RESERVED_NAMES = ("loopback", "own", "last-peer")
#: [[tables]] of each kind a file may hold (a scenario has dozens).
MAX_TABLES = {"socket": 64, "step": 1000, "exchange": 1000}
C_INT = (-(1 << 31), (1 << 31) - 1)

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


class TableLines:
    """Where each table and key is (``tomllib`` keeps no positions); how many [[tables]].
    ``expect_keys``: the keys a step's inline ``expect = { ... }`` table may hold, found on
    the step's ``expect`` line."""

    HEADER = re.compile(r"\s*(\[\[?)\s*([A-Za-z0-9_.\-]+)\s*\]\]?")
    KEY = re.compile(r"\s*([A-Za-z0-9_\-]+)\s*=")

    def __init__(self, text: str, expect_keys: Collection[str] = ()) -> None:
        self.expect_keys = expect_keys
        self.tables: dict[Table, int] = {}
        self.keys: dict[Table, int] = {}
        self.counts: dict[str, int] = {}
        table: Table = ()
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

    def of(self, table: Table, key: str | None = None) -> int | None:
        if key is not None:
            inline: tuple[Table, ...] = ((*table, "expect"),) if key in self.expect_keys else ()
            for where in ((*table, key), (*table, "expect", key), *inline):
                if where in self.keys:
                    return self.keys[where]
        return self.tables.get(table)


def table_name(table: Table) -> str:
    """A table as an error names it: ``[scenario]``, ``[[step]] number 4``."""
    if len(table) < 2:
        return f"[{table[0]}]" if table else "the file's top level"
    return f"[[{table[0]}]] number {int(table[1]) + 1}"


@dataclass
class TableReader:
    """Values taken from a file's tables, each checked; the first that is wrong fails with
    its line."""

    path: str
    lines: TableLines

    def fail(self, table: Table, key: str | None, message: str) -> NoReturn:
        raise ScenarioFileError(self.path, self.lines.of(table, key), message)

    @overload
    def string(
        self, table: Table, data: TomlTable, key: str, default: str, required: bool = False
    ) -> str: ...

    @overload
    def string(
        self,
        table: Table,
        data: TomlTable,
        key: str,
        default: None = None,
        required: bool = False,
    ) -> str | None: ...

    def string(
        self,
        table: Table,
        data: TomlTable,
        key: str,
        default: str | None = None,
        required: bool = False,
    ) -> str | None:
        value: object = data.get(key, default)
        if value is None and required:
            self.fail(table, None, f'{table_name(table)} needs {key} = "..."')
        if value is not None and not isinstance(value, str):
            self.fail(table, key, f"{key} must be a string in quotes, not {_shown(value)}")
        return value

    def required_string(self, table: Table, data: TomlTable, key: str) -> str:
        """A string the table must have."""
        value = self.string(table, data, key, required=True)
        assert value is not None  # (string() failed for a missing one)
        return value

    def text(
        self, table: Table, data: TomlTable, key: str, limit: int, one_line: bool = False
    ) -> str:
        """Words shown as they are: bounded, nothing a terminal acts on; one_line: the summary."""
        value = (
            self.required_string(table, data, key)
            if one_line
            else self.string(table, data, key, "")
        )
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

    def name(self, table: Table, data: TomlTable, key: str) -> str:
        value = self.required_string(table, data, key)
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
        table: Table,
        data: TomlTable,
        key: str,
        default: int | None,
        low: int = 0,
        high: int = C_INT[1],
    ) -> int:
        """A whole number from low to high."""
        value: object = data.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            self._out_of_range(table, key, value, "whole number", low, high)
        return value

    def seconds(
        self, table: Table, data: TomlTable, key: str, default: float, low: float, high: float
    ) -> float:
        """A number of seconds (whole or not) from low to high (NaN fails every comparison,
        so it is refused too)."""
        value: object = data.get(key, default)
        if (
            isinstance(value, bool)
            or not isinstance(value, (int, float))
            or not low <= value <= high
        ):
            self._out_of_range(table, key, value, "number of seconds", low, high)
        return float(value)

    def _out_of_range(
        self, table: Table, key: str, value: object, what: str, low: float, high: float
    ) -> NoReturn:
        self.fail(
            table,
            key,
            f"{key} must be a {what} from {low} to {high}, "
            + ("not given" if value is None else f"not {_shown(value)}"),
        )

    def choice(
        self,
        table: Table,
        data: TomlTable,
        key: str,
        choices: Sequence[str],
        default: str | None = None,
    ) -> str:
        value = self.string(table, data, key, default, required=default is None)
        if value is None or value not in choices:
            self.fail(
                table,
                key,
                f"{key} = {_shown(value)}: expected one of {', '.join(map(str, choices))}",
            )
        return value

    def only_keys(self, table: Table, data: TomlTable, allowed: Collection[str]) -> None:
        for key in data:
            if key not in allowed:
                self.fail(
                    table,
                    key,
                    f"unknown key {_shown(key)} in {table_name(table)} (expected "
                    f"one of: {', '.join(sorted(allowed))})",
                )

    def families(
        self, table: Table, data: TomlTable, key: str, default: list[str]
    ) -> tuple[str, ...]:
        value: object = data.get(key, default)
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

    def tables(self, data: TomlTable, kind: str) -> list[TomlTable]:
        """The [[kind]] tables; [[exchange]] may be left out, the others may not."""
        tables: object = data.get(kind, [] if kind == "exchange" else None)
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
                self.fail((kind, index), None, f"{table_name((kind, index))} must be a table")
        return tables
