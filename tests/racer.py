"""One contender in a cross-process race (see test_store.py): run as its own Python process,
it opens its own engine on the shared database, says it is ready (before it touches the
database, where it may have to wait), does one piece of work, prints what it got as JSON, and
stays alive until its standard input closes. Real processes, so no in-process lock can hide a missing guard."""

from __future__ import annotations

import json
import sys
from dataclasses import replace
from datetime import UTC, datetime

from monitor.core.models import Observation, Snapshot
from monitor.core.routing import Router
from monitor.delivery.deliveries import Audience, Deliveries
from monitor.sources.ctgov.records import Store
from monitor.store.db import make_engine
from monitor.store.journal import Journal

NOW = datetime(2026, 11, 25, 10, 30, tzinfo=UTC)
TRIALS = [
    Snapshot(f"NCT0{n}", status="RECRUITING", enrollment_count=40) for n in range(4270870, 4270880)
]
EVERYONE = Router(("editor@example.org", "desk@example.org"))


def claim(database_url: str, *_: str) -> object:
    """Claim every unsent change; returns [(recipient, change id)] of what this process got."""
    engine = make_engine(database_url)
    try:
        print("ready", flush=True)
        sendings = Deliveries(engine).claim(
            [Audience("email", "smtp", EVERYONE)], NOW, cycle_id=None
        )
        return [[r, p.id] for s in sendings for r in s.recipients for p in s.pending]
    finally:
        engine.dispose()


def record(database_url: str, *_: str) -> object:
    """Observe every trial completed; returns how many changes this process recorded."""
    engine = make_engine(database_url)
    try:
        moved = [Observation(replace(s, status="COMPLETED"), raw=None) for s in TRIALS]
        print("ready", flush=True)
        cycle = Journal(engine).start_cycle(NOW)
        return len(Store(engine).record(cycle, moved, NOW).changes)
    finally:
        engine.dispose()


def command(database_url: str, *args: str) -> object:
    """A `trial-monitor` command (its arguments name the config, which names the database);
    returns its exit code and what it printed."""
    import contextlib
    import io

    from monitor.cli import main

    print("ready", flush=True)
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(args))
    return [code, out.getvalue(), err.getvalue()]


WORK = {"claim": claim, "record": record, "command": command}

if __name__ == "__main__":
    work, url = sys.argv[1], sys.argv[2]
    print(json.dumps(WORK[work](url, *sys.argv[3:])), flush=True)
    # Stay alive until told, as a sender does while it sends: a claim whose process has gone
    # would rightly be given back to the next claimant (deliveries.py).
    sys.stdin.read()
