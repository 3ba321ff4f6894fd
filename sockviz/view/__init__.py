"""The view of a run: the run as plain data, folded from the engine's events (no Textual).

:mod:`~sockviz.view.run_view` says what a run looks like at one moment (:class:`RunView`),
:mod:`~sockviz.view.fold` folds one event into it, :mod:`~sockviz.view.history` keeps the
events and gives the view at any moment, :mod:`~sockviz.view.words` says each call the one
way the screen and the exports both say it, and :mod:`~sockviz.view.quiz_state` keeps predict
mode's score.
"""
