"""The database: its engine, its tables, and their migrations (Alembic).

SQLite (the default, one file) and PostgreSQL are both first-class; nothing outside this module
and store.py knows which one is in use.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    Engine,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    create_engine,
    event,
)
from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.types import TypeDecorator

from monitor.errors import StoreError


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in, aware UTC datetimes out, on SQLite (which keeps no zone) too."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("naive datetime given to the store")
        return value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value


metadata = MetaData()

cycles = Table(
    "cycles",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("started_at", UTCDateTime, nullable=False),
    Column("finished_at", UTCDateTime),
    Column("outcome", String(32)),
    # How the registry was read: full | incremental | unchanged (added in revision 0003).
    Column("mode", String(16)),
    Column("data_timestamp", String(32)),
    Column("requests", Integer, nullable=False, default=0),
    Column("bytes_received", Integer, nullable=False, default=0),
    Column("trials_checked", Integer, nullable=False, default=0),
    Column("changes_found", Integer, nullable=False, default=0),
    Column("error", Text),
)

trials = Table(
    "trials",
    metadata,
    Column("nct_id", String(16), primary_key=True),
    Column("origin", String(200), nullable=False),
    Column("first_seen_at", UTCDateTime, nullable=False),
    Column("latest_snapshot_id", Integer),
    # Revision 0008: the record this id became an alias of (the monitor follows that one), and
    # when the trial was last read in a way that would have noticed it vanish.
    Column("listed_under", String(16)),
    Column("last_full_read_at", UTCDateTime),
)

snapshots = Table(
    "snapshots",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("nct_id", String(16), nullable=False),
    Column("cycle_id", Integer, ForeignKey("cycles.id"), nullable=False),
    Column("observed_at", UTCDateTime, nullable=False),
    Column("found", Boolean, nullable=False),
    Column("title", Text),
    Column("status", String(40)),
    Column("last_known_status", String(40)),  # revision 0008, as are aliases
    Column("why_stopped", Text),
    Column("enrollment_count", Integer),
    Column("enrollment_type", String(20)),
    Column("has_results", Boolean, nullable=False),
    Column("results_first_posted", String(10)),
    Column("primary_completion_date", String(10)),
    Column("primary_completion_type", String(20)),
    Column("last_update_posted", String(10)),
    Column("publications", Text, nullable=False),
    Column("phases", String(60)),  # added in revision 0004, as was completion_date
    Column("completion_date", String(10)),
    Column("aliases", Text),  # "NCT01234567|NCT07654321"
    Column("raw", Text),
    Index("ix_snapshots_nct_id", "nct_id", "id"),
)

searches = Table(
    "searches",
    metadata,
    Column("term", String(1000), primary_key=True),
    Column("name", String(200), nullable=False),
    # None until the search first runs to its last page (revision 0008: a search the registry
    # refuses from the start has a row, for its refusal, before it has a baseline).
    Column("baseline_at", UTCDateTime),
    # Revision 0008: when the search last ran without a date filter, and why the registry
    # refuses it (None while it answers).
    Column("last_full_at", UTCDateTime),
    Column("refused", Text),
)

search_hits = Table(
    "search_hits",
    metadata,
    Column("term", String(1000), primary_key=True),
    Column("nct_id", String(16), primary_key=True),
    Column("first_seen_at", UTCDateTime, nullable=False),
)

deliveries = Table(
    "deliveries",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("started_at", UTCDateTime, nullable=False),
    Column("finished_at", UTCDateTime),
    # sending → sent | failed | abandoned (claim expired after a crash)
    Column("state", String(16), nullable=False),
    Column("transport", String(16), nullable=False),
    Column("cycle_id", Integer),  # added in revision 0005, as were recipients and dispatches
    Column("recipients", Text),
    # host:pid of the process sending it (revision 0007): a claim whose process is gone is
    # given back at once instead of after STALE_CLAIM.
    Column("claimed_by", String(300)),
    Column("message_id", String(200)),
    Column("subject", Text),
    Column("location", Text),
    Column("error", Text),
)

changes = Table(
    "changes",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("cycle_id", Integer, ForeignKey("cycles.id"), nullable=False),
    Column("snapshot_id", Integer, ForeignKey("snapshots.id"), nullable=False),
    Column("nct_id", String(16), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("before", Text),
    Column("after", Text),
    Column("detail", Text),
    Column("detected_at", UTCDateTime, nullable=False),
    Index("ix_changes_nct_id", "nct_id"),
)

# Who is to get each change, and by which delivery. A change gets its rows when it is first
# delivered (routing may send it to several desks); each row is claimed by one delivery only.
dispatches = Table(
    "dispatches",
    metadata,
    Column("change_id", Integer, ForeignKey("changes.id"), primary_key=True),
    Column("recipient", String(320), primary_key=True),  # "" = the outbox, addressed to no one
    Column("delivery_id", Integer, ForeignKey("deliveries.id")),
    Index("ix_dispatches_delivery_id", "delivery_id"),
)


# Added in revision 0002.
notices = Table(
    "notices",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("kind", String(16), nullable=False),  # a journal.NoticeKind
    Column("cycle_id", Integer, ForeignKey("cycles.id"), nullable=False),
    Column("sent_at", UTCDateTime, nullable=False),
    Column("recipients", Text, nullable=False),
)

services = Table(
    "services",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("started_at", UTCDateTime, nullable=False),
    Column("host", String(255), nullable=False),
    Column("pid", Integer, nullable=False),
)


# Added in revision 0004: whether each article claim agreed with the registry when last judged,
# so that a contradiction is reported when it appears and when it is resolved, not every time.
claim_states = Table(
    "claim_states",
    metadata,
    Column("trial", String(16), primary_key=True),
    Column("field", String(32), primary_key=True),
    Column("expected", String(100), nullable=False),
    Column("agrees", Boolean, nullable=False),
    Column("registry_value", String(100)),
    Column("judged_at", UTCDateTime, nullable=False),
)


# Added in revision 0006: a cycle whose digest the sanity gate held until an operator releases
# it (or discards its changes as false).
holds = Table(
    "holds",
    metadata,
    Column("cycle_id", Integer, ForeignKey("cycles.id"), primary_key=True),
    Column("reason", Text, nullable=False),
    Column("held_at", UTCDateTime, nullable=False),
    Column("released_at", UTCDateTime),
    Column("discarded", Boolean, nullable=False, default=False),
)


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        return _sqlite_engine(url)
    return create_engine(url, pool_pre_ping=True)


def _sqlite_engine(url: str) -> Engine:
    path = url.split("///", 1)[1] if "///" in url else ""
    if path and not path.startswith(":"):
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"timeout": 60})

    # pysqlite's own transaction handling starts transactions lazily, which lets two processes
    # both read and then deadlock on the upgrade to a write lock. Take the write lock up front.
    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        dbapi_connection.execute("PRAGMA foreign_keys = ON")
        if path and not path.startswith(":"):
            dbapi_connection.execute("PRAGMA journal_mode = WAL")

    @event.listens_for(engine, "begin")
    def _begin(connection: Connection) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


def migrate(engine: Engine, revision: str = "head") -> None:
    """Bring the schema to `revision` (the newest by default); a no-op when it is there."""
    config = _alembic_config()
    with engine.connect() as conn:
        sqlite = engine.dialect.name == "sqlite"
        if sqlite:
            # SQLite changes a table by copying it; with foreign keys enforced, dropping the old
            # copy would fail. The pragma only works outside a transaction, hence the raw call.
            conn.connection.driver_connection.execute("PRAGMA foreign_keys = OFF")  # type: ignore[union-attr]
        try:
            with conn.begin():
                config.attributes["connection"] = conn
                command.upgrade(config, revision)
                if sqlite:
                    broken = conn.exec_driver_sql("PRAGMA foreign_key_check").first()
                    if broken is not None:
                        raise StoreError(f"the migration left a broken reference: {tuple(broken)}")
        finally:
            if sqlite:
                conn.connection.driver_connection.execute("PRAGMA foreign_keys = ON")  # type: ignore[union-attr]


def schema_revision(engine: Engine) -> tuple[str | None, str]:
    """(the database's revision, the newest this code knows)."""
    with engine.connect() as conn:
        current = MigrationContext.configure(conn).get_current_revision()
    head = ScriptDirectory.from_config(_alembic_config()).get_current_head()
    assert head is not None
    return current, head


def require_current_schema(engine: Engine) -> None:
    current, head = schema_revision(engine)
    if current != head:
        raise StoreError(
            f"the database is at schema revision {current or 'none'}, this version needs {head}:"
            " run `trial-monitor migrate` (or set database.auto_migrate = true)"
        )


def _alembic_config() -> AlembicConfig:
    config = AlembicConfig()
    config.set_main_option("script_location", "monitor:migrations")
    return config
