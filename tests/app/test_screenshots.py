"""screenshots/ is what scripts/screenshots.py makes today, byte for byte."""

from __future__ import annotations

import importlib.util
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
spec = importlib.util.spec_from_file_location("screenshots", ROOT / "scripts" / "screenshots.py")
screenshots = importlib.util.module_from_spec(spec)
spec.loader.exec_module(screenshots)

CHECKED = [shot for shot in screenshots.SHOTS if shot[0] in ("start", "time-wait")]


@pytest.mark.parametrize("shot", CHECKED, ids=lambda shot: shot[0])
async def test_screenshot_is_current(shot, tmp_path):
    await screenshots.shoot(*shot, out=tmp_path)
    made = (tmp_path / f"{shot[0]}.svg").read_bytes()
    committed = (ROOT / "screenshots" / f"{shot[0]}.svg").read_bytes()
    assert made == committed, "run scripts/screenshots.py and commit the result"


def test_every_screenshot_is_in_the_gallery():
    """Each screenshot the script makes is shown on the docs' Screenshots page."""
    gallery = (ROOT / "docs" / "gallery.md").read_text()
    for shot in screenshots.SHOTS:
        assert f"screenshots/{shot[0]}.svg" in gallery
