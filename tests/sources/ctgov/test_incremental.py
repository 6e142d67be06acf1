"""Incremental polling reports exactly what reading everything would.

Two monitors watch the same stand-in registry as it changes: one reads everything every cycle
(`reconcile_days = 0`), the other reads only what changed, its cited trials in full and a
rolling slice of the rest. After every step both must have found the same changes; the
incremental one with far fewer requests.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from conftest import DANISH, FINAL, World, postgres_schema
from smtp import SmtpServer
from standin import StandinRegistry, add_reference, set_piece, study

from monitor.core.models import Change, ChangeKind

UNRELATED = "biomcp_get_nct02576665_full_20260903.json"
EVERY_CYCLE_FULL = "\n[polling]\nreconcile_days = 0\n"


@pytest.fixture
def pair(
    tmp_path: Path, registry: StandinRegistry, smtp_server: SmtpServer, database_url: str
) -> Iterator[tuple[World, World]]:
    """(incremental, full): the same watch list and registry, a database each."""
    (tmp_path / "inc").mkdir()
    (tmp_path / "full").mkdir()
    incremental = World(tmp_path / "inc", registry, smtp_server, database_url, email=False)
    if database_url.startswith("sqlite"):
        full = World(
            tmp_path / "full",
            registry,
            smtp_server,
            f"sqlite:///{tmp_path / 'full.db'}",
            email=False,
        )
        full.extra = EVERY_CYCLE_FULL
        yield incremental, full
        return
    with postgres_schema() as other:
        full = World(
            tmp_path / "full", registry, smtp_server, other, email=False, extra=EVERY_CYCLE_FULL
        )
        yield incremental, full


def found(world: World) -> set[Change]:
    return set(world.changes())


def both_check(pair: tuple[World, World]) -> tuple[int, int]:
    """Run a cycle on each; returns how many registry requests each made."""
    counts = []
    for world in pair:
        before = len(world.registry.requests)
        assert world.check().code == 0
        counts.append(len(world.registry.requests) - before)
    assert found(pair[0]) == found(pair[1])
    return counts[0], counts[1]


def test_incremental_cycles_find_what_full_cycles_find(pair: tuple[World, World]) -> None:
    registry = pair[0].registry
    both_check(pair)  # baselines
    registry.update(FINAL, lambda r: set_piece(r, "OverallStatus", "ACTIVE_NOT_RECRUITING"))
    registry.update(DANISH, lambda r: set_piece(r, "EnrollmentCount", 60))
    both_check(pair)
    registry.put(study("NCT06000001", OverallStatus="NOT_YET_RECRUITING"))
    both_check(pair)

    def results(record: dict[str, object]) -> None:
        set_piece(record, "HasResults", True)
        set_piece(record, "ResultsFirstPostDate", "2026-11-24")
        add_reference(record, "32845365", "RESULT")

    registry.update(FINAL, results)
    registry.update("NCT06000001", lambda r: set_piece(r, "OverallStatus", "RECRUITING"))
    both_check(pair)
    assert len(found(pair[0])) == 6
    # Nothing new in the registry: both ask /version and stop.
    assert both_check(pair) == (1, 1)


def test_a_removed_cited_record_is_found_in_the_next_cycle(pair: tuple[World, World]) -> None:
    both_check(pair)
    pair[0].registry.remove(DANISH)
    both_check(pair)
    assert [c.kind for c in found(pair[0])] == [ChangeKind.RECORD_MISSING]


def test_a_paper_linked_without_a_new_date_is_found_in_the_next_cycle(
    pair: tuple[World, World],
) -> None:
    both_check(pair)
    registry = pair[0].registry
    # NLM links a PubMed paper that names the trial; the record keeps its old date.
    registry.update(FINAL, lambda r: add_reference(r, "38258677", "DERIVED"), touch=False)
    both_check(pair)
    [linked] = found(pair[0])
    assert (linked.kind, linked.after) == (ChangeKind.PUBLICATION, "38258677")


def watch_many(pair: tuple[World, World], count: int) -> list[str]:
    """`count` unrelated trials, last updated long ago, watched by both worlds beside the
    cited two; the incremental one scheduled five times a week (a fifth a cycle in full)."""
    registry = pair[0].registry
    many = [f"NCT{n:08d}" for n in range(20_000_001, 20_000_001 + count)]
    for nct_id in many:
        registry.put(study(nct_id, template=UNRELATED, LastUpdatePostDate="2025-01-10"))
    for world in pair:
        world.trials = [FINAL, DANISH, *many]
    pair[0].extra = '\n[schedule]\ncron = "30 10 * * 1-5"\ntimezone = "UTC"\n'
    return many


def test_a_large_watch_list_reads_the_registry_wide_listing(pair: tuple[World, World]) -> None:
    registry = pair[0].registry
    many = watch_many(pair, 2000)  # four id batches
    both_check(pair)
    for nct_id in many[::300]:
        registry.update(nct_id, lambda r: set_piece(r, "OverallStatus", "SUSPENDED"))
    start = len(registry.requests)
    assert pair[0].check().code == 0
    asked = registry.requests[start:]
    assert pair[1].check().code == 0
    assert found(pair[0]) == found(pair[1])
    assert len(found(pair[0])) == 7
    # /version, the search, one page of the registry-wide listing (ids and update dates), and
    # in one batch: this cycle's slice of the rolling reconciliation, a fifth of the list (five
    # scheduled cycles a week), of which the changed trials, read in full anyway, are part.
    assert len(asked) == 4, [r.params for r in asked]
    [listing] = [r for r in asked if r.params.get("countTotal") == "true"]
    assert listing.params["fields"] == "NCTId,LastUpdatePostDate"
    assert "filter.ids" not in listing.params and "query.term" not in listing.params
    [batch] = [set(r.params["filter.ids"].split("|")) for r in asked if "filter.ids" in r.params]
    assert set(many[::300]) <= batch
    assert len(batch) == math.ceil((2 + len(many)) / 5)


def test_a_middling_watch_list_reads_in_full_as_many_as_its_batch_holds(
    pair: tuple[World, World],
) -> None:
    """Two id batches' worth of trials: too few for the listing. The slice read in full grows
    to what its one batch holds, and the date filter asks for the rest in one batch instead
    of two: four requests, /version and the search included."""
    registry = pair[0].registry
    many = watch_many(pair, 700)
    both_check(pair)
    registry.update(many[-1], lambda r: set_piece(r, "OverallStatus", "SUSPENDED"))
    start = len(registry.requests)
    assert pair[0].check().code == 0
    asked = [r.params for r in registry.requests[start:]]
    assert pair[1].check().code == 0
    assert found(pair[0]) == found(pair[1]) != set()
    assert len(asked) == 4, asked
    [dated] = [
        r["filter.ids"].split("|") for r in asked if "filter.ids" in r and "filter.advanced" in r
    ]
    [whole] = [
        r["filter.ids"].split("|")
        for r in asked
        if "filter.ids" in r and "filter.advanced" not in r
    ]
    assert sorted(dated + whole) == sorted([FINAL, DANISH, *many])
    assert len(whole) > math.ceil(len(many) / 5)


def test_later_cycles_list_only_the_days_not_read_and_count_the_margin_days(
    pair: tuple[World, World],
) -> None:
    """The listing's margin days are counted, not listed again, once they are kept; a study the
    registry publishes late, with a day already read, makes the count differ, and those days
    are listed again: the late change is found all the same."""
    registry = pair[0].registry
    many = watch_many(pair, 2000)  # four id batches

    def day(when: date, *changes: tuple[str, bool]) -> list[dict[str, str]]:
        """A refresh on `when` publishing these changes (id, dated yesterday), then a cycle
        each; the incremental one's requests."""
        registry.today = when
        yesterday = (when - timedelta(days=1)).isoformat()
        for nct_id, late in changes:

            def suspend(record: dict[str, Any], late: bool = late) -> None:
                set_piece(record, "OverallStatus", "SUSPENDED")
                if late:
                    set_piece(record, "LastUpdatePostDate", yesterday)

            registry.update(nct_id, suspend)
        registry.refresh()
        start = len(registry.requests)
        assert pair[0].check().code == 0
        asked = [r.params for r in registry.requests[start:]]
        assert pair[1].check().code == 0
        assert found(pair[0]) == found(pair[1])
        return asked

    def advanced(asked: list[dict[str, str]]) -> list[tuple[str, str]]:
        return [
            (r["filter.advanced"], r["pageSize"])
            for r in asked
            if "filter.ids" not in r and "query.term" not in r and "filter.advanced" in r
        ]

    # Days after any the stand-in has published (its data never goes back).
    day(date(2030, 1, 7))  # the baselines
    # Nothing kept yet: the listing covers the margin day as before.
    assert advanced(day(date(2030, 1, 8), (many[0], False))) == [
        ("AREA[LastUpdatePostDate]RANGE[2030-01-06,MAX]", "1000")
    ]
    # Kept: the new day listed, the margin days (the day read, less one) counted; a study
    # updated again (many[0]) has left those days, and is not taken for one gone. Five
    # requests in all: /version, the search, the listing, the count and one batch.
    asked = day(date(2030, 1, 9), (many[1], False), (many[0], False))
    assert len(asked) == 5, asked
    assert advanced(asked) == [
        ("AREA[LastUpdatePostDate]RANGE[2030-01-09,MAX]", "1000"),
        ("AREA[LastUpdatePostDate]RANGE[2030-01-07,2030-01-08]", "1"),
    ]
    # A change published today with yesterday's date (a day already read), to a trial the
    # rolling slice does not read this cycle: the count differs and the days are listed again.
    asked = day(date(2030, 1, 10), (many[-1], True))
    assert len(asked) == 6, asked
    assert advanced(asked) == [
        ("AREA[LastUpdatePostDate]RANGE[2030-01-10,MAX]", "1000"),
        ("AREA[LastUpdatePostDate]RANGE[2030-01-08,2030-01-09]", "1"),
        ("AREA[LastUpdatePostDate]RANGE[2030-01-08,2030-01-09]", "1000"),
    ]
    suspended = {c.subject for c in found(pair[0]) if c.after == "SUSPENDED"}
    assert suspended == {many[0], many[1], many[-1]}
