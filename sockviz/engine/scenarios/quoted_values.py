"""A value from a scenario file as an error message quotes it: short, one line, inert.

Shared by the file's reader (:mod:`~sockviz.engine.scenarios.scenario_files`) and the tables it
hands on (``[link]``, ``expect``). Standard library only.
"""

from __future__ import annotations

import reprlib

from sockviz.engine.record.inert_text import inert

_REPR = reprlib.Repr()
_REPR.maxstring = _REPR.maxother = _REPR.maxlong = 40
_REPR.maxlevel, _REPR.maxlist, _REPR.maxdict = 3, 4, 4


def shown(value: object) -> str:
    """``value`` as a message quotes it: short, one line and inert."""
    return inert(_REPR.repr(value))
