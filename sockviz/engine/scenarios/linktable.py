"""A scenario file's ``[link]`` table: two hosts, and what the link between them does.

    [link]
    delay = "50ms"        # the keys --link takes: delay, jitter, rate, loss, seed
    drop = ["syn"]        # the faults --drop takes: syn, syn-ack, ack, data, fin (:N)
    hold = true           # in step mode, each segment waits for a key to cross

Read by :mod:`sockviz.engine.scenarios.files` (its reader reports a bad value with the
file's line). Standard library only.
"""

from __future__ import annotations

from sockviz.engine.scenarios.shown import shown as _shown

LINK_KEYS = {"delay": "50ms", "jitter": "5ms", "rate": "1mbit", "loss": "2%", "seed": 7}


def link_table(read, data: dict, families: tuple[str, ...]):
    """The ``[link]`` table: two hosts and what the link between them does, with the keys
    ``--link`` takes (``delay = "50ms"``), ``drop = ["syn"]`` and ``hold = true``."""
    if "link" not in data:
        return None
    from sockviz.engine.link import LinkSpec

    table, head = ("link",), data["link"]
    if not isinstance(head, dict):
        read.fail((), "link", "[link] must be a table")
    read.only_keys(table, head, {*LINK_KEYS, "drop", "hold"})
    if "unix" in families:
        read.fail(("scenario",), "families", "a scenario with a [link] runs on two hosts: "
                  "families may be ipv4 and ipv6, not unix")
    parts = []
    for key, example in LINK_KEYS.items():
        if key in head:
            value = head[key]
            if key == "seed" and type(value) is not int or key != "seed" and (
                    not isinstance(value, str)):
                read.fail(table, key, f"{key} must look like {key} = {example!r}, not "
                          f"{_shown(value)}")
            parts.append(f"{key}={value}")
    drops = head.get("drop", [])
    if isinstance(drops, str):
        drops = [drops]
    if not isinstance(drops, list) or not all(isinstance(d, str) for d in drops) \
            or len(drops) > 16:
        read.fail(table, "drop", "drop must be a list of up to 16 faults such as "
                  "[\"syn\", \"data:2\"]")
    hold = head.get("hold", False)
    if not isinstance(hold, bool):
        read.fail(table, "hold", f"hold must be true or false, not {_shown(hold)}")
    settings = ",".join(parts)
    try:
        LinkSpec.parse(settings, tuple(drops))
    except ValueError as exc:
        key = next((k for k in (*LINK_KEYS, "drop") if f"{k}=" in str(exc)
                    or k == "drop" and "--drop" in str(exc)), None)
        read.fail(table, key, str(exc).replace("--link ", "").replace("--drop ", "drop "))
    return (settings, tuple(drops), hold)
