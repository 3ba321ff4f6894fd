"""The font sockviz draws its screenshots and its served page with: Sockviz Mono, DejaVu
Sans Mono with the glyphs it lacked (⏸ ⏩ ⏪ ⭘ 🔎, and braille's ⠁…⣿) added, so every
character sockviz or Textual draws has a glyph of its own (tests/app/test_glyphs.py holds
that). Built by scripts/build_font.py; licence in LICENSE beside this file. Standard library
only."""

from __future__ import annotations

import pathlib

FAMILY = "Sockviz Mono"
"""The family name the fonts carry (and the CSS that loads them uses)."""

HERE = pathlib.Path(__file__).resolve().parent
REGULAR = HERE / "SockvizMono-Regular.ttf"
BOLD = HERE / "SockvizMono-Bold.ttf"
LICENSE = HERE / "LICENSE"
