"""The catalog opens fast when its schema is current, and migrates when it is not."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from bodycam_ingest.catalog.db import current_revision, head_revision, open_catalog, schema_head


def test_the_head_read_from_the_files_is_alembics_head() -> None:
    assert schema_head() == head_revision()


def test_a_new_catalog_is_migrated_to_the_head(tmp_path: Path) -> None:
    catalog = open_catalog(f"sqlite:///{tmp_path / 'c.sqlite3'}", lock_dir=tmp_path)
    try:
        assert current_revision(catalog) == schema_head()
    finally:
        catalog.close()


def test_a_current_catalog_opens_without_loading_alembic(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'c.sqlite3'}"
    open_catalog(url, lock_dir=tmp_path).close()
    probe = ("import sys; from bodycam_ingest.catalog.db import open_catalog; "
             f"open_catalog({url!r}).close(); print('alembic' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == "False"


def test_the_migrations_build_exactly_the_schema_the_models_declare(tmp_path: Path) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    import bodycam_ingest.catalog.access_models
    import bodycam_ingest.catalog.analysis_models
    import bodycam_ingest.catalog.custody_models
    import bodycam_ingest.catalog.retention_models
    import bodycam_ingest.catalog.storage_models  # noqa: F401  (their tables join Base.metadata)
    from bodycam_ingest.catalog.models import Base

    catalog = open_catalog(f"sqlite:///{tmp_path / 'c.sqlite3'}", lock_dir=tmp_path)
    try:
        with catalog.engine.connect() as connection:
            diff = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    finally:
        catalog.close()
    assert diff == []


def test_an_older_catalog_gets_retention_columns_with_the_clock_start_backfilled(
        tmp_path: Path) -> None:
    import sqlite3

    from alembic import command

    from bodycam_ingest.catalog.db import _alembic_config, schema_head

    url = f"sqlite:///{tmp_path / 'c.sqlite3'}"
    open_catalog(url, lock_dir=tmp_path).close()
    with sqlite3.connect(tmp_path / "c.sqlite3") as db:
        db.execute("DELETE FROM alembic_version")
    cfg = _alembic_config()
    catalog = open_catalog(url, lock_dir=tmp_path, migrate=False)
    with catalog.engine.begin() as connection:
        cfg.attributes["connection"] = connection
        connection.exec_driver_sql(f"INSERT INTO alembic_version VALUES ('{schema_head()}')")
        command.downgrade(cfg, "0003")
        connection.exec_driver_sql(
            "INSERT INTO docks (id, camera_rule, trigger, source, actor, host, pid, lock_token, "
            "started_at, updated_at, files_total, files_done, files_skipped, files_rejected, "
            "files_failed, files_wiped, bytes_total, bytes_done) VALUES (1, 'r', 'cli', 's', 'a', "
            "'h', 1, 't', '2024-01-01 00:00:00', '2024-01-01 00:00:00', 0,0,0,0,0,0,0,0)")
        for ident, start, duration in ((1, "2024-01-01 09:00:00", 600.0), (2, None, None),
                                       (3, "2024-01-01 09:55:00", 600.0)):
            connection.exec_driver_sql(
                "INSERT INTO recordings (id, sha256, size, store_path, first_dock_id, camera_path, "
                "ingested_at, start_utc, duration_s, zone, status) VALUES (?, ?, 1, 'p', 1, 'c', "
                "'2024-01-01 10:00:00', ?, ?, 'UTC', 'ok')",
                (ident, f"{ident:064x}", start, duration))
    catalog.close()
    open_catalog(url, lock_dir=tmp_path, station_id="s1").close()  # 0009 gives the rows to s1
    with sqlite3.connect(tmp_path / "c.sqlite3") as db:
        rows = db.execute("SELECT id, tier, clock_start FROM recordings ORDER BY id").fetchall()
    assert [(i, t, c[:19]) for i, t, c in rows] == [
        (1, "standard", "2024-01-01 10:00:00"),  # ended 09:10, ingested 10:00: the ingest
        (2, "standard", "2024-01-01 10:00:00"),  # no end known: the ingest
        (3, "standard", "2024-01-01 10:05:00")]  # camera clock ahead: the end
