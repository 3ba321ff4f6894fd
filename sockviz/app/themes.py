"""sockviz's themes: the dark default, a light one, and a high-contrast one for a projector.

Every colour sockviz draws with is a theme variable: the lifecycle states (``$state-*``,
``$state-future`` for a state not reached yet), the kernel's TCP states (``$kernel-*``, the
card badges), the wire (``$wire``), a segment lost on the link (``$lost``) or held at its
sender (``$held``), and the two quieter text colours (``$text-quiet`` for C lines, hints,
peers and tab names; ``$text-faint`` for the timeline's calls not made yet). The stylesheet
and the widgets name only these and Textual's own variables, so a theme changes them all.

A kernel state shares the colour of the lifecycle state it means (LISTEN and listening,
ESTABLISHED and connected, FIN_WAIT and half-closed): the same condition, seen from the
kernel. Every other pair differs, in every theme (tests/app/test_themes.py measures it).

The projector theme is black on white with dark, saturated colours: everything a student
reads on it is at WCAG AA contrast (4.5:1) or better against what it is drawn on (the same
test computes it from the colours of a rendered screen). Textual only here.
"""

from __future__ import annotations

from textual.theme import Theme

from sockviz.app.user_settings import DEFAULT_THEME, THEME_NAMES

#: The dark default's state and mark colours: sockviz's look before themes were named.
DARK_COLOURS = {
    "state-created": "#9e9e9e",
    "state-bound": "#5fafff",
    "state-listening": "#af87ff",
    "state-connected": "#5fd787",
    "state-half-closed": "#ffaf5f",
    "state-closed": "#d75f5f",
    "state-future": "#6c6c6c",
    "kernel-listen": "#af87ff",
    "kernel-syn": "#ffd75f",
    "kernel-established": "#5fd787",
    "kernel-fin-wait": "#ffaf5f",
    "kernel-close-wait": "#ff875f",
    "kernel-time-wait": "#d7af00",
    "kernel-close": "#8a8fa8",
    "wire": "#5fafd7",
    "lost": "#ff5f87",
    "held": "#ff87ff",
    "text-quiet": "#e0e0e099",
    "text-faint": "#e0e0e066",
}

LIGHT_COLOURS = {
    "state-created": "#616161",
    "state-bound": "#1565c0",
    "state-listening": "#7b1fa2",
    "state-connected": "#2e7d32",
    "state-half-closed": "#c05a00",
    "state-closed": "#c62828",
    "state-future": "#9e9e9e",
    "kernel-listen": "#7b1fa2",
    "kernel-syn": "#a67c00",
    "kernel-established": "#2e7d32",
    "kernel-fin-wait": "#c05a00",
    "kernel-close-wait": "#ad1457",
    "kernel-time-wait": "#00796b",
    "kernel-close": "#424242",
    "wire": "#0277bd",
    "lost": "#d50000",
    "held": "#6d4c41",
    "text-quiet": "#1f1f1fa6",
    "text-faint": "#1f1f1f73",
}

#: On white: every one at 4.5:1 or better, as text and as the background of white text.
PROJECTOR_COLOURS = {
    "state-created": "#303030",
    "state-bound": "#0039a6",
    "state-listening": "#6a0dad",
    "state-connected": "#006b2e",
    "state-half-closed": "#a33f00",
    "state-closed": "#9b0015",
    "state-future": "#6b6b6b",
    "kernel-listen": "#6a0dad",
    "kernel-syn": "#735c00",
    "kernel-established": "#006b2e",
    "kernel-fin-wait": "#a33f00",
    "kernel-close-wait": "#b0006e",
    "kernel-time-wait": "#00625e",
    "kernel-close": "#3f4a66",
    "wire": "#005a9e",
    "lost": "#d10000",
    "held": "#0000e0",
    "text-quiet": "#3a3a3a",
    "text-faint": "#555555",
    # Textual's own text colours, darkened to read on white from the back of a room
    "text-muted": "#3a3a3a",
    "text-accent": "#7a3d00",
    "text-warning": "#7a3d00",
    "text-error": "#a8001c",
    "text-success": "#005c26",
    "text-primary": "#002f6c",
    "text-secondary": "#002f6c",
    "footer-key-foreground": "#002f6c",
    "footer-description-foreground": "#000000",
    # a chosen row (the scenario list, predict's choices) is light blue: the quiet text in
    # it stays dark, and reads
    "block-cursor-foreground": "#000000",
    "block-cursor-background": "#c8dcff",
    "block-cursor-blurred-foreground": "#000000",
    "block-cursor-blurred-background": "#dde6f5",
}

THEMES = (
    Theme(
        name="sockviz-dark",
        primary="#0178D4",
        secondary="#004578",
        accent="#ffa62b",
        warning="#ffa62b",
        error="#ba3c5b",
        success="#4EBF71",
        foreground="#e0e0e0",
        dark=True,
        variables=DARK_COLOURS,
    ),
    Theme(
        name="sockviz-light",
        primary="#004578",
        secondary="#0178D4",
        accent="#b35c00",
        warning="#b35c00",
        error="#ba3c5b",
        success="#2e7d32",
        foreground="#1f1f1f",
        background="#f5f5f5",
        surface="#ebebeb",
        panel="#e0e0e0",
        dark=False,
        variables={**LIGHT_COLOURS, "footer-key-foreground": "#005a9e"},
    ),
    Theme(
        name="sockviz-projector",
        primary="#002f6c",
        secondary="#002f6c",
        accent="#7a3d00",
        warning="#7a3d00",
        error="#a8001c",
        success="#005c26",
        foreground="#000000",
        background="#ffffff",
        surface="#f2f2f2",
        panel="#e8e8e8",
        boost="#00000008",
        dark=False,
        text_alpha=1.0,
        variables=PROJECTOR_COLOURS,
    ),
)

#: Theme name -> theme, in the order ``t`` goes through them.
BY_NAME = {theme.name: theme for theme in THEMES}


def next_theme(current: str) -> str:
    """The theme after ``current`` in the order ``t`` cycles (the first after any theme that
    is not sockviz's own)."""
    if current not in THEME_NAMES:
        return DEFAULT_THEME
    return THEME_NAMES[(THEME_NAMES.index(current) + 1) % len(THEME_NAMES)]
