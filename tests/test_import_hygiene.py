"""The engine and the headless paths never load Textual or Rich."""

from __future__ import annotations

import subprocess
import sys

import pytest


@pytest.mark.parametrize(
    "statement",
    [
        "import sockviz",
        "import sockviz.engine",
        "import sockviz.engine.runner, sockviz.engine.trace, sockviz.engine.scenarios",
        "import sockviz.engine.remote",
        "import sockviz.cli",
    ],
)
def test_no_textual_in_the_engine(statement):
    code = (
        f"{statement}\n"
        "import sys\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('textual', 'rich'))\n"
        "print(','.join(bad))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == ""
