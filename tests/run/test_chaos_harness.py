"""The random-kill harness of benchmarks/reliability.py (tests/chaos.py), run for one round here
so that it keeps working as the store changes: a round kills `check` at random moments, then
counts every addressed copy against what the mail server accepted."""

from __future__ import annotations

import random
from pathlib import Path

from chaos import chaos_round, check_span


def test_one_round_of_random_kills_loses_nothing_and_counts_every_copy(tmp_path: Path) -> None:
    span = check_span(tmp_path / "span", f"sqlite:///{tmp_path / 'span' / 'data' / 'monitor.db'}")
    folder = tmp_path / "round"
    tally = chaos_round(
        folder, f"sqlite:///{folder / 'data' / 'monitor.db'}", random.Random(1), span
    )
    assert tally.pairs > 0  # copies were counted: the harness read the dispatches
    assert (tally.lost, tally.beyond, tally.strays, tally.crashes) == (0, 0, 0, 0), tally
