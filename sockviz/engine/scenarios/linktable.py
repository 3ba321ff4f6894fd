"""A scenario file's ``[link]`` table: two hosts, and what the link between them does.

    [link]
    delay = "50ms"        # the keys --link takes: delay, jitter, rate, loss, seed, mtu
    drop = ["syn"]        # the faults --drop takes: syn, syn-ack, ack, data, fin (:N)
    hold = true           # in step mode, each segment waits for a key to cross

Read by :mod:`sockviz.engine.scenarios.scenario_files` (its reader reports a bad value with the
file's line). :func:`merge_link` lays the command line's ``--link``/``--drop``/``--hold``
over such a table key by key, so ``--drop data:5`` on a scenario whose link is 20 ms long
keeps the 20 ms. Standard library only.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sockviz.engine.scenarios.quoted_values import shown as _shown

if TYPE_CHECKING:  # (the reader comes with a scenario file, read on first use: not at start)
    from sockviz.engine.scenarios.scenario_reader import TableReader, TomlTable

#: A run's link: (settings as ``--link`` takes them, the drops, hold).
LinkPlan = tuple[str, tuple[str, ...], bool]

LINK_KEYS = {
    "delay": "50ms",
    "jitter": "5ms",
    "rate": "1mbit",
    "loss": "2%",
    "seed": 7,
    "mtu": 1280,
    "pmtu": 1280,
    "queue": 20,
}
#: The keys whose value is a whole number, not a string with a unit.
WHOLE = ("seed", "mtu", "pmtu", "queue")


def link_table(read: TableReader, data: TomlTable, families: tuple[str, ...]) -> LinkPlan | None:
    """The ``[link]`` table: two hosts and what the link between them does, with the keys
    ``--link`` takes (``delay = "50ms"``), ``drop = ["syn"]`` and ``hold = true``."""
    if "link" not in data:
        return None
    from sockviz.engine.lab.link_spec import LinkSpec  # (read on first use: for a [link] only)

    table, head = ("link",), data["link"]
    if not isinstance(head, dict):
        read.fail((), "link", "[link] must be a table")
    read.only_keys(table, head, {*LINK_KEYS, "drop", "hold"})
    if "unix" in families:
        read.fail(
            ("scenario",),
            "families",
            "a scenario with a [link] runs on two hosts: families may be ipv4 and ipv6, not unix",
        )
    parts = []
    for key, example in LINK_KEYS.items():
        if key in head:
            value = head[key]
            if (key in WHOLE and type(value) is not int) or (
                key not in WHOLE and (not isinstance(value, str))
            ):
                read.fail(
                    table, key, f"{key} must look like {key} = {example!r}, not {_shown(value)}"
                )
            parts.append(f"{key}={value}")
    drops = head.get("drop", [])
    if isinstance(drops, str):
        drops = [drops]
    if not isinstance(drops, list) or not all(isinstance(d, str) for d in drops) or len(drops) > 16:
        read.fail(table, "drop", 'drop must be a list of up to 16 faults such as ["syn", "data:2"]')
    hold = head.get("hold", False)
    if not isinstance(hold, bool):
        read.fail(table, "hold", f"hold must be true or false, not {_shown(hold)}")
    settings = ",".join(parts)
    try:
        LinkSpec.parse(settings, tuple(drops))
    except ValueError as exc:
        bad = next(
            (
                k
                for k in (*LINK_KEYS, "drop")
                if f"{k}=" in str(exc) or (k == "drop" and "--drop" in str(exc))
            ),
            None,
        )
        read.fail(table, bad, str(exc).replace("--link ", "").replace("--drop ", "drop "))
    return (settings, tuple(drops), hold)


def _keys(settings: str) -> dict[str, str]:
    """``delay=20ms,loss=2%`` as {key: part}, in order (a key given twice: the last)."""
    keys: dict[str, str] = {}
    for part in filter(None, (p.strip() for p in settings.split(","))):
        keys[part.partition("=")[0].strip().lower()] = part
    return keys


def merge_link(command: LinkPlan | None, scenario: LinkPlan | None) -> LinkPlan | None:
    """The run's link, (settings, drops, hold): the scenario's ``[link]`` with what the
    command line gave laid over it key by key - each ``--link`` key replaces the same key
    (``delay``, ``loss`` ...) and keeps the others, ``--drop`` replaces the list of drops,
    ``--hold`` turns holding on. ``command`` holds only what was given ("" and () for what
    was not); None for either: the other as it is (both None: loopback)."""
    if command is None or scenario is None:
        return command if scenario is None else scenario
    settings, drops, hold = command
    keys = {**_keys(scenario[0]), **_keys(settings)}
    return (",".join(keys.values()), tuple(drops) or tuple(scenario[1]), bool(hold or scenario[2]))
