"""Catalog tables of the custody part (they share Base with catalog.models; Alembic sees both)."""

from __future__ import annotations

from bodycam_ingest.catalog.models import Base

__all__ = ["Base"]
