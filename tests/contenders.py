"""Contenders in a cross-process race (racer.py runs each), and the hold that makes them all
ready before any can write: used by test_store.py (a change recorded once, claimed by one
sender) and test_worklist_race.py (a finding's state changed by many editors at once).

While they start, another connection holds the rows they will write locked, so every contender
reads the same state before any of them can write: on PostgreSQL each then blocks at its lock
or conditional UPDATE; on SQLite the monitor takes the write lock at BEGIN (db.py), so the
contenders queue up before they read.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from sqlalchemy import Engine, text

ROOT = Path(__file__).resolve().parents[1]
RACER = Path(__file__).resolve().parent / "racer.py"
CONTENDERS = 5


def race(
    work: str, engine: Engine, locked: str, args: Callable[[int], list[str]] = lambda _: []
) -> list[object]:
    """Run `work` (racer.py) in CONTENDERS processes that all read before any can write; the
    n-th is given `args(n)` besides."""
    url = engine.url.render_as_string(hide_password=False)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(RACER.parent)])}
    with _held(engine, locked) as wait_for_contenders:
        processes = [
            subprocess.Popen(
                [sys.executable, str(RACER), work, url, *args(n)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                env=env,
            )
            for n in range(CONTENDERS)
        ]
        for process in processes:
            assert process.stdout is not None
            assert process.stdout.readline().strip() == "ready", process.communicate()
        wait_for_contenders(CONTENDERS)
    results = []
    for process in processes:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert line, process.communicate()
        results.append(json.loads(line))
    for process in processes:
        _, err = process.communicate(input="", timeout=60)
        assert process.returncode == 0, err
    return results


@contextlib.contextmanager
def _held(engine: Engine, table: str) -> Iterator[Callable[[int], None]]:
    """Hold `table`'s rows locked; yields a wait for that many contenders to be stuck on it."""
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            conn.execute(text(f"SELECT * FROM {table} FOR UPDATE"))
            yield lambda count: _until_waiting(engine, count)
            conn.commit()
        return
    # SQLite locks the whole file for writing; a plain connection, so that the monitor's own
    # way of beginning (BEGIN IMMEDIATE, db.py) plays no part in the hold.
    holder = sqlite3.connect(str(engine.url.database), isolation_level=None)
    try:
        holder.execute("BEGIN IMMEDIATE")
        yield lambda count: time.sleep(1.0)  # each has read, or waits at its BEGIN
        holder.execute("COMMIT")
    finally:
        holder.close()


def _until_waiting(engine: Engine, count: int) -> None:
    """Until `count` PostgreSQL sessions wait for a lock (the tests run one at a time)."""
    waiting = text(
        "SELECT count(*) FROM pg_stat_activity"
        " WHERE wait_event_type = 'Lock' AND datname = current_database()"
    )
    deadline = time.monotonic() + 60
    with engine.connect() as watcher:
        while watcher.execute(waiting).scalar_one() < count:
            assert time.monotonic() < deadline, "the contenders never reached the lock"
            time.sleep(0.05)
            watcher.rollback()
