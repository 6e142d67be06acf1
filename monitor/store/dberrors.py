"""A failed database in words: what is wrong (not writable, full, damaged, newer than this
version) and what to do about it, as the one line a command prints. Translated once, at the
edge (cli.py's `_database`, and db.py's hook for rows that will not decode)."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from sqlalchemy.engine import URL, make_url

from monitor.core.errors import StoreError, first_line


def database_error(exc: BaseException, url: str) -> StoreError:
    """The one line for a failed database: what is wrong, and what to do about it.

    `exc` is a SQLAlchemy error (its driver's error inside) or the UnicodeDecodeError of a row
    that will not decode. A failure not recognised here keeps the driver's own first line.
    """
    where = make_url(url)
    cause = getattr(exc, "orig", None) or exc
    if where.get_backend_name() == "sqlite":
        known = _sqlite_failure(cause, where.database)
    else:
        known = _postgres_failure(cause, where)
    return StoreError(known or f"database error: {first_line(cause)}")


def _sqlite_failure(cause: BaseException, database: str | None) -> str | None:
    file = Path(database).absolute() if database and not database.startswith(":") else None
    name = f"the database {file}" if file else "the in-memory database"
    reason = first_line(cause)
    # The driver reports an undecodable text as an OperationalError of its own, without a code.
    if isinstance(cause, UnicodeDecodeError) or reason.startswith("Could not decode to UTF-8"):
        return _damaged(name, "a stored text is not valid UTF-8")
    code = getattr(cause, "sqlite_errorcode", -1) & 0xFF  # the primary code of an extended one
    if code in (sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB):
        return _damaged(name, reason)
    if code in (sqlite3.SQLITE_FULL, sqlite3.SQLITE_IOERR):
        # An I/O error is how a full disk usually shows: SQLite cannot grow its -shm or -wal.
        return _full(f"the disk holding {file or 'the database'}", "free space")
    if code in (sqlite3.SQLITE_READONLY, sqlite3.SQLITE_CANTOPEN) and file is not None:
        return _unwritable(file)
    return None


def _unwritable(file: Path) -> str | None:
    if not os.access(file.parent, os.W_OK | os.X_OK):
        # Writable file, read-only folder: in WAL mode even a reader must create -wal and -shm.
        return (
            f"the database folder {file.parent} is not writable: SQLite keeps its journal beside"
            f" {file.name}; let the monitor's user write there"
        )
    if file.exists() and not os.access(file, os.R_OK | os.W_OK):
        return f"the database file {file} is read-only: let the monitor's user write it"
    return None


def _postgres_failure(cause: BaseException, where: URL) -> str | None:
    # Named without the URL, which may carry the password.
    name = f"the PostgreSQL database {where.database} on {where.host or 'the local socket'}"
    state = getattr(cause, "sqlstate", None)
    if state == "53100":  # disk_full
        return _full(f"the disk holding {name}", "free space on the server")
    if state in ("XX001", "XX002") or isinstance(cause, UnicodeDecodeError):
        # data_corrupted, index_corrupted
        return _damaged(name, first_line(cause), "restore a backup, or start afresh")
    return None


def _damaged(
    name: str, reason: str, remedy: str = "move it aside and restore a backup, or start afresh"
) -> str:
    return f"{name} is damaged ({reason}): {remedy}"


def _full(disk: str, remedy: str) -> str:
    # A failed write rolls its transaction back whole, so the data before it stands.
    return f"{disk} is full (or failing): {remedy}, then run the command again; nothing was lost"
