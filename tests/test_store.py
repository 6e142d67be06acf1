"""The store's two guarantees under real concurrency, on SQLite and PostgreSQL: a change is
recorded once however many processes observe it, and claimed by one sender only."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from monitor.db import make_engine, migrate, snapshots
from monitor.deliveries import Deliveries, Sending
from monitor.models import ChangeKind, Observation, Snapshot
from monitor.routing import Route, Router
from monitor.store import Store

NOW = datetime(2026, 11, 25, 10, 30, tzinfo=UTC)
TRIALS = [
    Snapshot(f"NCT0{n}", status="RECRUITING", enrollment_count=40) for n in range(4270870, 4270880)
]


def race(count: int, work: Callable[[Store], object], database_url: str) -> list[object]:
    """Run `work` in `count` threads at once, each with an engine (a process) of its own."""
    stores = [Store(make_engine(database_url)) for _ in range(count)]
    barrier = threading.Barrier(count)
    results: list[object] = [None] * count

    def run(index: int) -> None:
        barrier.wait()
        results[index] = work(stores[index])

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    for store in stores:
        store.engine.dispose()
    return results


def prepared(database_url: str) -> Store:
    store = Store(make_engine(database_url))
    migrate(store.engine)
    cycle = store.start_cycle(NOW)
    store.record(cycle, [Observation(s, raw=None) for s in TRIALS], NOW)
    return store


def test_the_same_change_seen_by_many_processes_is_recorded_once(database_url: str) -> None:
    store = prepared(database_url)
    moved = [Observation(replace(s, status="COMPLETED"), raw=None) for s in TRIALS]

    def observe(other: Store) -> object:
        return other.record(store.start_cycle(NOW), moved, NOW)

    found = race(6, observe, database_url)
    assert sum(len(f) for f in found if isinstance(f, list)) == len(TRIALS)
    recorded = store.all_changes()
    assert len(recorded) == len(TRIALS)
    assert {c.kind for c in recorded} == {ChangeKind.STATUS}
    assert all(store.snapshot_count(s.nct_id) == 2 for s in TRIALS)


EVERYONE = Router(("editor@example.org",))


def claim(database_url: str, router: Router = EVERYONE) -> list[Sending]:
    return Deliveries(make_engine(database_url)).claim(router, NOW, "smtp", cycle_id=1)


def test_unsent_changes_are_claimed_by_one_sender_only(database_url: str) -> None:
    store = prepared(database_url)
    cycle = store.start_cycle(NOW)
    store.record(
        cycle, [Observation(replace(s, enrollment_count=41), raw=None) for s in TRIALS], NOW
    )

    claims = race(6, lambda other: claim(database_url), database_url)
    won = [c for c in claims if c]
    assert len(won) == 1
    sendings = won[0]
    assert isinstance(sendings, list)
    assert [len(s.pending) for s in sendings] == [len(TRIALS)]
    assert claim(database_url) == []


def test_a_failed_send_gives_the_changes_back(database_url: str) -> None:
    store = prepared(database_url)
    store.record(
        store.start_cycle(NOW), [Observation(replace(TRIALS[0], status="WITHDRAWN"), raw=None)], NOW
    )
    deliveries = Deliveries(store.engine)
    [sending] = claim(database_url)
    deliveries.release(sending.delivery_id, NOW, "451 try later")
    [again] = claim(database_url)
    assert [p.id for p in again.pending] == [p.id for p in sending.pending]
    deliveries.mark_sent(again.delivery_id, NOW, "subject", "<id>", "server")
    assert claim(database_url) == []
    assert deliveries.sent() == {again.pending[0].id: NOW}


def test_each_desk_gets_one_digest_with_only_its_changes(database_url: str) -> None:
    store = prepared(database_url)
    first, second = TRIALS[0].nct_id, TRIALS[1].nct_id
    router = Router(
        ("editor@example.org",),
        (
            Route("FM desk", ("fm@example.org",), trials=frozenset({first})),
            Route(
                "Both", ("both@example.org", "fm@example.org"), trials=frozenset({first, second})
            ),
        ),
    )
    moved = [Observation(replace(s, status="COMPLETED"), raw=None) for s in TRIALS[:3]]
    store.record(store.start_cycle(NOW), moved, NOW)
    sendings = {
        s.recipients: {p.change.nct_id for p in s.pending} for s in claim(database_url, router)
    }
    assert sendings == {
        ("editor@example.org",): {first, second, TRIALS[2].nct_id},
        ("fm@example.org", "both@example.org"): {first, second},
    }


def test_pruning_keeps_each_trials_latest_and_every_snapshot_a_change_points_to(
    database_url: str,
) -> None:
    store = prepared(database_url)  # one snapshot per trial, at NOW
    first = TRIALS[0]
    later = NOW + timedelta(days=400)
    # An untracked change (a new last-update date) and a reported one, then today's state.
    store.record(
        store.start_cycle(NOW),
        [Observation(replace(first, last_update_posted="2026-12-01"), raw="r1")],
        NOW + timedelta(days=1),
    )
    store.record(
        store.start_cycle(NOW),
        [Observation(replace(first, status="COMPLETED"), raw="r2")],
        NOW + timedelta(days=2),
    )
    store.record(
        store.start_cycle(NOW), [Observation(replace(first, status="TERMINATED"), raw="r3")], later
    )
    assert store.snapshot_count(first.nct_id) == 4

    gone = store.prune(later, retention_days=365)

    assert gone == 2  # the baseline and the untracked update
    with store.engine.connect() as conn:
        rows = conn.execute(
            select(snapshots.c.status, snapshots.c.raw)
            .where(snapshots.c.nct_id == first.nct_id)
            .order_by(snapshots.c.id)
        ).all()
    assert [tuple(r) for r in rows] == [("COMPLETED", None), ("TERMINATED", "r3")]
    assert all(store.snapshot_count(s.nct_id) == 1 for s in TRIALS[1:])  # each one's latest
