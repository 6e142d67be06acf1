"""The store's two guarantees under real concurrency, on SQLite and PostgreSQL: a change is
recorded once however many processes observe it, and claimed by one sender only.

The contenders are separate Python processes (racer.py), each with its own connection. While
they start, another connection holds the rows they will write locked, so every contender reads
the same state before any of them can write: on PostgreSQL each then blocks at its conditional
UPDATE, and only that UPDATE's WHERE and row count decide who wins. On SQLite the monitor takes the write lock at
BEGIN (db.py), so the contenders queue up before they read; without it they would read
together and the conditional UPDATE alone would have to decide.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta

import pytest
import readback
from contenders import race
from racer import EVERYONE, NOW, TRIALS
from sqlalchemy import Engine, insert, select

from monitor.core.models import ChangeKind, Observation, Snapshot
from monitor.core.routing import Route, Router
from monitor.delivery.deliveries import Audience, Deliveries, Sending, SentDigest
from monitor.settings.config import Config
from monitor.sources.ctgov.plan import Plan, PlanMode
from monitor.sources.ctgov.reading import Reading
from monitor.sources.ctgov.records import Store
from monitor.sources.ctgov.settings import RegistryConfig
from monitor.sources.ctgov.tables import snapshots
from monitor.store.db import make_engine, migrate
from monitor.store.journal import Journal
from monitor.store.schema import changes

SENT = SentDigest("subject", "<id@example.org>", "server")


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    """The database with each trial's baseline recorded."""
    engine = make_engine(database_url)
    migrate(engine)
    observe(engine, TRIALS)
    yield engine
    engine.dispose()


def observe(engine: Engine, found: list[Snapshot]) -> None:
    cycle = Journal(engine).start_cycle(NOW)
    Store(engine).record(cycle, [Observation(s, raw=None) for s in found], NOW)


def test_the_same_change_seen_by_many_processes_is_recorded_once(engine: Engine) -> None:
    recorded = race("record", engine, locked="trials")
    assert sum(n for n in recorded if isinstance(n, int)) == len(TRIALS), recorded
    changes = readback.all_changes(engine)
    assert len(changes) == len(TRIALS)
    assert {c.kind for c in changes} == {ChangeKind.STATUS}
    assert all(readback.snapshot_count(engine, s.nct_id) >= 2 for s in TRIALS)


def test_unsent_changes_are_claimed_by_one_sender_only(engine: Engine) -> None:
    observe(engine, [replace(s, enrollment_count=41) for s in TRIALS])
    # Address the changes (one row per recipient) and give them back, so the race is the claim.
    deliveries = Deliveries(engine)
    for sending in deliveries.claim([Audience("email", "smtp", EVERYONE)], NOW, cycle_id=None):
        deliveries.release(sending.delivery_id, NOW, "given back for the race")

    claims = race("claim", engine, locked="dispatches")

    got = Counter(
        (recipient, change_id)
        for claim in claims
        for recipient, change_id in claim  # type: ignore[attr-defined]
    )
    assert got and max(got.values()) == 1, f"claimed twice: {got.most_common(3)}"
    assert len(got) == len(TRIALS) * len(EVERYONE.everyone)


def claim(engine: Engine, router: Router = EVERYONE) -> list[Sending]:
    return Deliveries(engine).claim([Audience("email", "smtp", router)], NOW, cycle_id=1)


def test_a_failed_send_gives_the_changes_back(engine: Engine) -> None:
    observe(engine, [replace(TRIALS[0], status="WITHDRAWN")])
    deliveries = Deliveries(engine)
    [sending] = claim(engine)
    deliveries.release(sending.delivery_id, NOW, "451 try later")
    [again] = claim(engine)
    assert [p.id for p in again.pending] == [p.id for p in sending.pending]
    deliveries.mark_sent(again.delivery_id, NOW, SENT)
    assert claim(engine) == []
    assert deliveries.sent() == {again.pending[0].id: NOW}


def test_each_desk_gets_one_digest_with_only_its_changes(engine: Engine) -> None:
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
    observe(engine, [replace(s, status="COMPLETED") for s in TRIALS[:3]])
    sendings = {s.recipients: {p.change.nct_id for p in s.pending} for s in claim(engine, router)}
    assert sendings == {
        ("editor@example.org",): {first, second, TRIALS[2].nct_id},
        ("fm@example.org", "both@example.org"): {first, second},
    }


