"""``python -m vtlab`` runs the ``vtlab`` command."""

from .cli import main

raise SystemExit(main())
