"""``python -m sockviz.bench``: sockviz measured side by side with plain sockets, as ratios.

The main table is :mod:`~sockviz.bench.bench_table`; the flood, link, TUI and view rows
have a module each.
"""
