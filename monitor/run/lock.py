"""One cycle at a time across processes and replicas sharing a database.

PostgreSQL: a session-level advisory lock, released by the server if the process dies. SQLite: an
exclusive flock on a file beside the database, released by the kernel if the process dies. The
store is safe against overlapping cycles without it; the lock is what keeps replicas from doing
the same work twice and lets them say so.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Engine, text

# Any fixed number, the same for every process of this application; the second key is the
# schema, so that monitors kept in separate schemas of one database do not block each other.
ADVISORY_LOCK_KEY = 0x7472_6D6F  # "trmo"
_LOCK = "SELECT pg_try_advisory_lock(:key, hashtext(current_schema()))"
_UNLOCK = "SELECT pg_advisory_unlock(:key, hashtext(current_schema()))"


@contextmanager
def cycle_lock(engine: Engine) -> Iterator[bool]:
    """Yields True when this process holds the lock, False when another cycle is running."""
    if engine.dialect.name == "postgresql":
        with _advisory_lock(engine) as held:
            yield held
    else:
        with _file_lock(engine.url.database) as held:
            yield held


@contextmanager
def _advisory_lock(engine: Engine) -> Iterator[bool]:
    with engine.connect() as conn:
        held = bool(conn.execute(text(_LOCK), {"key": ADVISORY_LOCK_KEY}).scalar_one())
        conn.commit()  # the lock belongs to the session, not to this transaction
        try:
            yield held
        finally:
            if held:
                conn.execute(text(_UNLOCK), {"key": ADVISORY_LOCK_KEY})
                conn.commit()


@contextmanager
def _file_lock(database: str | None) -> Iterator[bool]:
    if not database or database.startswith(":") or database.startswith("file:"):
        yield True  # an in-memory database belongs to one process anyway
        return
    path = Path(database).with_name(Path(database).name + ".lock")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
