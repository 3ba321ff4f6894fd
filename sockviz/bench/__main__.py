"""``python -m sockviz.bench``: print the side-by-side table (see :mod:`sockviz.bench`)."""

from sockviz.bench.bench_table import run_main

run_main()
