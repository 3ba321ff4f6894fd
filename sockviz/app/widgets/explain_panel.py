"""The explanation panel: the call just made and, in step mode, the one about to run.

For each: what it does in plain words (the scenario's own explanation), the Python line,
the C call behind it, and why the state is what it is now. Everything is built as
:class:`~textual.content.Content`, never parsed as markup, so nothing a peer sent can
restyle it.
"""

from __future__ import annotations

from textual.containers import VerticalScroll
from textual.content import Content
from textual.widgets import Static

from sockviz.app.widgets.changed_static import update_if_changed
from sockviz.engine.call_meanings import (
    c_call,
    errno_help,
    kernel_meaning,
    python_line,
    state_reason,
)
from sockviz.engine.events import CallEvent, Checked, StepPending
from sockviz.engine.states import State


def _code_line(socket: str, call, args: str | None, parent: str | None = None) -> Content:
    """The Python line, then the C call behind it, muted."""
    return Content.assemble(
        ("  " + python_line(socket, call, args, parent), "$text-accent"),
        ("   C: " + c_call(call), "$text-quiet"),
    )


def done_content(
    event: CallEvent,
    before: State | None,
    explain: str,
    total: int,
    planned: bool = False,
    prediction: tuple[str, str] | None = None,
    checked: Checked | None = None,
    wire: str | None = None,
    since: str | None = None,
    settings=None,
) -> Content:
    """The block for a call that has just been made (``planned``: its error is the lesson;
    ``prediction``: predict mode's guess and what really happened; ``wire``: what crossed
    the wire because of it, when the wire is watched; ``since``: what the kernel line
    read after the call says of its socket now, e.g. an orphaned FIN_WAIT2's timer)."""
    of = f"/{total}" if total else ""
    step = "" if event.step is None else f"Step {event.step + 1}{of} · "
    if event.error and planned:
        outcome = (f"→ {event.error}, as the scenario meant", "bold $text-warning")
    elif event.error:
        outcome = (f"✗ {event.error}", "bold $text-error")
    elif event.nbytes is not None:
        outcome = (f"✓ {event.nbytes} B", "bold $text-success")
    else:
        outcome = ("✓", "bold $text-success")
    lines = [
        # (named as the Python line does: accept() is called on the listener, its parent)
        Content.assemble(
            (f"{step}{event.parent or event.socket}.{event.call.value}()", "bold"), "  ", outcome
        ),
        _code_line(event.socket, event.call, event.args, event.parent),
    ]
    if prediction is not None:
        guess, truth = prediction
        if guess == truth:
            lines.insert(
                0,
                Content.assemble(
                    ("You predicted: ", "bold"), (f"{guess} ✓ right", "bold $text-success")
                ),
            )
        else:
            lines.insert(
                0,
                Content.assemble(
                    ("You predicted: ", "bold"),
                    (f"{guess} ✗", "bold $text-error"),
                    f" - it was {truth}",
                ),
            )
    if checked is not None:
        lines.append(
            Content.assemble(
                ("Expected: ", "bold"),
                (
                    (f"{checked.expected} ✓", "bold $text-success")
                    if checked.met
                    else (f"{checked.expected} ✗ - got {checked.got}", "bold $text-error")
                ),
            )
        )
    if wire:  # (what really crossed comes before what the scenario says of the call)
        lines.append(Content.assemble(("Wire: ", "bold $wire"), wire))
    if explain:
        lines.append(Content(explain))
    lines.append(Content.assemble(("State: ", "bold"), state_reason(event, before)))
    if event.error and errno_help(event.error, event.type):
        lines.append(Content.assemble(("Why: ", "bold"), errno_help(event.error, event.type)))
    if event.kernel:
        lines.append(
            Content.assemble(
                ("Kernel: ", "bold"), f"{event.kernel}, {kernel_meaning(event.kernel, settings)}"
            )
        )
    if since:
        lines.append(Content.assemble(("Since: ", "bold"), since))
    return Content("\n").join(lines)


def next_content(
    pending: StepPending,
    total: int,
    key_hint: str,
    explain: bool = True,
    under_way: str | None = None,
) -> Content:
    """The block for the call about to run (``explain``: with what it will do - predict
    mode keeps that for after the guess; ``under_way``: the call has begun - its first
    segment was seen - and not returned, and what was seen of it)."""
    lines = [
        Content.assemble(
            (
                (
                    f"Next → step {pending.step + 1}{f'/{total}' if total else ''} · "
                    f"{pending.socket}.{pending.call.value}()"
                ),
                "bold $text-warning",
            ),
            ("   " + key_hint, "$text-quiet") if key_hint else "",
        ),
        _code_line(pending.socket, pending.call, pending.args),
    ]
    if under_way:
        lines.append(Content.assemble(("Under way: ", "bold $text-warning"), under_way))
    if pending.explain and explain:
        lines.append(Content(pending.explain))
    elif pending.explain:
        lines.append(
            Content(
                "(Predict mode: what it does is told once you have guessed.)",
            ).stylize("$text-quiet")
        )
    return Content("\n").join(lines)


class ExplainPanel(VerticalScroll):
    """Shows the call just made."""

    def compose(self):
        yield Static(Content("Nothing yet: no call has been made."), id="explain-done")

    def show(self, done: Content | None) -> None:
        if update_if_changed(
            self.query_one("#explain-done", Static),
            done or Content("Nothing yet: no call has been made."),
        ):
            self.scroll_home(animate=False)


class NextPanel(VerticalScroll):
    """Shows the call about to run."""

    def compose(self):
        yield Static(id="next-body")

    def show(self, upcoming: Content) -> None:
        update_if_changed(self.query_one("#next-body", Static), upcoming)
