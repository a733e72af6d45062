"""CLI commands: retention plan | run | approve (issue 5); registered on the main app by cli.app."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add this part's commands to the main app."""
