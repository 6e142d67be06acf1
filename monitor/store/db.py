"""The database: its engine, and its schema's migrations (Alembic); the tables are in schema.py.

SQLite (the default, one file) and PostgreSQL are both first-class; nothing outside the store's
queries knows which one is in use. `database_error` turns a failure of either into the one
line an operator reads: what is wrong with the database and what to do about it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, inspect, text
from sqlalchemy.engine import Connection, ExceptionContext

from monitor.core.errors import StoreError, without_password
from monitor.store.dberrors import database_error


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


def sqlite_file(url: str) -> Path | None:
    """The file a SQLite URL names; None for another database, or one in memory."""
    path = url.split("///", 1)[1] if url.startswith("sqlite") and "///" in url else ""
    return Path(path).absolute() if path and not path.startswith(":") else None


def open_existing(url: str) -> Engine:
    """The engine of a database that is already there, with a schema: what a read-only
    command opens. Where there is none it says which it looked for, and makes nothing (not
    even a SQLite file or its folder), so that a command run from the wrong folder does not
    report on an empty database of its own making."""
    file = sqlite_file(url)
    where = str(file) if file is not None else without_password(url)
    missing = StoreError(
        f"no database at {where} (database.url): this command reads one and never makes"
        " one; check database.url and the folder it is run from, or run `trial-monitor"
        " check` first"
    )
    if file is not None and not file.is_file():
        raise missing
    engine = make_engine(url)
    if current_revision(engine) is None:
        engine.dispose()
        raise missing
    return engine


def _sqlite_engine(url: str) -> Engine:
    file = sqlite_file(url)
    if file is not None:
        _make_folder(file.parent)
    engine = create_engine(url, connect_args={"timeout": 60})

    # pysqlite's own transaction handling starts transactions lazily, which lets two processes
    # both read and then deadlock on the upgrade to a write lock. Take the write lock up front.
    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        dbapi_connection.execute("PRAGMA foreign_keys = ON")
        if file is not None:
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
    *("0011", "0012", "0013", "0014", "0015", "0016"),
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
