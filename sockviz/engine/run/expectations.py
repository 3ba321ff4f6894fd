"""A step's call against what its scenario wanted of it: the expectations a scenario file
states, and whether a failure was planned or ends the run.

Apart from the runner so that a replay judges its recorded calls as a live run judges its
own, without the machinery that makes calls. Standard library only.
"""

from __future__ import annotations

from sockviz.engine.events import CallEvent, Checked
from sockviz.engine.scenarios.scenario_types import Step


def is_unexpected_failure(step: Step, event: CallEvent) -> bool:
    """True when a step failed in a way the scenario did not plan: the run must end."""
    return event.error is not None and event.error != step.expect_error


def abort_reason(step: Step, event: CallEvent) -> str:
    """One line saying which call failed and why."""
    return (
        f"{step.socket}.{step.call.value}({event.args or ''}) failed: "
        f"{event.error} ({event.error_text})"
    )


def check_expectation(
    index: int, step: Step, event: CallEvent, took: float = 0.0, retries: int | None = None
) -> Checked | None:
    """Compare what a step's call did with what its scenario file expects of it (``took``:
    the seconds it took; ``retries``: segments of its connection sent again by the time it
    returned, or None off a link - then what is about a link is not checked, and None is returned
    when nothing else was expected)."""
    expect = step.expect
    if expect is None:
        return None
    expected: list[str] = []
    got: list[str] = []
    met = True
    on_link = retries is not None
    compared: tuple[tuple[object, object, str | None], ...] = (
        (expect.state and expect.state.value, event.state and event.state.value, "state"),
        (expect.error, event.error or "no error", None),
        (expect.nbytes, event.nbytes, "bytes"),
        (expect.kernel, event.kernel, "kernel"),
    )
    for wanted, actual, word in compared:
        if wanted is None:
            continue
        if word == "bytes":
            expected.append(f"{wanted} bytes")
            got.append(f"{actual if actual is not None else 'no'} bytes")
        else:
            expected.append(f"{word} {wanted}" if word else str(wanted))
            got.append(f"{word} {actual}" if word else str(actual))
        met = met and wanted == actual
    if expect.seconds is not None and on_link:  # (at least: a lower bound, not a value)
        expected.append(f"at least {expect.seconds:g} s")
        got.append(f"{round(took, 2):g} s")
        met = met and round(took, 2) >= expect.seconds
    if expect.retries is not None and retries is not None:
        expected.append(f"at least {expect.retries} sent again")
        got.append(f"{retries} sent again")
        met = met and retries >= expect.retries
    if not expected:
        return None
    return Checked(
        step=index,
        socket=step.socket,
        call=step.call,
        expected=", ".join(expected),
        got=", ".join(got),
        met=met,
    )
