"""Folding the engine's events into a :class:`~sockviz.view.run_view.RunView`, one at a time.

``apply(view, event, arrived)`` is the only place the view of a run changes. It is pure in
the way that matters: the same events, arriving at the same times, give the same view, so a
moment of the run can be made again from its events (:mod:`sockviz.view.history`). It says
what it changed (:class:`Changes`) so that a screen redraws only that.

Standard library only.
"""

from __future__ import annotations

from dataclasses import replace

from sockviz.engine.events import (
    CallEvent,
    Checked,
    Condensed,
    Elided,
    Event,
    KernelEvent,
    LinkEvent,
    LinkStatus,
    Progress,
    RunFinished,
    Segment,
    StepPending,
    TcpSettings,
    WireStatus,
)
from sockviz.engine.states import Call, State, Transport
from sockviz.view import flow_control, linkview, seq_graph, tcp_diagram, words
from sockviz.view.fold_changes import Changes
from sockviz.view.ladder_rows import add_row, call_rows
from sockviz.view.run_view import MAX_CARDS, CardModel, RunView, lane_of, plan_path

#: What a caller of the fold imports from here with :func:`apply`.
__all__ = ["Changes", "apply"]


#: Calls that wait for the peer and send nothing of their own.
_WAITS = frozenset({Call.RECV, Call.RECVFROM, Call.ACCEPT})

#: Segments kept from before a call's story, to tell what its segments answer.
EARLIER_KEPT = 16

#: Flow-control notes kept (the newest segments': the stories of the last calls need them).
NOTES_KEPT = 256


def apply(view: RunView, event: Event, arrived: float, changes: Changes | None = None) -> Changes:
    """Fold ``event``, which arrived at ``arrived``, into ``view``; say what changed (into
    ``changes``, when given: a batch of events collects into one)."""
    changes = changes if changes is not None else Changes()
    view.folded += 1
    view.time = arrived
    # (isinstance, not type() is: the same test for these final classes, and one the type
    # checker follows into each branch)
    if isinstance(event, Progress):
        _progress(view, event, changes)
        return changes
    changes.panels = True
    if isinstance(event, (CallEvent, KernelEvent)) and view.link is not None:
        view.link = linkview.at(view.link, event.t)  # (the run's clock moved: what arrived)
        if isinstance(event, CallEvent):
            view.link = linkview.chose(view.link, event)
    if isinstance(event, CallEvent):
        view.diagrams = tcp_diagram.on_call(view.diagrams, event)
        _call(view, event, changes)
    elif isinstance(event, KernelEvent):
        view.diagrams = tcp_diagram.on_kernel(view.diagrams, event)
        _kernel(view, event, changes)
    elif isinstance(event, StepPending):
        view.pending = event
        view.under_way = None
        if view.link is not None:
            view.link = linkview.waiting(view.link)
            view.during = ()
        view.notes.setdefault(event.step, (event.explain, event.expect_error))
    elif isinstance(event, Elided):
        _elided(view, event, changes)
    elif isinstance(event, Condensed):
        _condensed(view, event, changes)
    elif isinstance(event, RunFinished):
        view.outcome = event
        view.pending = None
    elif isinstance(event, Checked):
        view.checks[event.step] = event
    elif isinstance(event, Segment):
        view.diagrams = tcp_diagram.on_segment(view.diagrams, event)
        view.graphs = seq_graph.on_segment(view.graphs, event)
        _segment(view, event, changes)
    elif isinstance(event, WireStatus):
        view.wire = event
        view.diagrams = tcp_diagram.on_wire(view.diagrams, event)
    elif isinstance(event, LinkStatus):
        if event.missing is None:
            view.link = linkview.started(event)
        else:
            view.link_missing = event.missing
    elif isinstance(event, LinkEvent):
        view.diagrams = tcp_diagram.on_released(view.diagrams, event)
        _released(view, event, changes)
    elif isinstance(event, TcpSettings):
        view.tcp = {**view.tcp, event.host: event}
        if view.link is not None:
            view.link = linkview.with_tcp(view.link, view.tcp)
    return changes


# --- cards ------------------------------------------------------------------------------
def _model_for(view: RunView, event: CallEvent | KernelEvent, changes: Changes) -> CardModel:
    model = view.models.get(event.socket)
    if model is not None:
        return model
    model = CardModel(
        name=event.socket,
        role=event.role,
        family=event.family,
        type=event.type,
        path=plan_path(view.scenario, event.socket, event.role, Transport(event.type)),
        born=view.folded,
        side=lane_of(view.scenario, event.socket, event.role),
    )
    view.models[event.socket] = model
    changes.added.append(event.socket)
    closed = [n for n, m in view.models.items() if m.state is State.CLOSED]
    for name in closed[: max(0, len(view.models) - MAX_CARDS)]:
        del view.models[name]
        view.connecting.discard(name)
        changes.removed.append(name)
    return model


