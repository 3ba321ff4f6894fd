"""A scenario file step's expectations against what its call really did.

Standard library only.
"""

from __future__ import annotations

from sockviz.engine.events import CallEvent, Checked
from sockviz.engine.scenarios.scenario_types import Step


def check_expectation(index: int, step: Step, event: CallEvent, took: float = 0.0,
                      retries: int | None = None) -> Checked | None:
    """Compare what a step's call did with what its scenario file expects of it (``took``:
    the seconds it took; ``retries``: segments of its connection sent again by the time it
    returned, or None off a link - then what is about a link is not checked, and None is returned
    when nothing else was expected)."""
    expect = step.expect
    expected, got, met = [], [], True
    on_link = retries is not None
    for wanted, actual, word in (
        (expect.state and expect.state.value, event.state and event.state.value, "state"),
        (expect.error, event.error or "no error", None),
        (expect.nbytes, event.nbytes, "bytes"),
        (expect.kernel, event.kernel, "kernel"),
        (expect.seconds if on_link else None, round(took, 2), "seconds"),
        (expect.retries if on_link else None, retries, "retries"),
    ):
        if wanted is None:
            continue
        if word == "bytes":
            expected.append(f"{wanted} bytes")
            got.append(f"{actual if actual is not None else 'no'} bytes")
        elif word == "seconds":
            expected.append(f"at least {wanted:g} s")
            got.append(f"{actual:g} s")
            met = met and actual >= wanted
            continue
        elif word == "retries":
            expected.append(f"at least {wanted} sent again")
            got.append(f"{actual} sent again")
            met = met and actual >= wanted
            continue
        else:
            expected.append(f"{word} {wanted}" if word else str(wanted))
            got.append(f"{word} {actual}" if word else str(actual))
        met = met and wanted == actual
    if not expected:
        return None
    return Checked(step=index, socket=step.socket, call=step.call, expected=", ".join(expected),
                   got=", ".join(got), met=met)
