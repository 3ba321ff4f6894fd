"""``python -m sockviz`` runs the command line, exactly as the ``sockviz`` script does."""

from sockviz.cli import main

raise SystemExit(main())
