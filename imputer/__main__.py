"""``python -m imputer``: the same command line as the ``imputer`` console script."""

from imputer.cli import main

raise SystemExit(main())
