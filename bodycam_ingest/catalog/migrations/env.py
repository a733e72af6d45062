"""Alembic environment: migrations run on the connection the product hands over (see catalog.db)."""

from __future__ import annotations

from alembic import context

import bodycam_ingest.catalog.access_models
import bodycam_ingest.catalog.analysis_models
import bodycam_ingest.catalog.custody_models
import bodycam_ingest.catalog.retention_models
import bodycam_ingest.catalog.storage_models  # noqa: F401  (their tables join Base.metadata)
from bodycam_ingest.catalog.models import Base

config = context.config
connection = config.attributes.get("connection")
if connection is None:  # pragma: no cover - only `alembic` run by hand without the product
    raise RuntimeError("run migrations through bodycam_ingest.catalog.db.migrate()")

context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=True,  # SQLite cannot ALTER most things; batch mode rebuilds tables safely
    compare_type=True,
    transactional_ddl=True,  # a migration is all or nothing, even when killed half-way
)
with context.begin_transaction():
    context.run_migrations()