def _touched(
    view: RunView, name: str, changes: Changes, moving: bool = False, scroll: bool = True
) -> None:
    changes.changed.add(name)
    if moving:
        changes.moved.add(name)
    model = view.models.get(name)
    if scroll and model is not None:
        changes.scroll[model.lane] = name
        view.lane_last[model.lane] = name


def _set_kernel(view: RunView, model: CardModel, state: str, timer: float | None) -> None:
    """The kernel state, and when its timer runs out: TIME_WAIT's, and an orphaned
    FIN_WAIT2's (its program closed it; the kernel line carries the timer ``ss`` shows,
    net.ipv4.tcp_fin_timeout's) - only from a timer read, never assumed."""
    if state == "TIME_WAIT" and model.kernel != "TIME_WAIT":
        model.kernel_deadline = view.time + (timer if timer is not None else 60.0)
    elif state == "FIN_WAIT2" and timer is not None:
        model.kernel_deadline = view.time + timer
    elif state == "FIN_WAIT2" and model.kernel == "FIN_WAIT2":
        pass  # (a line with no timer read: the one seen stands)
    elif state != "TIME_WAIT":
        model.kernel_deadline = None
    model.kernel = state


def _call(view: RunView, event: CallEvent, changes: Changes) -> None:
    model = _model_for(view, event, changes)
    before = model.state
    if event.state is not None:
        model.previous = before if event.state is not before else model.previous
        model.state = event.state
        model.visited.add(event.state)
    if event.implicit_bind:
        model.visited.add(State.BOUND)
        model.implicit_bind = True
    model.local = event.local or model.local
    model.remote = event.remote or model.remote
    model.sent, model.received = event.sent_total, event.recv_total
    if event.kernel is not None:
        _set_kernel(view, model, event.kernel, event.timer)
    if event.queue is not None:
        model.queue = event.queue
    planned = view.planned_error(event.step)
    if event.error:
        model.error, model.error_text, model.error_call = (
            event.error,
            event.error_text,
            event.call.value,
        )
        model.expected = event.step is not None and planned == event.error
    elif event.step is not None and model.error and model.expected:
        model.error = None  # a planned failure is only news until the next call
    if event.parts and (event.nbytes or 0) > 1 << 20:
        model.transfer = None  # the bulk transfer is over; keep its sparkline
    _touched(
        view, event.socket, changes, moving=event.state is not None and event.state is not before
    )
    call_rows(view, event, before, planned, changes)
    if event.step is not None:
        view.steps_done = max(view.steps_done, event.step + 1)
        view.last_done = (event, before)
        view.link_from, view.link_during = event.seq, tuple(s.seq for s in view.during)
        caused = linkview.own(view.during, event.socket)
        if not caused and event.call in _WAITS and event.error and view.caused_since is not None:
            # (a call that only waited, and failed, sent nothing itself: what the kernels
            # sent on their own on its socket's connection after the call before returned
            # came before it returned - keepalives, probes, an ICMP error - and its story
            # says them)
            caused = tuple(
                s
                for s in view.caused
                if s.cause is None
                and s.seq > view.caused_since
                and event.socket in (s.source, s.target)
            )
        view.earlier = (*view.earlier, *view.caused)[-EARLIER_KEPT:]
        view.caused, view.caused_since = caused, event.seq
        view.during = ()
        if view.pending is not None and view.pending.step == event.step:
            view.pending, view.under_way = None, None
    _log(view, event, changes)


def _progress(view: RunView, event: Progress, changes: Changes) -> None:
    model = view.models.get(event.socket)
    if model is None:
        return
    last = model.last_progress
    if last is not None and event.elapsed > last[1]:
        model.rates.append((event.done - last[0]) / (event.elapsed - last[1]))
        del model.rates[:-60]
    model.last_progress = (event.done, event.elapsed)
    model.transfer = (event.done, event.total)
    if event.call is Call.SENDALL:
        model.sent = event.done
    else:
        model.received = event.done
    _touched(view, event.socket, changes, scroll=False)


def _kernel(view: RunView, event: KernelEvent, changes: Changes) -> None:
    if event.socket not in view.models and event.state is State.CLOSED:
        return  # (a closed socket whose card has gone - or was never drawn, in a flood)
    model = _model_for(view, event, changes)
    model.local = model.local or event.local  # (the kernel gives a connecting socket one)
    if event.queue is not None:
        model.queue = event.queue
    if event.cwnd is not None:
        model.flow = (event.rtt, event.cwnd, event.retrans or 0)
        if view.link is not None and event.rtt is not None:
            view.link = linkview.measured(view.link, event.socket, event.rtt)
        model.cwnds = (*model.cwnds[-59:], event.cwnd)
    _set_kernel(view, model, event.kernel, event.timer)
    _touched(view, event.socket, changes)
    _log(view, event, changes)


def _elided(view: RunView, event: Elided, changes: Changes) -> None:
    """Calls too many to draw one by one: one row for them all (the next call event brings
    the socket's true totals)."""
    model = view.models.get(event.socket)
    if model is None:
        return
    side = "left" if model.left else "right"
    add_row(
        view,
        changes,
        side,
        words.elided(event),
        socket=event.socket,
        call=event.call.value,
        over=event.socket,
    )
    _log(view, event, changes)


