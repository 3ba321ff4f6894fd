"""The ladder's rows as the fold adds them: a call's row and arrows, and sent bytes matched
to the receive that read them (the arrow turns solid).

Part of the fold (:func:`sockviz.view.fold.apply` calls it for every call and segment); kept
apart because the ladder is a subject of its own, with its own bookkeeping (the sends still
in flight). Standard library only.
"""

from __future__ import annotations

from typing import Any

from sockviz.engine.events import CallEvent
from sockviz.engine.states import Call, Role, State, Transport
from sockviz.view import words
from sockviz.view.fold_changes import Changes
from sockviz.view.run_view import Row, RunView

#: Sends kept waiting for their reader, per connection: an outside peer's reads are not
#: seen, so its sends would wait for ever.
INFLIGHT_KEPT = 300


def add_row(view: RunView, changes: Changes, side: str, label: str, **fields: Any) -> Row:
    """The next row of the ladder (the one already in the shared store, when this moment
    of the run is being folded again)."""
    row = view.rows.put(view.row_count, Row(view.row_count, view.folded, side, label, **fields))
    view.row_count += 1
    changes.rows += 1
    if row.data is not None:
        view.newest_data = row.index
    return row


def _port(address: str | None) -> str:
    if not address:
        return ""
    _head, sep, tail = address.rpartition(":")
    return tail if sep and tail.isdigit() else address


def _peer(view: RunView, event: CallEvent) -> str | None:
    """The socket of this run an arrow from ``event`` goes to (found by address: a TCP
    connection by both ends, a listener or a UDP socket by its own), or the outside
    address itself."""
    remote = event.remote
    if remote is None:
        return None
    both = own = None
    for name, model in view.models.items():
        if model.local != remote or name == event.socket:
            continue
        if model.remote == event.local and both is None:
            both = name
        if own is None and (model.role is Role.LISTENER) == (event.call is Call.CONNECT):
            own = name
    return both or own or remote


def call_rows(
    view: RunView, event: CallEvent, before: State | None, planned: str | None, changes: Changes
) -> None:
    """A call's rows: its own, an arrow for bytes sent (kept waiting for their reader), and
    for bytes received from a program outside sockviz, an arrow from the other side."""
    model = view.models.get(event.socket)
    left = model.left if model is not None else event.role is Role.CLIENT
    side = "left" if left else "right"
    call = event.call
    stream = event.type == Transport.STREAM.value
    said = words.said(
        event,
        before,
        planned is not None and planned == event.error,
        event.socket in view.connecting,
    )
    base = {
        "socket": event.socket,
        "call": call.value,
        "seq": event.seq,
        "over": (event.parent if call is Call.ACCEPT and event.parent else event.socket),
    }
    if call is Call.CONNECT and event.error == "EINPROGRESS" and stream:
        view.connecting.add(event.socket)
    if call in words.SENDS and not event.error:
        row = add_row(
            view,
            changes,
            side,
            said.label,
            arrow=True,
            data=event.data or b"",
            nbytes=event.nbytes or 0,
            delivered_at=None,
            to=_peer(view, event),
            peer=f"→ {event.remote}" if event.remote else "",
            **base,
        )
        waiting = view.inflight.setdefault((_port(event.remote), _port(event.local)), [])
        waiting.append([row, event.nbytes or 0])
        del waiting[:-INFLIGHT_KEPT]
        return
    if call in words.RECEIVES and not event.error:
        matched = _deliver(view, event, stream, changes)
        if event.nbytes and not matched and event.data is not None:
            # bytes from a peer that is not sockviz (curl, nc, a browser): drawn arriving
            # from the other side, with their escaped preview
            add_row(
                view,
                changes,
                "right" if side == "left" else "left",
                words.from_outside(event),
                arrow=True,
                data=event.data,
                nbytes=event.nbytes,
                peer=f"← {event.remote}" if event.remote else "",
                **{**base, "over": event.remote or "peer", "to": event.socket},
            )
    add_row(
        view,
        changes,
        side,
        said.label,
        arrow=said.arrow,
        error=said.error,
        delivered_at=None if said.in_flight else view.folded,
        to=_peer(view, event) if said.arrow else None,
        **base,
    )


def _deliver(view: RunView, event: CallEvent, stream: bool, changes: Changes) -> bool:
    """Mark the sends this receive took bytes from as delivered (solid arrows). False when
    no send of ours was waiting: the bytes came from an outside program."""
    queue = view.inflight.get((_port(event.local), _port(event.remote)), [])
    matched = bool(queue)
    remaining = event.nbytes or 0
    while queue and (remaining > 0 or not stream):
        item = queue[0]
        if stream:
            took = min(remaining, item[1])
            item[1] -= took
            remaining -= took
        else:
            item[1] = 0
        if item[1] == 0:
            queue.pop(0)
            row = item[0]
            if row.delivered_at is None or row.delivered_at > view.folded:
                row.delivered_at = view.folded
            changes.delivered.append(row)
        if not stream:
            break
    return matched
