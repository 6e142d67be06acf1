"""Counts in words: never "1 papers" or "digest of 1 changes"."""

from __future__ import annotations

from monitor.core.counted import counted


def test_one_is_singular_and_every_other_count_plural() -> None:
    assert counted(1, "paper") == "1 paper"
    assert counted(0, "paper") == "0 papers"
    assert counted(2, "new change") == "2 new changes"
    assert counted(1200, "trial record") == "1,200 trial records"
    assert counted(3, "study", "studies") == "3 studies"
