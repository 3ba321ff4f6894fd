"""This machine's TCP settings that change what a student sees, read once at a run's start.

Why: a sentence such as "the SYN is sent again after 1 s, 3 s, 7 s" is true of one kernel
and false of another (this one's ``tcp_syn_linear_timeouts`` keeps the first retries 1 s
apart); the congestion control a run's sockets use is whatever the machine was set to. So
the words about them are made from the values the kernel had for the run, read from
``/proc/sys/net/ipv4`` in the run's own network namespace (these sysctls are per network
namespace: on two hosts each host is read from inside it), carried as a
:class:`~sockviz.engine.events.TcpSettings` event, and a recording keeps them. A setting
this kernel does not have (an older one) is None, and the words say it is not known.

Standard library only; the words here are plain functions of the values.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from sockviz.engine.events import TcpSettings

if TYPE_CHECKING:
    from sockviz.engine.lab.two_hosts import Hosts

#: The sysctls read (``/proc/sys/net/ipv4/<name>``), in the order they are shown.
NAMES = (
    "tcp_congestion_control",
    "tcp_syn_retries",
    "tcp_synack_retries",
    "tcp_syn_linear_timeouts",
    "tcp_fin_timeout",
    "tcp_sack",
    "tcp_recovery",
    "tcp_early_retrans",
    "tcp_retries2",
    "tcp_tw_reuse",
)
#: What each one decides, in a few words (help's "This machine's TCP").
MEANING = {
    "tcp_congestion_control": "how new connections pace and grow their sending",
    "tcp_syn_retries": "times a connect() sends its SYN again before giving up",
    "tcp_synack_retries": "times a listener's kernel sends a SYN-ACK again",
    "tcp_syn_linear_timeouts": "a SYN's wait stays 1 s for this many retries and one more, "
    "then doubles",
    "tcp_fin_timeout": "seconds an orphaned FIN_WAIT2 waits for the peer's FIN",
    "tcp_sack": "selective acknowledgements (1: on)",
    "tcp_recovery": "loss detection by time (1: RACK)",
    "tcp_early_retrans": "tail-loss probes (3 or 4: on)",
    "tcp_retries2": (
        "how long unacknowledged data is sent again before the connection is "
        "given up (as that many doubling timeouts)"
    ),
    "tcp_tw_reuse": (
        "new outgoing connections may reuse a TIME_WAIT's port (0 no, 1 yes, 2 on loopback only)"
    ),
}
_ROOT = "/proc/sys/net/ipv4/"
#: A value kept: a sysctl's text is short (a name or a number); longer is not one.
MAX_VALUE = 40


def read_values(root: str = _ROOT) -> tuple[tuple[str, str | None], ...]:
    """Each of :data:`NAMES` with its value as the kernel writes it (stripped), None when
    this kernel does not have it or it cannot be read. Reads this thread's network
    namespace (``/proc/sys/net`` is that of the thread that opens it)."""
    values = []
    for name in NAMES:
        try:
            with open(root + name, encoding="ascii", errors="replace") as f:
                text = " ".join(f.read(MAX_VALUE + 1).split())
        except OSError:
            text = None
        values.append((name, text if text and len(text) <= MAX_VALUE else None))
    return tuple(values)


def read(hosts: Hosts | None = None) -> list[TcpSettings]:
    """The settings of the run's kernel: one event for the process's own network namespace,
    or, on two hosts (a :class:`~sockviz.engine.lab.two_hosts.Hosts`), one for each host, read
    inside it."""
    if hosts is None:
        return [TcpSettings(None, read_values())]
    events = []
    for host in ("client", "server"):
        with hosts.inside(host):
            events.append(TcpSettings(host, read_values()))
    return events


# --- words of the folded values -----------------------------------------------------------
def value(settings: TcpSettings | None, name: str) -> str | None:
    """One setting's value, None when it is not known (no event, or this kernel lacks it)."""
    if settings is None:
        return None
    return dict(settings.values).get(name)


def number(settings: TcpSettings | None, name: str) -> int | None:
    text = value(settings, name)
    return int(text) if text is not None and text.isdigit() else None


