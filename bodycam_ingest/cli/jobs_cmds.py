"""CLI commands: jobs, fixity scrub, catalog backup, deadline check (issue 5)."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add this part's commands to the main app."""
