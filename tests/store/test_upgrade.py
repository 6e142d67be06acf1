"""Revision 0012 (identities, deliveries by channel) on a database made by the release before
it (0011), with its data written as that release wrote it: nothing is lost, every row finds its
new place, and the next `check` delivers what was waiting, once. On SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime

from conftest import FINAL, World, body
from sqlalchemy import Connection, select, text

from monitor.sources.ctgov.tables import snapshots, trials
from monitor.store.db import HEAD, make_engine, migrate
from monitor.store.schema import changes, deliveries, dispatches, papers

NOW = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
CITED, RESULTS = "32068870", "38258677"


def made_by_the_release_before(conn: Connection) -> None:
    """A trial, a cited paper, and three changes: a status change of the registry's and a
    results paper of PubMed's still waiting (one addressed to the desk, one not yet
    addressed), and a notice on the cited paper that went out already."""
    rows = [
        ("INSERT INTO cycles (id, started_at, finished_at, outcome, requests, bytes_received,"
         " trials_checked, changes_found) VALUES (1, :now, :now, 'ok', 1, 1, 1, 3)", {}),
        ("INSERT INTO trials (nct_id, origin, first_seen_at, latest_snapshot_id)"
         " VALUES (:final, 'watch', :now, 1)", {}),
        ("INSERT INTO snapshots (id, nct_id, cycle_id, observed_at, found, title, status,"
         " enrollment_count, enrollment_type, has_results, publications)"
         " VALUES (1, :final, 1, :now, true, 'FINAL', 'COMPLETED', 99, 'ACTUAL', false, '[]')",
         {}),
        ("INSERT INTO papers (pmid, title, journal, year, publication_types, nct_ids, notices,"
         " first_seen_at, fetched_at) VALUES (:cited, 'Dose response of LDN', 'Pain Med',"
         " '2020', '[\"Randomized Controlled Trial\"]', '[]',"
         " '[[\"RetractionIn\", \"99999999\", \"Pain Med. 2026\"]]', :now, :now)", {}),
        ("INSERT INTO changes (id, cycle_id, snapshot_id, nct_id, kind, before, after,"
         " detected_at) VALUES (1, 1, 1, :final, 'status', 'ACTIVE_NOT_RECRUITING',"
         " 'COMPLETED', :now)", {}),
        ("INSERT INTO changes (id, cycle_id, pmid, kind, after, detail, detected_at)"
         " VALUES (2, 1, :cited, 'paper_notice', 'RetractionIn', '99999999 Pain Med. 2026',"
         " :now)", {}),
        ("INSERT INTO changes (id, cycle_id, nct_id, pmid, kind, after, detected_at)"
         " VALUES (3, 1, :final, :results, 'results_paper', :after, :now)", {"after": RESULTS}),
        ("INSERT INTO deliveries (id, started_at, finished_at, state, transport, cycle_id,"
         " recipients, message_id) VALUES (1, :now, :now, 'sent', 'smtp', 1,"
         " 'editor@example.org, desk@example.org', '<digest.1@example.org>')", {}),
        ("INSERT INTO dispatches (change_id, recipient, delivery_id) VALUES"
         " (2, 'editor@example.org', 1), (2, 'desk@example.org', 1),"
         " (3, 'editor@example.org', NULL), (3, 'desk@example.org', NULL)", {}),
        ("INSERT INTO literature_terms (term, name, baseline_at, last_run_at)"
         " VALUES ('NCT04270877[si]', :final, :now, :now)", {}),
        ("INSERT INTO literature_hits (term, pmid, first_seen_at)"
         " VALUES ('NCT04270877[si]', :results, :now)", {}),
    ]  # fmt: skip
    values = {"now": NOW, "final": FINAL, "cited": CITED, "results": RESULTS}
    for statement, extra in rows:
        conn.execute(text(statement), {**values, **extra})
    if conn.dialect.name == "postgresql":  # explicit ids above; move the sequences on
        for table, last in (("cycles", 1), ("snapshots", 1), ("changes", 3), ("deliveries", 1)):
            conn.execute(text(f"SELECT setval('{table}_id_seq', {last})"))


def test_a_database_of_the_release_before_upgrades_with_every_row_in_its_place(
    world: World,
) -> None:
    engine = make_engine(world.database_url)
    try:
        migrate(engine, "0011")
        with engine.begin() as conn:
            made_by_the_release_before(conn)

        run = world.command("migrate")
        assert run.code == 0 and f"at revision {HEAD} (was 0011)" in run.out, run

        with engine.connect() as conn:
            # A paper is one row with its identifiers; a change about it points at it.
            [paper] = conn.execute(select(papers.c.id, papers.c.pmid, papers.c.doi)).all()
            assert paper.pmid == CITED and paper.doi is None
            found = {
                row.id: row
                for row in conn.execute(
                    select(changes.c.id, changes.c.source, changes.c.paper_id, changes.c.pmid)
                )
            }
            assert {i: row.source for i, row in found.items()} == {
                1: "ctgov",
                2: "pubmed",
                3: "pubmed",
            }
            assert found[2].paper_id == paper.id
            assert found[3].paper_id is None  # a paper never read: no row to point at
            # Who got what is now a channel and a target on it; every row so far e-mail's.
            kept = conn.execute(
                select(
                    dispatches.c.change_id,
                    dispatches.c.channel,
                    dispatches.c.target,
                    dispatches.c.delivery_id,
                ).order_by(dispatches.c.change_id, dispatches.c.target)
            ).all()
            assert [tuple(r) for r in kept] == [
                (2, "email", "desk@example.org", 1),
                (2, "email", "editor@example.org", 1),
                (3, "email", "desk@example.org", None),
                (3, "email", "editor@example.org", None),
            ]
            assert conn.execute(select(deliveries.c.channel)).scalars().all() == ["email"]
            assert conn.execute(select(trials.c.nct_id)).scalars().all() == [FINAL]
            assert conn.execute(select(snapshots.c.status)).scalars().all() == ["COMPLETED"]

        # The next cycle sends what waited, once; what went out before stays sent.
        world.trials, world.searches = [FINAL], []
        assert world.check().code == 0
        [digest] = world.messages
        text_ = body(digest)
        assert "Active, not recruiting → Completed" in text_
        assert f"PMID {RESULTS}" in text_
        assert "was retracted" not in text_
        assert world.check().code == 0 and len(world.messages) == 1
    finally:
        engine.dispose()
