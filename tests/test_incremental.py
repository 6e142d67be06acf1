"""Incremental polling reports exactly what reading everything would.

Two monitors watch the same stand-in registry as it changes: one reads everything every cycle
(`reconcile_days = 0`), the other reads only what changed, with a weekly reconciliation. After
every step both must have found the same changes; the incremental one with far fewer requests.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import DANISH, FINAL, World, postgres_schema
from smtp import SmtpServer
from standin import StandinRegistry, add_reference, set_piece, study

from monitor.models import Change

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
    # Nothing new in the registry: the incremental monitor asks /version and stops.
    assert both_check(pair) == (1, 2)  # the full one: /version and the search


def test_a_removed_record_is_found_by_the_reconciliation(pair: tuple[World, World]) -> None:
    incremental, full = pair
    both_check(pair)
    incremental.registry.remove(DANISH)
    assert full.check().code == 0
    assert incremental.check().code == 0
    assert len(found(full)) == 1 and found(incremental) == set()  # not visible incrementally
    incremental.extra = EVERY_CYCLE_FULL  # the weekly reconciliation comes round
    assert incremental.check().code == 0
    assert found(incremental) == found(full)


def test_a_large_watch_list_reads_one_registry_wide_listing(pair: tuple[World, World]) -> None:
    registry = pair[0].registry
    many = [f"NCT{n:08d}" for n in range(20_000_001, 20_001_501)]  # three id batches
    for nct_id in many:
        registry.put(study(nct_id, template=UNRELATED, LastUpdatePostDate="2025-01-10"))
    for world in pair:
        world.trials = [FINAL, DANISH, *many]
    both_check(pair)
    for nct_id in many[::300]:
        registry.update(nct_id, lambda r: set_piece(r, "OverallStatus", "SUSPENDED"))
    incremental_requests, full_requests = both_check(pair)
    assert len(found(pair[0])) == 5
    # /version, the search, the count, one page of the registry-wide listing.
    assert incremental_requests == 4
    assert full_requests >= 4 + 1
    listing = [
        r
        for r in registry.requests[-(incremental_requests + full_requests) :]
        if "filter.ids" not in r.params
    ]
    assert any(r.params.get("countTotal") == "true" for r in listing)
