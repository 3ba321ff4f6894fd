"""sockviz's commands in the command palette (ctrl+p): each runs the very action its key
runs, so the palette and the key cannot drift apart; the themes are one command each.

Nothing here knows the app's class (the app imports this module): the actions are named as
a key binding names them, and run on the app or on its run screen.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

from textual.command import DiscoveryHit, Hit, Hits, Provider
from textual.dom import DOMNode

from sockviz.app.user_settings import THEME_NAMES

#: What the theme commands say of each theme.
THEME_HELP = {
    "sockviz-dark": "the default: light text on a dark terminal",
    "sockviz-light": "dark text on a light terminal",
    "sockviz-projector": "black on white, every colour at WCAG AA contrast: for a projector",
}


@dataclass(frozen=True)
class Command:
    """One palette entry: its words, the key that does the same, and the action run."""

    title: str
    key: str
    help: str
    action: str
    """The action, as a binding names it (``app.export``: the app's; else the run screen's)."""


COMMANDS = (
    Command(
        "Scenario: choose one", "s", "pick the scenario to run (and start it)", "app.pick_scenario"
    ),
    Command(
        "Family: IPv4 / IPv6", "f", "switch the address family and restart", "app.switch_family"
    ),
    Command(
        "Wire: show / hide", "w", "the real segments under each call on the ladder", "toggle_wire"
    ),
    Command(
        "TCP state diagram",
        "d",
        "RFC 9293's states, each end of a connection lit where this run has it",
        "toggle_panel('diagram')",
    ),
    Command(
        "Time-sequence graph",
        "G",
        "sequence numbers against time: segments, ACKs, window, SACKs, retransmissions",
        "toggle_panel('graph')",
    ),
    Command(
        "Predict mode: on / off",
        "g",
        "guess what each call will do before it is made",
        "toggle_quiz",
    ),
    Command(
        "Export the ladder and graphs",
        "x",
        "the ladder as Mermaid (.mmd) and text (.txt); the graphs as SVG and PNG",
        "app.export",
    ),
    Command("Screenshot", "ctrl+s", "save the screen as an SVG file", "app.save_svg"),
    Command(
        "Restart the run", "r", "the scenario again, from the start, on new sockets", "app.restart"
    ),
    Command("Help", "?", "the keys, how to read the screen, this machine's TCP", "app.help"),
    Command("Theme: next", "t", "go through sockviz's themes", "app.cycle_theme"),
)


class SockvizCommands(Provider):
    """The palette's source of sockviz's commands; see the module docstring."""

    def _entries(self) -> list[tuple[str, Callable[[], object], str]]:
        """(words shown, what runs, help) for every command."""
        entries: list[tuple[str, Callable[[], object], str]] = []
        screen: DOMNode = getattr(self.app, "run_screen", self.app)
        for command in COMMANDS:
            where = self.app if command.action.startswith("app.") else screen
            entries.append(
                (
                    f"{command.title}  ({command.key})",
                    partial(self.app.run_action, command.action.removeprefix("app."), where),
                    command.help,
                )
            )
        for name in THEME_NAMES:
            use = partial(self.app.run_action, f"use_theme({name!r})", self.app)
            entries.append((f"Theme: {name}", use, THEME_HELP[name]))
        return entries

    async def discover(self) -> Hits:
        """Every command, before anything is typed."""
        for text, run, help_text in self._entries():
            yield DiscoveryHit(text, run, help=help_text)

    async def search(self, query: str) -> Hits:
        """The commands whose words match what was typed, best first."""
        matcher = self.matcher(query)
        for text, run, help_text in self._entries():
            score = matcher.match(text)
            if score > 0:
                yield Hit(score, matcher.highlight(text), run, text=text, help=help_text)
