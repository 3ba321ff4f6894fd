"""A packet line's SACK blocks and a packets line's graph points, checked.

Why apart from :mod:`sockviz.engine.record.wire_line_checks`: these two keys are the only
nested values of a wire line (lists of lists), read for the time-sequence graph; each
element is checked by :mod:`sockviz.engine.record.field_checks`'s rules under a name that
says where it sits (``points[3].seq_rel``). Standard library only.
"""

from __future__ import annotations

from sockviz.engine.events import Point
from sockviz.engine.record.field_checks import Record, fail, integer, seconds

U32 = (1 << 32) - 1
#: A segment carries at most four SACK blocks (40 bytes of options, 8 a block).
MAX_BLOCKS = 4
#: A sum's points: :data:`~sockviz.engine.wire.point_sampler.LIMIT` spread, as many marked,
#: the last - and room to spare.
MAX_POINTS = 2000
_POINT = ("t", "seq_rel", "nbytes", "ack_rel", "window", "resent", "sack")


def sack(value: object, key: str = "sack") -> tuple[tuple[int, int], ...] | None:
    """SACK blocks: null, or ``[[left, right], ...]``, one to four, each edge a u32."""
    if value is None:
        return None
    if not isinstance(value, list) or not 1 <= len(value) <= MAX_BLOCKS:
        raise fail(key, value, f"null or a list of 1 to {MAX_BLOCKS} [left, right] edges")
    out = []
    for i, block in enumerate(value):
        if not isinstance(block, list) or len(block) != 2:
            raise fail(f"{key}[{i}]", block, "[left, right]: two sequence numbers")
        left, right = f"{key}[{i}].left", f"{key}[{i}].right"
        edges = {left: block[0], right: block[1]}
        out.append((integer(edges, left, U32), integer(edges, right, U32)))
    return tuple(out)


def points(record: Record) -> tuple[Point, ...] | None:
    """A packets line's ``points`` (absent or null: none)."""
    value = record.get("points")
    if value is None:
        return None
    if not isinstance(value, list) or len(value) > MAX_POINTS:
        raise fail("points", value, f"null or a list of at most {MAX_POINTS} points")
    out = []
    for i, item in enumerate(value):
        if not isinstance(item, list) or len(item) != len(_POINT):
            raise fail(f"points[{i}]", item, "[t, seq_rel, nbytes, ack_rel, window, resent, sack]")
        fields = {f"points[{i}].{name}": part for name, part in zip(_POINT, item, strict=True)}
        name = f"points[{i}]."
        resent = fields[name + "resent"]
        if type(resent) is not bool:
            raise fail(name + "resent", resent, "true or false")
        out.append(
            Point(
                seconds(fields, name + "t"),
                integer(fields, name + "seq_rel", U32),
                integer(fields, name + "nbytes", 1 << 20),
                integer(fields, name + "ack_rel", U32, optional=True),
                integer(fields, name + "window", 1 << 32, optional=True),
                resent,
                sack(fields[name + "sack"], name + "sack"),
            )
        )
    return tuple(out)
