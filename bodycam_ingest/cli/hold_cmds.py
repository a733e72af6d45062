"""CLI commands: retain, hold add | release | list (issue 5); registered on the main app by cli.app."""

from __future__ import annotations

from typing import Any

import typer
from sqlalchemy.orm import Session

from bodycam_ingest.catalog.models import Recording


def register(app: typer.Typer) -> None:
    """Add this part's commands to the main app."""


def show_pairs(session: Session, recording: Recording) -> list[tuple[str, Any]]:
    """Extra (field, value) rows for `bodycam show`: tier, holds, retention state."""
    return []