def test_a_change_one_desk_got_and_another_waits_for_is_not_sent_yet(engine: Engine) -> None:
    first = TRIALS[0].nct_id
    router = Router(
        ("editor@example.org",), (Route("FM", ("fm@example.org",), frozenset({first})),)
    )
    observe(engine, [replace(s, status="COMPLETED") for s in TRIALS[:2]])
    deliveries = Deliveries(engine)
    editor, desk = claim(engine, router)  # the editor gets both changes, the desk the first
    deliveries.mark_sent(editor.delivery_id, NOW, SENT)
    deliveries.release(desk.delivery_id, NOW, "451 try later")
    [shared] = desk.pending
    assert deliveries.sent()[shared.id] is None


def paper_change(engine: Engine, cycle: int) -> int:
    """A change about a paper no trial is known for (PubMed's side): no trial, no snapshot."""
    with engine.begin() as conn:
        row = conn.execute(
            insert(changes).returning(changes.c.id),
            {
                "cycle_id": cycle,
                "pmid": "32068870",
                "kind": ChangeKind.RETRACTION.value,
                "after": "32068870",
                "detected_at": NOW,
            },
        )
        return int(row.scalar_one())


def test_a_change_about_a_paper_alone_goes_to_everyone_and_the_desks_citing_it(
    engine: Engine,
) -> None:
    router = Router(
        ("editor@example.org",),
        (
            Route("FM", ("fm@example.org",), frozenset({"NCT04270877"})),
            Route("LDN", ("ldn@example.org",), pmids=frozenset({"32068870"})),
        ),
    )
    change_id = paper_change(engine, Journal(engine).start_cycle(NOW))
    [sending] = claim(engine, router)
    assert sending.recipients == ("editor@example.org", "ldn@example.org")
    [pending] = sending.pending
    assert (pending.id, pending.change.nct_id, pending.change.pmid) == (change_id, None, "32068870")
    assert pending.change.subject == "PMID 32068870"


def test_pruning_keeps_each_trials_latest_and_every_snapshot_a_change_points_to(
    engine: Engine,
) -> None:
    store = Store(engine)
    first = TRIALS[0]
    later = NOW + timedelta(days=400)
    cycle = Journal(engine).start_cycle(NOW)
    # An untracked change (a new last-update date) and a reported one, then today's state.
    store.record(
        cycle,
        [Observation(replace(first, last_update_posted="2026-12-01"), raw="r1")],
        NOW + timedelta(days=1),
    )
    store.record(
        cycle,
        [Observation(replace(first, status="COMPLETED"), raw="r2")],
        NOW + timedelta(days=2),
    )
    store.record(cycle, [Observation(replace(first, status="TERMINATED"), raw="r3")], later)
    paper_change(engine, cycle)  # points to no snapshot: it must not stop the pruning
    assert readback.snapshot_count(engine, first.nct_id) == 4

    gone = store.prune(later, retention_days=365)

    assert gone == 2  # the baseline and the untracked update
    with engine.connect() as conn:
        rows = conn.execute(
            select(snapshots.c.status, snapshots.c.raw)
            .where(snapshots.c.nct_id == first.nct_id)
            .order_by(snapshots.c.id)
        ).all()
    assert [tuple(r) for r in rows] == [("COMPLETED", None), ("TERMINATED", "r3")]
    assert all(readback.snapshot_count(engine, s.nct_id) == 1 for s in TRIALS[1:])


@pytest.mark.postgresql_only  # SQLite stores a value of any length in any column
def test_a_record_the_database_refuses_is_turned_away_alone(database_url: str) -> None:
    """Normalizing bounds every value (test_trust.py); should one still outgrow its column,
    the page is recorded record by record and only that one is rejected."""
    engine = make_engine(database_url)
    migrate(engine)
    try:
        cycle = Journal(engine).start_cycle(NOW)
        reading = Reading(
            registry=None,  # type: ignore[arg-type]  # recording reads nothing
            store=Store(engine),
            config=Config(sections=(RegistryConfig(),)),
            clock=lambda: NOW,
            cycle_id=cycle,
            plan=Plan(PlanMode.FULL),
        )
        good, bad = TRIALS[0], replace(TRIALS[1], status="X" * 41)
        reading.record([Observation(good, raw=None), Observation(bad, raw=None)])
        assert reading.rejected == {bad.nct_id}
        assert readback.snapshot_count(engine, good.nct_id) == 1
        assert readback.snapshot_count(engine, bad.nct_id) == 0
    finally:
        engine.dispose()
