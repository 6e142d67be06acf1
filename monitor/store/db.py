"""The database: its engine, its tables, and their migrations (Alembic).

SQLite (the default, one file) and PostgreSQL are both first-class; nothing outside this module
and store.py knows which one is in use. `database_error` turns a failure of either into the one
line an operator reads: what is wrong with the database and what to do about it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import (
    Boolean,
    CheckConstraint,
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
    inspect,
    text,
)
from sqlalchemy.engine import Connection, Dialect, ExceptionContext
from sqlalchemy.types import TypeDecorator

from monitor.core.errors import StoreError
from monitor.store.dberrors import database_error


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
    # Revision 0010: what a new trial is shown with, and compared to the articles' trials by.
    Column("conditions", Text),  # JSON lists, as publications
    Column("interventions", Text),
    Column("sponsor", Text),
    Column("start_date", String(10)),
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
    # Revision 0011: a change about a paper no trial is known for has neither.
    Column("snapshot_id", Integer, ForeignKey("snapshots.id")),
    Column("nct_id", String(16)),
    Column("pmid", String(16)),  # the paper a change is about, when it is about one
    Column("kind", String(32), nullable=False),
    Column("before", Text),
    Column("after", Text),
    Column("detail", Text),
    Column("detected_at", UTCDateTime, nullable=False),
    Index("ix_changes_nct_id", "nct_id"),
    Index("ix_changes_pmid", "pmid"),
)

# PubMed's side (revision 0011): what PubMed last said of each paper read, each PubMed search
# the monitor runs (a cited trial's `NCT…[si]`, a saved literature search) and what it found.
papers = Table(
    "papers",
    metadata,
    Column("pmid", String(16), primary_key=True),
    Column("title", Text),
    Column("journal", Text),
    Column("year", String(4)),
    Column("publication_types", Text, nullable=False),  # JSON lists, as in snapshots
    Column("nct_ids", Text, nullable=False),
    Column("conclusion", Text),
    Column("notices", Text, nullable=False),  # [[RefType, PMID or null, source], ...]
    Column("status", String(40)),
    Column("first_seen_at", UTCDateTime, nullable=False),
    Column("fetched_at", UTCDateTime, nullable=False),
)

literature_terms = Table(
    "literature_terms",
    metadata,
    Column("term", String(1000), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("baseline_at", UTCDateTime, nullable=False),  # its first run: silent
    Column("last_run_at", UTCDateTime, nullable=False),  # the next run's window starts here
    # How PubMed read the term last time: if its mapping changes, counts change with no paper.
    Column("translation", Text),
)

literature_hits = Table(
    "literature_hits",
    metadata,
    Column("term", String(1000), primary_key=True),
    Column("pmid", String(16), primary_key=True),
    Column("first_seen_at", UTCDateTime, nullable=False),
)


# Who is to get each change, and by which delivery. A change gets its rows when it is first
# delivered (routing may send it to several desks); each row is claimed by one delivery only.
dispatches = Table(
    "dispatches",
    metadata,
    Column("change_id", Integer, ForeignKey("changes.id"), primary_key=True),
    Column("recipient", String(320), primary_key=True),  # "" = the outbox, addressed to no one
    Column("delivery_id", Integer, ForeignKey("deliveries.id")),
    # Revision 0009: the mail server's answer when it refused this recipient for good (their
    # copy is not sent again); None when delivered, or not yet.
    Column("refused", Text),
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
    # Revision 0010: each article's claims apart ("" for the unnamed article).
    Column("article", String(1000), primary_key=True),
    Column("trial", String(16), primary_key=True),
    Column("field", String(32), primary_key=True),
    Column("expected", String(100), nullable=False),
    Column("agrees", Boolean, nullable=False),
    Column("registry_value", String(100)),
    Column("judged_at", UTCDateTime, nullable=False),
)

# Added in revision 0010: each article the monitor has given its first look (the article
# check), and this installation's own id, for Message-IDs no other monitor makes.
articles = Table(
    "articles",
    metadata,
    Column("key", String(1000), primary_key=True),
    Column("title", Text, nullable=False),
    Column("checked_at", UTCDateTime),
)

installation = Table(
    "installation",
    metadata,
    Column(
        "singleton", Integer, CheckConstraint("singleton = 1"), primary_key=True
    ),  # one row only
    Column("id", String(32), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
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
        engine = _sqlite_engine(url)
    else:
        engine = create_engine(url, pool_pre_ping=True)

    # A driver that decodes text itself raises UnicodeDecodeError, which SQLAlchemy passes on
    # unwrapped; only here is it known to come from the database's rows and not from a bug.
    @event.listens_for(engine, "handle_error")
    def _undecodable(context: ExceptionContext) -> BaseException | None:
        if isinstance(context.original_exception, UnicodeDecodeError):
            return database_error(context.original_exception, url)
        return None

    return engine


def _sqlite_engine(url: str) -> Engine:
    path = url.split("///", 1)[1] if "///" in url else ""
    if path and not path.startswith(":"):
        _make_folder(Path(path).absolute().parent)
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


def _make_folder(folder: Path) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StoreError(
            f"the database folder {folder} cannot be created ({_os_reason(exc)}): create it, or"
            " set database.url to a folder the monitor's user can write"
        ) from exc


def _os_reason(exc: OSError) -> str:
    if isinstance(exc, FileExistsError | NotADirectoryError):
        return "a file is in the way of the folder or of one above it"
    return (exc.strerror or type(exc).__name__).lower()


# Every revision in monitor/store/migrations/versions, oldest first (a test checks this against
# Alembic's own list). Knowing them here lets a command whose database is current start without
# importing Alembic, which costs more than the rest of a no-op cycle.
REVISIONS = (
    *("0001", "0002", "0003", "0004", "0005", "0006", "0007", "0008", "0009", "0010"),
    "0011",
)
HEAD = REVISIONS[-1]


def current_revision(engine: Engine) -> str | None:
    """The database's schema revision (Alembic's own table), or None when it has no schema."""
    with engine.connect() as conn:
        if not inspect(conn).has_table("alembic_version"):
            return None
        return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()


def ensure_schema(engine: Engine, *, auto_migrate: bool) -> None:
    """The schema this version needs: made or brought up to date when `auto_migrate`, else
    checked. A current schema costs one query."""
    current = current_revision(engine)
    _refuse_newer(current)
    if current == HEAD:
        return
    if auto_migrate:
        migrate(engine)
        return
    raise StoreError(
        f"the database is at schema revision {current or 'none'}, this version needs {HEAD}:"
        " run `trial-monitor migrate` (or set database.auto_migrate = true)"
    )


def migrate(engine: Engine, revision: str = "head") -> None:
    """Bring the schema to `revision` (the newest by default); a no-op when it is there."""
    from alembic import command  # only when a migration is due: see REVISIONS
    from alembic.migration import MigrationContext

    config = _alembic_config()
    with engine.connect() as conn:
        sqlite = engine.dialect.name == "sqlite"
        if sqlite:
            # SQLite changes a table by copying it; with foreign keys enforced, dropping the old
            # copy would fail. The pragma only works outside a transaction, hence the raw call.
            conn.connection.driver_connection.execute("PRAGMA foreign_keys = OFF")  # type: ignore[union-attr]
        try:
            with conn.begin():
                _refuse_newer(MigrationContext.configure(conn).get_current_revision())
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
    return current_revision(engine), HEAD


def _refuse_newer(current: str | None) -> None:
    """A revision this code has no script for was stamped by a newer monitor (Alembic would
    only say that it cannot locate it); going on would mangle the newer schema."""
    if current is None or current in REVISIONS:
        return
    raise StoreError(
        f"the database is at schema revision {current}, newer than this version knows"
        f" (newest {HEAD}): run the newer trial-monitor, or restore a backup taken before it"
    )


def _alembic_config() -> Any:
    from alembic.config import Config as AlembicConfig

    config = AlembicConfig()
    config.set_main_option("script_location", "monitor.store:migrations")
    return config
