"""How much a cycle reads, one case a line."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from monitor.config import PollingConfig
from monitor.plan import History, PlanMode, plan_cycle

FULL, INCREMENTAL, UNCHANGED = PlanMode.FULL, PlanMode.INCREMENTAL, PlanMode.UNCHANGED

NOW = datetime(2026, 11, 25, 15, 30, tzinfo=UTC)
DAY = timedelta(days=1)
STAMP = "2026-11-25T09:00:06"
SEEN = History(NOW - DAY, "2026-11-24T09:00:06", NOW - 3 * DAY)

CASES = [
    # id, history, registry's data timestamp, expected mode, expected since
    ("first cycle", History(), STAMP, FULL, None),
    ("no full cycle yet", History(NOW - DAY, STAMP, None), STAMP, FULL, None),
    ("registry refreshed", SEEN, STAMP, INCREMENTAL, date(2026, 11, 21)),
    ("registry unchanged", SEEN, "2026-11-24T09:00:06", UNCHANGED, None),
    ("no data timestamp", SEEN, None, INCREMENTAL, date(2026, 11, 21)),
    ("a week since the last full", History(NOW - DAY, STAMP, NOW - 7 * DAY), STAMP, FULL, None),
    (
        "weekly, a minute early",
        History(NOW - DAY, STAMP, NOW - 7 * DAY + timedelta(minutes=1)),
        STAMP,
        FULL,
        None,
    ),
    ("reconciliation beats unchanged", History(NOW - DAY, STAMP, NOW - 8 * DAY), STAMP, FULL, None),
]


@pytest.mark.parametrize(
    ("history", "stamp", "mode", "since"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_plan(history: History, stamp: str | None, mode: PlanMode, since: date | None) -> None:
    plan = plan_cycle(history, stamp, NOW, PollingConfig())
    assert (plan.mode, plan.since) == (mode, since)


def test_the_margin_and_the_reconciliation_interval_are_settings() -> None:
    polling = PollingConfig(reconcile_days=30, margin_days=0)
    history = History(NOW - DAY, "old", NOW - 8 * DAY)
    plan = plan_cycle(history, STAMP, NOW, polling)
    assert (plan.mode, plan.since) == (INCREMENTAL, date(2026, 11, 24))
