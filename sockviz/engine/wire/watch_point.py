"""Where a run's wire is watched: deciding once (``--wire``), then a capture for each run.

``auto`` takes this machine's loopback where the process may open a packet socket there
(root, or ``CAP_NET_RAW``), else a private network of its own (a user and network
namespace: it must be entered while the process has one thread), else nothing - and then
says why in one line. A real outside peer lives in this machine's network, so for it only
the loopback will do. Standard library only.
"""

from __future__ import annotations

from sockviz.engine.events import UNIX_NO_WIRE, WireStatus
from sockviz.engine.wire.capture import Capture, WireUnavailable

MODES = ("auto", "host", "private", "off")


class Watch:
    """Where the wire is watched, decided once for every run of a process."""

    def __init__(
        self, where: str | None, note: str | None = None, spare: Capture | None = None
    ) -> None:
        self._spare = spare
        """The capture that proved the wire can be watched, for the first run to use."""
        self.where = where
        """``host``, ``private``, or None (not watched)."""
        self.note = note
        """Why not, in one line (None when watched, or when nobody asked: ``off``)."""

    def capture(self, family: str) -> Capture | None:
        """A new capture for a run on ``family`` (None: not watched, or AF_UNIX)."""
        if self.where is None or family == "unix":
            return None
        if self._spare is not None:
            spare, self._spare = self._spare, None
            return spare
        try:
            return Capture()
        except WireUnavailable as exc:  # (it worked when decided: a limit reached since)
            self.note = str(exc)
            return None

    def close(self) -> None:
        """Let the spare capture go (the wire is watched by another process)."""
        spare, self._spare = self._spare, None
        if spare is not None:
            spare.close()

    def status(self, family: str, watching: bool = True) -> WireStatus:
        """What a run on ``family`` says of its wire first."""
        if family == "unix":
            return WireStatus(None, UNIX_NO_WIRE)
        if self.where is None or not watching:
            return WireStatus(None, self.note)
        return WireStatus(self.where)


def decide(mode: str, outside: bool = False) -> Watch:
    """Where to watch, as ``mode`` asks. ``host`` or ``private`` asked for by name and not to
    be had raise :class:`WireUnavailable` (the caller says so as a usage error); ``auto``
    falls back and keeps the reason as :attr:`Watch.note`. ``private`` moves this process
    into a network of its own."""
    if mode == "off":
        return Watch(None)
    # (here: namespaces loads ctypes.util, ~8 ms that --wire off and a replay never need)
    from sockviz.engine.lab.namespaces import NoPrivateNetwork, enter_private

    reason = ""
    if mode in ("host", "auto"):
        try:
            return Watch("host", spare=Capture())
        except WireUnavailable as exc:
            if mode == "host":
                raise WireUnavailable(f"--wire host: {exc}") from None
            reason = str(exc)
    if outside:  # (a real peer lives in this machine's network: no private one for it)
        return Watch(None, f"the wire is not watched: {reason}")
    try:
        enter_private()
        return Watch("private", spare=Capture())
    except (NoPrivateNetwork, WireUnavailable) as exc:
        if mode == "private":
            raise WireUnavailable(f"--wire private: {exc}") from None
        return Watch(None, f"the wire is not watched ({exc})")
