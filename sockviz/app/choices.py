"""The keys that choose what runs and what is kept: predict mode, another scenario or
family, a message for the client, an export, a screenshot, the help.

:class:`Choices` is a part of :class:`~sockviz.app.app.SockvizApp` (mixed into it), kept
apart so the app itself is its wiring, its run and its drawing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sockviz.app.config import FAMILY_LABEL, MESSAGE_LIMIT
from sockviz.engine.run.gate import Mode

if TYPE_CHECKING:
    from textual.widgets import Input


class Choices:
    """See the module docstring."""

    # --- predict mode ----------------------------------------------------------------
    def _ask(self) -> bool:
        """Predict mode: put a question about the pending call; True if one was put (the
        call is made once it is answered)."""
        question = self.predictions.question(self.history.live)
        if question is None:
            return False

        def answered(index: int | None) -> None:
            if index is None or self.session.runner is None or self.view.outcome is not None:
                return  # escape: no guess, no call
            self.predictions.guessed(question, index)
            self.session.step()

        from sockviz.app.screens.quiz_screen import QuizScreen

        self.push_screen(QuizScreen(question, self.predictions.score), answered)
        return True

    def _reveal(self, now: bool = False) -> None:
        """Once the asked call has been made and the run has moved on, say what really
        happened and keep the score (``now``: even if the kernel has not settled it yet)."""
        reveal = self.predictions.reveal(self.history.live, now)
        if reveal is None:
            return
        self._draw_panels()
        if reveal.right:
            self.notify(f"Right: {reveal.truth}.", title=f"step {reveal.step + 1}", timeout=4)
        else:
            self.notify(f"You said {reveal.guess}; it was {reveal.truth}.",
                        title=f"step {reveal.step + 1}", severity="warning", timeout=6)

    def action_toggle_wire(self) -> None:
        """Show or hide the wire's rows on the ladder (the segments stay in the run)."""
        from sockviz.app.widgets.ladder import Ladder

        ladder = self.query_one(Ladder)
        ladder.wire_rows(not ladder.show_wire, self.view)
        shown = "shown" if ladder.show_wire else "hidden (w shows them again)"
        self.notify(f"The wire's segments on the ladder: {shown}.", timeout=3)

    def action_toggle_quiz(self) -> None:
        self.predictions.on = not self.predictions.on
        if self.predictions.on and self.mode is not Mode.STEP:
            self._set_mode(Mode.STEP)
        self.notify("Predict mode on: before each call → asks what it will do; answer with "
                    "the choice's number or ↑↓ Enter." if self.predictions.on
                    else "Predict mode off.",
                    timeout=4)
        self._draw_panels()

    def _outside_only(self, what: str) -> bool:
        if self.config.replay:
            self.notify(f"{what} does not apply to a replay: it plays the run recorded in "
                        f"{self.config.replay}. Quit and start sockviz again to change it.",
                        timeout=5)
            return True
        if self.config.outside:
            self.notify(f"{what} does not apply to --{self.config.outside}: the other end is "
                        "a real program. Quit and start sockviz again to change it.", timeout=5)
            return True
        return False

    def action_pick_scenario(self) -> None:
        if self._outside_only("Choosing a scenario"):
            return

        def chosen(name: str | None) -> None:
            if name is None:
                return
            scenario = self.scenarios[name]
            if self.config.family not in scenario.families:
                self.config.family = scenario.families[0]
            self.config.scenario = name
            self.restart()

        from sockviz.app.screens.picker import ScenarioPicker

        self.push_screen(ScenarioPicker(self.scenarios, self.config.scenario), chosen)

    def action_switch_family(self) -> None:
        from sockviz.engine.families import FAMILIES

        if self._outside_only("Switching IPv4/IPv6"):
            return
        families = [f for f in self.scenario.families if f in ("ipv4", "ipv6")]
        if len(families) < 2:
            self.notify(f"{self.config.scenario} runs on one family only", timeout=3)
            return
        self.config.family = "ipv6" if self.config.family == "ipv4" else "ipv4"
        self.restart()
        self.notify(f"Now on {FAMILY_LABEL[self.config.family]} "
                    f"({FAMILIES[self.config.family].loopback})", timeout=3)

    def action_type_message(self) -> None:
        bar = self.query_one("#message-bar")
        bar.display = True
        line = self._message_input()
        if line.is_mounted:
            line.focus()
        else:  # pressed before it was up: focus it as soon as it is
            self.call_after_refresh(line.focus)

    @property
    def _typing(self) -> bool:
        """Whether the message line has the keyboard."""
        return self.focused is not None and self.focused.id == "message"

    def action_leave_input(self) -> None:
        if self._typing:
            self.set_focus(None)
            self.query_one("#message-bar").display = False

    def on_input_submitted(self, message: Input.Submitted) -> None:
        data = message.value.encode("utf-8")
        if len(data) > MESSAGE_LIMIT:  # keep the text: nothing typed is lost
            self.notify(f"The message is {len(data)} bytes in UTF-8; at most {MESSAGE_LIMIT} "
                        "can be sent in one go.", title="not sent", severity="warning")
            return
        message.input.clear()
        self.set_focus(None)
        self.query_one("#message-bar").display = False
        if self.session.runner is None:
            return
        try:
            at = self.session.runner.queue_message(data)
        except ValueError as exc:
            self.notify(str(exc), title="not sent", severity="warning", timeout=5)
            return
        if self.config.outside:
            self.notify(f"The client sends {len(data)} bytes now.", title="sending", timeout=3)
        else:
            self.notify(f"The client will send {len(data)} bytes at step {at + 1}, "
                        "once it has read the echo.", title="message queued", timeout=4)
        self._draw_panels()

    def action_export(self) -> None:
        """Write the run so far as a Mermaid sequenceDiagram and as plain text."""
        from sockviz.app.saved_files import export_run

        export_run(self)

    def action_save_svg(self) -> None:
        """An SVG screenshot of the screen as it is."""
        from sockviz.app.saved_files import save_svg

        save_svg(self)

    def action_help(self) -> None:
        from sockviz.app.screens.help import HelpScreen

        self.push_screen(HelpScreen(getattr(self.view, "tcp", None)))
