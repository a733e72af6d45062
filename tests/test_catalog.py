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
