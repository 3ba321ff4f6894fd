"""The wheel `pip install .` and `pipx install .` build carries the whole package.

The running app reads more than code from its package - its styles and themes, the
scenarios, the bundled fonts, the example scenario files - and a file left out of
pyproject.toml's package-data is missing only from an installed sockviz, never from a
checkout, where every other test runs. So the wheel is built here, from a copy of the
checkout's files (tracked, or new and not ignored), and held to them file by file.
"""

from __future__ import annotations

import os
import pathlib
import shutil
import subprocess
import sys
import zipfile

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]


def _checkout_files() -> list[str]:
    """The checkout's files as git sees them (a symbolic link is one entry)."""
    if not (ROOT / ".git").exists():
        pytest.skip("not a git checkout: which files belong to the project is unknown")
    done = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    )
    return [name for name in done.stdout.decode().split("\0") if name and (ROOT / name).exists()]


def _package_files(files: list[str]) -> set[str]:
    """What an installed ``sockviz`` must hold: every file under sockviz/, a linked folder's
    files under the link's name."""
    wanted = set()
    for name in files:
        path = ROOT / name
        if not name.startswith("sockviz/"):
            continue
        if path.is_symlink() and path.is_dir():
            target = path.resolve().relative_to(ROOT).as_posix()
            wanted |= {
                name + other.removeprefix(target)
                for other in files
                if other.startswith(target + "/")
            }
        else:
            wanted.add(name)
    return wanted


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> zipfile.ZipFile:
    files = _checkout_files()
    source = tmp_path_factory.mktemp("source")
    for name in files:
        path, copy = ROOT / name, source / name
        copy.parent.mkdir(parents=True, exist_ok=True)
        if path.is_symlink():
            copy.symlink_to(os.readlink(path))
        else:
            shutil.copy2(path, copy)
    out = tmp_path_factory.mktemp("wheel")
    done = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(out), str(source)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    (built,) = out.glob("sockviz-*.whl")
    with zipfile.ZipFile(built) as opened:
        yield opened


def test_the_wheel_holds_every_file_of_the_package_and_nothing_else(wheel):
    """Every file under sockviz/ - code, styles, scenarios, fonts, examples - and no cache,
    test or checkout file beside them."""
    wanted = _package_files(_checkout_files())
    held = {name for name in wheel.namelist() if ".dist-info/" not in name}
    assert sorted(wanted - held) == [], "missing from the wheel: add it to package-data"
    assert sorted(held - wanted) == []


def test_the_wheel_carries_what_the_app_reads(wheel):
    """The named things the issue asks for, whatever else changes: the app's style, the
    scenarios, the example files, and the bundled fonts once there are any."""
    held = set(wheel.namelist())
    assert "sockviz/app/sockviz.tcss" in held
    assert "sockviz/engine/scenarios/lost-syn.toml" in held
    examples = {p.name for p in (ROOT / "examples").glob("*.toml")}
    assert "echo.toml" in examples
    assert {f"sockviz/examples/{name}" for name in examples} <= held
    fonts = [p for p in (ROOT / "sockviz" / "fonts").glob("*") if p.is_file()]
    assert {f"sockviz/fonts/{p.name}" for p in fonts} <= held
    assert not any("__pycache__" in name or name.startswith("tests/") for name in held)


def test_the_wheel_installs_the_command(wheel):
    """`sockviz` is a console script of the wheel, calling the CLI's main."""
    (entry_points,) = [n for n in wheel.namelist() if n.endswith(".dist-info/entry_points.txt")]
    text = wheel.read(entry_points).decode()
    assert "[console_scripts]" in text and "sockviz = sockviz.cli:main" in text
