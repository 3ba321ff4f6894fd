"""A held run's words (``--hold``): what the link strip says up front - a held segment is
really late and the kernels' timers keep running, with this kernel's SYN retry times - and
a link row's words fitted whole into a narrow ladder.

Said from the run's events and the settings it read (:mod:`sockviz.view.linkview` keeps
them), never from a textbook. Measured on this kernel (6.18) before choosing to say it
rather than stop it: a route's ``rto_min`` (10 s), ``tcp_rto_min_us`` (10 s) and
``tcp_rto_max_ms`` leave a SYN's first wait at 1 s (TCP_TIMEOUT_INIT), so a SYN held past
a second is sent again whatever sockviz sets in its hosts' network namespaces. Only a BPF
sock_ops program answering TIMEOUT_INIT moves it (measured: 10 s asked, SYN again at
10.12 s; a SYN and then its SYN-ACK each held 3 s on two hosts, neither sent again) - and
that needs root, a cgroup v2 the engine moves into, and changes every lost-SYN lesson's
timing, so it is not done here. Standard library only.
"""

from __future__ import annotations

from sockviz.engine.events import Segment
from sockviz.engine.kernel import tcp_settings as tcpsettings
from sockviz.view.linkview import LinkView


def _times(times: list[float]) -> str:
    """``1 s, 2 s, 3 s``."""
    return ", ".join(f"{t:g} s" for t in times)


def hold_words(link: LinkView | None, room: int = 10_000) -> str | None:
    """What a held run says up front (the link strip's second line): a held segment is
    really late, the kernels' timers keep running, and when this kernel sends an unanswered
    SYN again - from the client host's settings as the run read them (a SYN's first wait,
    1 s, is Linux's TCP_TIMEOUT_INIT; the rest follow ``tcp_syn_linear_timeouts`` and
    ``tcp_syn_retries``). The longest wording that fits ``room`` cells; None when nothing
    is held in this run."""
    if link is None or not link.status.hold:
        return None
    settings = link.tcp.get("client") or link.tcp.get(None)
    retries = tcpsettings.number(settings, "tcp_syn_retries")
    linear = tcpsettings.number(settings, "tcp_syn_linear_timeouts")
    if retries is None:
        tiers = [
            "⏸ A held segment is really late, and the kernels' timers keep running: hold one "
            "too long and its sender sends it again (↻). This run did not read the kernel's "
            "SYN settings, so when is not known here.",
            "⏸ held = really late; the kernels' timers keep running (their settings were not "
            "read: when a SYN is sent again is not known)",
            "⏸ held = really late; the kernels' timers keep running",
            "⏸ held = really late; timers run",
        ]
    else:
        times = tcpsettings.syn_schedule(linear or 0, retries)
        rule = (
            f"tcp_syn_linear_timeouts = {linear}, tcp_syn_retries = {retries}"
            if linear is not None
            else f"tcp_syn_retries = {retries}; no tcp_syn_linear_timeouts on this kernel"
        )
        first = f"{times[0]:g} s" if times else "its first wait"
        compact = ", ".join(f"{t:g}" for t in times)
        tiers = [
            f"⏸ A held segment is really late, and the kernels' timers keep running: a SYN "
            f"with no SYN-ACK back {first} later (TCP_TIMEOUT_INIT) is sent again (↻) - "
            f"at {_times(times)} after the first ({rule}).",
            f"⏸ Held = really late; the kernels' timers keep running: a SYN unanswered "
            f"is sent again at {_times(times)} ({rule})",
            f"⏸ Held = really late; timers keep running: an unanswered SYN goes again at "
            f"{_times(times)} ({rule.split(',')[0]})",
            f"⏸ Held = really late; timers keep running: an unanswered SYN goes again at "
            f"{_times(times)}",
            f"⏸ held = really late; timers keep running: an unanswered SYN goes again at "
            f"{compact} s",
            f"⏸ held = late; timers run: SYN again at {compact} s",
            f"⏸ held: SYN again at {compact} s",
        ]
    return next((text for text in tiers if len(text) <= room), tiers[-1])


def fitted(label: str, segment: Segment, room: int) -> str:
    """A wire row's label in at most ``room`` cells, said whole where it can be: as it is;
    then without a handshake segment's relative numbers (a SYN's seq is always 0 and its
    SYN-ACK's ack 1: the payload view spells them out); then without the `` · `` before a
    retry's time. Only a ladder narrower than that cuts it, and marks the cut (``…``)."""
    if len(label) <= room:
        return label
    if "SYN" in (segment.flags or "") and segment.seq_rel is not None:
        label = label.replace(f" seq {segment.seq_rel}", "", 1)
        if segment.ack_rel is not None:
            label = label.replace(f" ack {segment.ack_rel}", "", 1)
    if len(label) > room:
        label = label.replace(" · ", " ", 1)
    return label if len(label) <= room else label[: max(0, room - 1)] + "…"
