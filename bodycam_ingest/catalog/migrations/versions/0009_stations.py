"""stations (issue 12 item 1): station identity in the data

Every per-station table gets ``station_id`` (NOT NULL, indexed); the unique keys that were
catalog-wide become per station (a recording's digest, a log entry's ``seq``, a case's tier, one
chain head per station, an OS user, a scheduler job). Two new tables: ``stations`` (registration
and the running daemon's lease) and ``station_keys`` (published public keys).

Existing rows belong to the station that owned the catalog until now: its configured
``station.id`` is passed by the product (``config.attributes["station_id"]``, or ``-x
station_id=...`` by hand). A catalog holding rows with no id given refuses to migrate.

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context, op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

SCOPED = ("docks", "transfers", "recordings", "sightings", "events", "custody_chain_head",
          "custody_checkpoints", "custody_manifests", "custody_labels", "analysis_runs",
          "findings", "explanations", "retention_tier_changes", "retention_case_tiers",
          "retention_holds", "retention_policy_approvals", "retention_runs",
          "retention_deletion_manifests", "retention_tombstones", "retention_archives",
          "retention_replicas", "fixity_checks", "job_runs", "replications", "requests")
# their primary key becomes (station_id, ...): rebuilt as new tables
REKEYED = ("account_os_users", "scheduler_jobs")
# catalog-wide unique keys that become per station: table -> (old columns, new name)
PER_STATION = {"recordings": (["sha256"], "uq_recordings_station_sha256"),
               "events": (["seq"], "uq_events_station_seq"),
               "retention_case_tiers": (["case_number"], "uq_retention_case_tiers_station_case")}
CONVENTION = {"uq": "uq_%(table_name)s_%(column_0_name)s"}


class MissingStationId(RuntimeError):
    pass


def _station_id() -> str | None:
    given = context.config.attributes.get("station_id")
    if not given:
        given = context.get_x_argument(as_dictionary=True).get("station_id")
    return str(given) if given else None


def _has_rows(bind: sa.engine.Connection, table: str) -> bool:
    return bind.execute(sa.select(sa.literal(1)).select_from(sa.table(table)).limit(1)).first() \
        is not None


def _station_column(table: str) -> sa.TableClause:
    return sa.table(table, sa.column("station_id"))


def _unique_name(bind: sa.engine.Connection, table: str, columns: list[str]) -> str:
    """The stored name of the unique key on ``columns`` (PostgreSQL names them ``<t>_<c>_key``;
    SQLite keeps them unnamed, and batch mode then names them by ``CONVENTION``)."""
    for unique in sa.inspect(bind).get_unique_constraints(table):
        if unique["column_names"] == columns and unique["name"]:
            return str(unique["name"])
    return f"uq_{table}_{columns[0]}"


def upgrade() -> None:
    bind = op.get_bind()
    station = _station_id()
    if station is None and not _has_rows(bind, "events"):  # 0003's empty head (seq 0): made
        bind.execute(sa.text("DELETE FROM custody_chain_head"))  # again on first use
    holding = [t for t in (*SCOPED, *REKEYED) if _has_rows(bind, t)]
    if holding and station is None:
        raise MissingStationId(
            f"the catalog holds rows ({', '.join(holding[:3])}...) that must be given to a "
            "station: set station.id in the config and open the catalog with it "
            "(or run alembic with -x station_id=ID)")
    op.create_table(
        "stations",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("registered_at", sa.DateTime(), nullable=False),
        sa.Column("hostname", sa.String(length=255), nullable=False),
        sa.Column("key_id", sa.String(length=16), nullable=False),
        sa.Column("lease_host", sa.String(length=255), nullable=True),
        sa.Column("lease_boot_id", sa.String(length=64), nullable=True),
        sa.Column("lease_pid", sa.Integer(), nullable=True),
        sa.Column("lease_heartbeat", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "station_keys",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("station_id", sa.String(length=64), nullable=False),
        sa.Column("key_id", sa.String(length=16), nullable=False),
        sa.Column("public_pem", sa.Text(), nullable=False),
        sa.Column("published_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["station_id"], ["stations.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("station_id", "key_id", name="uq_station_keys_station_key"),
    )
    op.create_index("ix_station_keys_station_id", "station_keys", ["station_id"])
    for table in SCOPED:
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("station_id", sa.String(length=64), nullable=True))
        if station is not None:
            bind.execute(sa.update(_station_column(table)).values(station_id=station))
        old = PER_STATION.get(table)
        old_name = _unique_name(bind, table, old[0]) if old else None
        with op.batch_alter_table(table, naming_convention=CONVENTION) as batch:
            batch.alter_column("station_id", existing_type=sa.String(length=64), nullable=False)
            if old is not None and old_name is not None:
                batch.drop_constraint(old_name, type_="unique")
                batch.create_unique_constraint(old[1], ["station_id", *old[0]])
            if table == "custody_chain_head":
                batch.create_unique_constraint("uq_custody_chain_head_station", ["station_id"])
        op.create_index(f"ix_{table}_station_id", table, ["station_id"])
    if bind.dialect.name == "postgresql":
        # 0003 wrote the single head row with an explicit id 1, so the id sequence never moved:
        # the next station's head would take id 1 again (a duplicate key). Move it past the rows.
        bind.execute(sa.text("SELECT setval(pg_get_serial_sequence('custody_chain_head', 'id'), "
                             "COALESCE((SELECT MAX(id) FROM custody_chain_head), 0) + 1, false)"))
    _rekey_os_users(station)
    _rekey_scheduler_jobs(station)
    with op.batch_alter_table("accounts") as batch:  # roles limited to stations (None: all)
        batch.add_column(sa.Column("stations", sa.Text(), nullable=True))


def _rekey_os_users(station: str | None) -> None:
    op.drop_index("ix_account_os_users_account_id", table_name="account_os_users")
    op.rename_table("account_os_users", "_account_os_users_0008")
    op.create_table(
        "account_os_users",
        sa.Column("station_id", sa.String(length=64), nullable=False),
        sa.Column("os_user", sa.String(length=64), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"]),
        sa.PrimaryKeyConstraint("station_id", "os_user"),
    )
    op.create_index("ix_account_os_users_account_id", "account_os_users", ["account_id"])
    op.get_bind().execute(sa.text(
        "INSERT INTO account_os_users (station_id, os_user, account_id) "
        "SELECT :sid, os_user, account_id FROM _account_os_users_0008"), {"sid": station or ""})
    op.drop_table("_account_os_users_0008")


def _rekey_scheduler_jobs(station: str | None) -> None:
    op.drop_index("ix_scheduler_jobs_next_run_time", table_name="scheduler_jobs")
    op.rename_table("scheduler_jobs", "_scheduler_jobs_0008")
    op.create_table(
        "scheduler_jobs",
        sa.Column("station_id", sa.String(length=64), nullable=False),
        sa.Column("id", sa.String(length=191), nullable=False),
        sa.Column("next_run_time", sa.Float(precision=25), nullable=True),
        sa.Column("job_state", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("station_id", "id"),
    )
    op.create_index("ix_scheduler_jobs_next_run_time", "scheduler_jobs", ["next_run_time"])
    op.get_bind().execute(sa.text(
        "INSERT INTO scheduler_jobs (station_id, id, next_run_time, job_state) "
        "SELECT :sid, id, next_run_time, job_state FROM _scheduler_jobs_0008"),
        {"sid": station or ""})
    op.drop_table("_scheduler_jobs_0008")


def downgrade() -> None:
    """Back to one station per catalog: only a catalog that holds one station's rows."""
    bind = op.get_bind()
    stations = {row[0] for table in SCOPED for row in bind.execute(
        sa.select(_station_column(table).c.station_id).distinct())}
    if len(stations) > 1:
        raise RuntimeError(f"the catalog holds the rows of {len(stations)} stations; 0008 "
                           "keeps one station per catalog")
    with op.batch_alter_table("accounts") as batch:
        batch.drop_column("stations")
    for table in ("account_os_users", "scheduler_jobs"):
        with op.batch_alter_table(table, recreate="always") as batch:
            batch.drop_column("station_id")
    for table in SCOPED:
        op.drop_index(f"ix_{table}_station_id", table_name=table)
        old = PER_STATION.get(table)
        with op.batch_alter_table(table) as batch:
            if old is not None:
                batch.drop_constraint(old[1], type_="unique")
                batch.create_unique_constraint(f"uq_{table}_{old[0][0]}", old[0])
            if table == "custody_chain_head":
                batch.drop_constraint("uq_custody_chain_head_station", type_="unique")
            batch.drop_column("station_id")
    op.drop_index("ix_station_keys_station_id", table_name="station_keys")
    op.drop_table("station_keys")
    op.drop_table("stations")