def syn_schedule(linear: int, retries: int) -> list[float]:
    """When a connect()'s SYN is sent again, seconds after the first sending, on Linux with
    ``tcp_syn_linear_timeouts = linear``: the first wait is 1 s (TCP_TIMEOUT_INIT); the
    wait stays 1 s until ``linear`` retries have been made, and doubles after each one
    past that (tcp_retransmit_timer). Measured here with linear = 4: 1.02, 2.04, 3.07,
    4.09, 5.12, 7.13 s."""
    times, at, wait = [], 0.0, 1.0
    for made in range(1, retries + 1):
        at += wait
        times.append(at)
        if made > linear:
            wait *= 2
    return times


def _list(times: list[float]) -> str:
    return ", ".join(f"{t:g} s" for t in times)


def syn_words(settings: TcpSettings | None) -> str:
    """What this kernel does with a SYN that gets no answer, from its settings."""
    linear = number(settings, "tcp_syn_linear_timeouts")
    retries = number(settings, "tcp_syn_retries")
    if retries is None:
        return (
            "this run does not say the kernel's tcp_syn_retries or "
            "tcp_syn_linear_timeouts, so when it sends the SYN again is not known here"
        )
    if linear is None:  # (a kernel before the setting: the wait doubles from the first)
        times = syn_schedule(0, retries)
        return (
            f"this kernel has no tcp_syn_linear_timeouts: the wait starts at 1 s and "
            f"doubles: {_list(times)} after the first sending, then it gives up "
            f"(tcp_syn_retries = {retries})"
        )
    times = syn_schedule(linear, retries)
    return (
        f"this kernel (tcp_syn_linear_timeouts = {linear}) waits 1 s before each of its "
        f"first {linear + 1} retries, then doubles the wait: {_list(times)} after the "
        f"first sending, then it gives up (tcp_syn_retries = {retries})"
    )


def synack_words(settings: TcpSettings | None) -> str:
    """What a listener's kernel does with a SYN-ACK that gets no answer."""
    retries = number(settings, "tcp_synack_retries")
    limit = (
        f"at most {retries} times (tcp_synack_retries = {retries})"
        if retries is not None
        else "a number of times this run does not say (tcp_synack_retries)"
    )
    return (
        "its own timer for a SYN-ACK waits 1 s, then doubles the wait each time (1 s, "
        f"3 s, 7 s … after the first sending), {limit}"
    )


def fin_timeout_words(settings: TcpSettings | None) -> str:
    seconds = number(settings, "tcp_fin_timeout")
    if seconds is None:
        return "once its program has closed it, at most tcp_fin_timeout, not known for this run"
    return f"once its program has closed it, at most tcp_fin_timeout = {seconds} s"


_CONGESTION = {
    "bbr": (
        "BBR: it measures the path's bandwidth and round-trip time and paces its "
        "sending to them. A connection starts in BBR's startup: it paces at about 2.89 "
        "times the bandwidth measured so far (ss shows pacing_gain), so its sending about "
        "doubles each round trip until the measured bandwidth stops growing; then it "
        "drains the queue it built and paces at the bandwidth it found. Its window "
        "follows from that rate and the RTT, not from losses"
    ),
    "cubic": (
        "CUBIC: slow start first (the window about doubles each round trip from 10 "
        "segments) until a loss or ssthresh, then a cubic curve of the time since the "
        "last loss"
    ),
    "reno": (
        "Reno: slow start first (the window about doubles each round trip), then one "
        "segment more each round trip; a loss halves it"
    ),
}


def congestion_words(name: str | None) -> str:
    """The congestion control a kernel uses, named, and what it does in one sentence."""
    if name is None:
        return "the kernel's congestion control is not known for this run"
    return _CONGESTION.get(name, f"{name} (a congestion control sockviz does not describe)")


def lines(settings: Mapping[str | None, TcpSettings]) -> list[str]:
    """Help's "This machine's TCP": one line a setting, for each host read (``settings``:
    host -> :class:`TcpSettings`, as the view folds them)."""
    if not settings:
        return [
            "Not known: this run did not say the kernel's TCP settings (a recording "
            "made before sockviz read them, or a run with an outside peer, which does "
            "not read them)."
        ]
    out = []
    for host, event in settings.items():
        if host is not None:
            out.append(f"{host}'s host:")
        for name, text in event.values:
            shown = text if text is not None else "not on this kernel (unknown)"
            out.append(f"  {name} = {shown}  - {MEANING.get(name, '')}".rstrip(" -"))
    return out