def _condensed(view: RunView, event: Condensed, changes: Changes) -> None:
    """Whole connections too many to draw: one row and one log line for them all."""
    add_row(view, changes, "right", words.condensed(event))
    _log(view, event, changes)


def _segment(view: RunView, event: Segment, changes: Changes) -> None:
    """A segment that crossed the wire: a thin arrow from its sender's side, counted on
    both cards, and kept for the explanation when the last call caused it."""
    sender, receiver = view.models.get(event.source), view.models.get(event.target)
    if sender is not None:
        sender.segments_out += event.count
        if sender.local is None and not event.summed:
            sender.local = event.local  # (its kernel chose it: the segment carries it)
        _touched(view, sender.name, changes, scroll=False)
        side = "left" if sender.left else "right"
    elif receiver is not None:  # (from an outside peer: from the other side)
        side = "right" if receiver.left else "left"
    else:
        side = "left"
    if receiver is not None:
        receiver.segments_in += event.count
        _touched(view, receiver.name, changes, scroll=False)
    if view.under_way is None and _begun(view, event):
        # The pending call is under way (only it sends this): its row comes first, so
        # what crossed while it ran stands under it, not under the call before.
        view.under_way = event.seq
        pending = view.pending
        assert pending is not None  # (_begun says there is one)
        model = view.models.get(pending.socket)
        add_row(
            view,
            changes,
            "right" if model is not None and not model.left else "left",
            words.under_way(pending),
            socket=pending.socket,
            call=pending.call.value,
            over=pending.socket,
        )
    label = words.segment_label(event)
    flow = flow_control.note(event, view.offers)
    flow_control.offered(view.offers, event)
    if flow is not None:
        view.flow_notes[event.seq] = flow
        if len(view.flow_notes) > NOTES_KEPT:
            del view.flow_notes[next(iter(view.flow_notes))]
    if event.summed and view.link is not None:  # (a transfer the link counted, not read)
        view.link = linkview.counted(view.link, event)
    if event.link is not None and view.link is not None:
        view.link, gap = linkview.took(view.link, event)
        if gap is not None:
            add_row(view, changes, side, linkview.gap_label(gap))
        label = linkview.label(event)
    if flow is not None:
        label += f" · {flow}"
    add_row(
        view,
        changes,
        side,
        label,
        arrow=True,
        packet=event,
        socket=event.source,
        call="packet",
        over=event.source,
        to=event.target,
        seq=event.seq,
    )
    if (
        event.cause is not None
        and view.caused_since is not None
        and event.cause >= view.caused_since
    ):
        view.caused = (*view.caused, event)
    elif event.cause is None and view.pending is not None and view.under_way is not None:
        view.during = (*view.during[-(linkview.RECENT - 1) :], event)
    elif event.cause is None and view.caused_since is not None:
        # the kernels' own after the last call (a delayed ACK, a retransmission): its
        # story says them as theirs, never as the call's
        view.caused = (*view.caused[-(linkview.RECENT - 1) :], event)
    _log(view, event, changes)


def _begun(view: RunView, event: Segment) -> bool:
    """Whether ``event`` shows the pending call has begun: a segment from its socket, sent
    for the first time, with no call of before as its cause, of a kind only that call
    sends (a connect()'s SYN, a send's bytes, a close()'s or shutdown()'s FIN or RST)."""
    pending = view.pending
    if (
        pending is None
        or event.source != pending.socket
        or event.retry is not None
        or event.summed
        or (event.cause is not None and event.cause < event.seq)
    ):
        return False
    flags = event.flags or ""
    if pending.call is Call.CONNECT:
        return event.proto == "TCP" and flags == "SYN"
    if pending.call in words.SENDS:
        return event.nbytes > 0
    if pending.call in (Call.CLOSE, Call.SHUTDOWN):
        return "FIN" in flags or "RST" in flags
    return False


def _released(view: RunView, event: LinkEvent, changes: Changes) -> None:
    """A held segment let cross: its arrow, now whole."""
    if view.link is None:
        return
    held = next((s for s in view.link.held if s.seq == event.segment), None)
    view.link = linkview.released(view.link, event)
    if held is not None:
        sender = view.models.get(held.source)
        side = "left" if sender is None or sender.left else "right"
        crossing = replace(held, link="crossed", delay=event.delay)
        add_row(
            view,
            changes,
            side,
            f"{words.segment_label(held)} crosses",
            arrow=True,
            packet=crossing,
            socket=held.source,
            call="packet",
            over=held.source,
            to=held.target,
            seq=event.seq,
        )
    _log(view, event, changes)


def _log(view: RunView, event: Event, changes: Changes) -> None:
    """A line of the log, kept as the event it says (the history holds the event anyway:
    a line costs a reference until it is drawn)."""
    view.lines.put(view.line_count, event)
    view.line_count += 1
    changes.lines.append(event)
