"""The stage: the client's lane of socket cards, the ladder, and the server's lane.

It draws the cards of a :class:`~sockviz.view.run_view.RunView`: all of them for a moment
shown afresh (keeping the cards both moments have: no flicker, and cheap for a long run), or
only what a batch of events changed. The cards' facts are the view's; the stage keeps only
Textual's own state - which card widget stands for which socket, and where each lane is
scrolled.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable

from textual.app import ComposeResult
from textual.containers import Horizontal, VerticalScroll
from textual.widgets import Static

from sockviz.app.widgets.ladder import Ladder
from sockviz.app.widgets.mounting import mount_in_order
from sockviz.app.widgets.socket_card import SocketCard
from sockviz.view.fold import Changes
from sockviz.view.run_view import RunView

LANES = ("client", "server")


class Stage(Horizontal):
    """Lanes and ladder. See the module docstring."""

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.cards: dict[str, SocketCard] = {}
        """The card drawn for each socket of the view shown."""
        self._made: dict[str, SocketCard] = {}
        """Every card made for this run, shown or not: going back hides the cards of
        sockets not born yet, and coming forward shows them again (mounting a card costs
        far more than showing it)."""
        self._in_view: dict[str, SocketCard] = {}
        """The card each lane is (being) scrolled to: a newer one stops an older's retry."""
        self._waiting: dict[int, tuple[Callable[..., None], tuple[object, ...]]] = {}
        """Scrolls waiting for a refresh to give their card a place (see :attr:`placing`),
        by their turn's number."""
        self._turns = itertools.count()

    def compose(self) -> ComposeResult:
        for lane in LANES:
            with VerticalScroll(id=f"{lane}-lane", classes="lane") as box:
                box.border_title = lane
                yield Static(
                    f"The {lane}'s sockets appear here as they are created.", classes="lane-empty"
                )
            if lane == "client":
                yield Ladder(id="ladder")

    def lane(self, name: str) -> VerticalScroll:
        return self.query_one(f"#{name}-lane", VerticalScroll)

    # --- drawing a view -------------------------------------------------------------------
    def show(
        self,
        view: RunView,
        now: float | None,
        flash: Callable[[SocketCard], None],
        changes: Changes | None = None,
    ) -> None:
        """Draw ``view``'s cards at time ``now``: afresh (``changes`` None), or what
        ``changes`` says changed. ``flash`` draws a card that moved into a new state."""
        if changes is None:
            self._again(view, now)
            return
        for name in changes.removed:
            self._forget(name)
        self._make(view, [n for n in changes.added if n in view.models], now)
        for name in changes.changed:
            card = self.cards.get(name)
            if card is None:
                continue
            if name in changes.moved:
                flash(card)
            else:
                card.show(now)
        self._scroll(changes.scroll.values())

    def _forget(self, name: str) -> None:
        self.cards.pop(name, None)
        card = self._made.pop(name, None)
        if card is not None:
            card.remove()

    def _again(self, view: RunView, now: float | None) -> None:
        for name, card in self._made.items():
            if name not in view.models and card.display:
                card.display = False
        self.cards = {name: self._made[name] for name in view.models if name in self._made}
        for name, card in self.cards.items():
            card.model = view.models[name]
            if not card.display:
                card.display = True
            card.still(now)
        self._make(view, list(view.models), now)
        for lane in LANES:
            self._hint(lane, any(m.lane == lane for m in view.models.values()))
        self._scroll(view.lane_last.values())

    def flash_moved(
        self, before: RunView, view: RunView, flash: Callable[[SocketCard], None]
    ) -> None:
        """``view`` is one step after ``before``: the cards whose socket changed state
        between them move into it, as they did live."""
        for name, model in view.models.items():
            if (
                model.state is not None
                and name in self.cards
                and (name not in before.models or before.models[name].state is not model.state)
            ):
                flash(self.cards[name])

    def keep_only(self, view: RunView) -> None:
        """Let go of the cards ``view`` (the live one) has no socket for."""
        for name in [n for n in self._made if n not in view.models]:
            self._forget(name)

    def _make(self, view: RunView, names: list[str], now: float | None) -> None:
        """Cards for these sockets, each mounted in its lane in the view's order."""
        made = False
        for name in names:
            if name not in self.cards:
                card = SocketCard(view.models[name])
                card.show(now)
                self.cards[name] = self._made[name] = card
                made = True
        if not made:
            return
        for lane in LANES:
            cards = sorted(
                (card for card in self._made.values() if card.model.lane == lane),
                key=lambda card: card.model.born,
            )
            if any(card.parent is None for card in cards):
                mount_in_order(self.lane(lane), cards)  # (in the order the sockets were born)
                self._hint(lane, True)

    def _hint(self, lane: str, has_cards: bool) -> None:
        for hint in self.lane(lane).query(".lane-empty"):
            hint.display = not has_cards

    def tick(self, now: float | None, names: Iterable[str]) -> None:
        """Redraw these cards' countdowns for time ``now``."""
        for name in names:
            card = self.cards.get(name)
            if card is not None:
                card.show(now)

    # --- keeping the newest in sight -------------------------------------------------------
    def _scroll(self, names: Iterable[str]) -> None:
        for name in names:
            card = self.cards.get(name)
            if card is not None:
                lane = card.parent
                if isinstance(lane, VerticalScroll) and lane.id is not None:
                    self._in_view[lane.id] = card
                    self._scroll_when_placed(lane, card, tries=5)

    def on_resize(self) -> None:
        """A window made bigger or smaller lays the cards out anew (their lines wrap to the
        new width: a few refreshes, as each card learns its height), and a lane keeps its old
        offset: the card each lane was keeping in sight is brought back into it, again after
        each refresh until its place stops moving, and again after each card's late redrawing
        (:meth:`on_socket_card_relaid`)."""
        for lane_id, card in self._in_view.items():
            lane = card.parent
            if card.display and isinstance(lane, VerticalScroll) and lane.id == lane_id:
                self._after_refresh(self._keep_in_sight, lane, card, None, 10)

    def on_socket_card_relaid(self, message: SocketCard.Relaid) -> None:
        """A card drawn again for its new size, a refresh or more after the resize (its
        height can change then, and move the lane's newest card): that card is brought
        back into sight the same way - however many refreshes the redrawing took."""
        message.card.taken(message)
        lane = message.card.parent
        card = self._in_view.get(getattr(lane, "id", None) or "")
        if card is not None and card.parent is lane and card.display:
            self._after_refresh(self._keep_in_sight, lane, card, None, 10)

    def _keep_in_sight(
        self, lane: VerticalScroll, card: SocketCard, before: object, tries: int
    ) -> None:
        if lane.id is None or self._in_view.get(lane.id) is not card or not card.display:
            return
        place = (card.virtual_region, lane.virtual_size, lane.size)
        if card.virtual_region.size:
            lane.scroll_to_widget(card, animate=False)
        if place != before and tries:
            self._after_refresh(self._keep_in_sight, lane, card, place, tries - 1)

    def _scroll_when_placed(self, lane: VerticalScroll, card: SocketCard, tries: int) -> None:
        """A card mounted in this batch has no place in its lane yet (Textual's
        scroll_to_widget does nothing then): scroll to it once it has one, after a refresh
        or a few - unless a newer card was asked for meanwhile."""
        if lane.id is None or self._in_view.get(lane.id) is not card:
            return
        if card.virtual_region.size:
            lane.scroll_to_widget(card, animate=False)
        elif tries:
            self._after_refresh(self._scroll_when_placed, lane, card, tries - 1)

    def _after_refresh(self, scroll: Callable[..., None], *args: object) -> None:
        """``scroll(*args)`` after the next refresh. (Textual queues it on the screen on top:
        a screen closed before its next refresh - help, opened and closed at once - takes
        it away unrun, so it is kept here too, and asked for again when the run's screen
        is back on top.)"""
        turn = next(self._turns)
        self._waiting[turn] = (scroll, args)
        self.call_after_refresh(self._due, turn)

    def _due(self, turn: int) -> None:
        waiting = self._waiting.pop(turn, None)
        if waiting is not None:
            waiting[0](*waiting[1])

    def on_mount(self) -> None:
        self.app.screen_change_signal.subscribe(self, self._screen_changed)

    def _screen_changed(self, screen: object) -> None:
        """The run's screen on top again (help or a picker closed): what waited for a
        refresh meanwhile is asked for again (each runs once, whichever call comes first)."""
        if screen is self.screen:
            for turn in list(self._waiting):
                self.call_after_refresh(self._due, turn)
            for card in self._owing():
                card.call_after_refresh(card.relay)

    @property
    def placing(self) -> bool:
        """True while a lane waits to scroll to a card not placed yet: where a lane stands
        depends on each step's scroll having happened (it scrolls only as far as it must),
        so the screen is not settled until none waits - nor any card resized and not yet
        drawn again for its new size (its height, and so its lane's place, may change then:
        a burner CI run's settled screen had address-in-use's newest card cut after a
        resize, its neighbour's redrawing still to come)."""
        return bool(self._waiting) or any(True for _ in self._owing())

    def _owing(self) -> Iterable[SocketCard]:
        """The shown cards resized and not yet drawn again for it (and taken here)."""
        return (c for c in self.cards.values() if c.relay_due and c.is_attached)
