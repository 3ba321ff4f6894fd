"""What sockviz remembers for a user between runs: the theme, in
``$XDG_CONFIG_HOME/sockviz/config.toml`` (``~/.config/sockviz/config.toml`` by default).

Standard library only: the command line checks ``--theme`` against :data:`THEME_NAMES`
without loading Textual. The file is read with :mod:`tomllib`; one that cannot be read or
makes no sense is a notice for the user and the defaults, never a crash. It is written
atomically (a temporary file beside it, then a rename), so a crash or a full disk leaves the
old file whole.
"""

from __future__ import annotations

import contextlib
import os
import pathlib
import tempfile
import tomllib
from dataclasses import dataclass

#: The themes sockviz registers (:mod:`sockviz.app.themes` holds their colours), in the
#: order ``t`` goes through them.
THEME_NAMES = ("sockviz-dark", "sockviz-light", "sockviz-projector")

#: The theme when neither ``--theme`` nor the config file names one.
DEFAULT_THEME = THEME_NAMES[0]


def config_path() -> pathlib.Path:
    """The config file: under ``$XDG_CONFIG_HOME`` when it is set to an absolute path (the
    XDG rule: a relative one is ignored), else under ``~/.config``."""
    base = os.environ.get("XDG_CONFIG_HOME", "")
    root = pathlib.Path(base) if os.path.isabs(base) else pathlib.Path.home() / ".config"
    return root / "sockviz" / "config.toml"


@dataclass
class UserSettings:
    """The settings read, where they live, and what was wrong with the file (if anything)."""

    path: pathlib.Path
    theme: str | None = None
    """The theme the file names; None: it names none (or a bad one: see ``problem``)."""
    problem: str | None = None
    """One sentence for the user when the file could not be used; None when it could."""

    def save_theme(self, theme: str) -> str | None:
        """Remember ``theme``; None, or one sentence saying why it could not be written."""
        if theme == self.theme:
            return None
        try:
            write_atomically(
                self.path, f'# sockviz remembers this between runs\ntheme = "{theme}"\n'
            )
        except OSError as exc:
            return f"could not remember the theme in {self.path}: {exc.strerror or exc}"
        self.theme, self.problem = theme, None
        return None


def read_settings(path: pathlib.Path | None = None) -> UserSettings:
    """The settings in the config file (``path``, or :func:`config_path`); a missing file is
    no problem, a broken one is (the defaults, and why)."""
    path = path or config_path()
    settings = UserSettings(path)
    try:
        with path.open("rb") as file:
            data = tomllib.load(file)
    except FileNotFoundError:
        return settings
    except OSError as exc:
        settings.problem = f"cannot read {path}: {exc.strerror or exc}; using the defaults"
        return settings
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        settings.problem = f"{path} is not valid TOML ({exc}); using the defaults"
        return settings
    theme = data.get("theme")
    if theme is None:
        return settings
    if theme not in THEME_NAMES:
        settings.problem = (
            f"{path}: theme {str(theme)[:40]!r} is not one of {', '.join(THEME_NAMES)}; "
            f"using {DEFAULT_THEME}"
        )
        return settings
    settings.theme = theme
    return settings


def write_atomically(path: pathlib.Path, text: str) -> None:
    """Write ``text`` to ``path`` whole or not at all (a temporary file, then a rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=".config-", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as file:
            file.write(text)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
