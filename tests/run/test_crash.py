"""SIGKILL at many points of a cycle, then a restart: every change arrives, once (or twice with
one Message-ID, in the documented window), and nothing crashes. See killpoints.py."""

from __future__ import annotations

from pathlib import Path

import pytest
from killpoints import AFTER_ACCEPT, KILL_POINTS, KillPoint, scenario


@pytest.mark.parametrize("point", KILL_POINTS, ids=[p.name for p in KILL_POINTS])
def test_a_kill_anywhere_loses_and_repeats_nothing(
    tmp_path: Path, database_url: str, point: KillPoint
) -> None:
    outcome = scenario(tmp_path, point, database_url)
    assert outcome.killed and outcome.at_point, outcome  # the kill came where it says
    assert outcome.changes == 3, outcome
    assert outcome.lost == 0, outcome
    assert outcome.beyond_window == 0, outcome
    assert outcome.crashes == 0, outcome
    if point is AFTER_ACCEPT:
        # The documented window, reached on every run: each change went out again, and only
        # with the same Message-ID.
        assert outcome.in_window == outcome.changes, outcome


def test_a_digest_resent_after_a_kill_is_the_same_digest_whatever_came_since(
    tmp_path: Path, database_url: str
) -> None:
    outcome = scenario(tmp_path, AFTER_ACCEPT, database_url, news_before_restart=True)
    assert outcome.killed and outcome.at_point, outcome
    assert outcome.changes == 4, outcome  # the three claimed, and one newer
    assert outcome.lost == 0, outcome
    assert outcome.in_window == 3, outcome  # re-sent with the same Message-ID
    assert outcome.beyond_window == 0, outcome  # never inside a digest with a new one
