"""The engine: real sockets, the kernel's view of them, the wire, the lab, and runs kept as text.

Standard library only (never Textual or Rich). At the top: the lifecycle table
(:mod:`~sockviz.engine.states`), the events every room emits or reads
(:mod:`~sockviz.engine.events`), the address families, the payload preview, and the words and
questions about a call. The rooms: ``sockets`` (the traced call), ``kernel`` (the kernel's
own state), ``wire`` (the captured packets), ``lab`` (two hosts and a link), ``run`` (gate,
runners, engine process, replay), ``record`` (the trace's JSON Lines) and ``scenarios``.
"""
