"""``python -m bodycam_ingest`` runs the ``bodycam`` CLI."""

from bodycam_ingest.cli.entry import main

main()
