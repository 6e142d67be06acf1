"""How much a cycle reads, one case a line."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from monitor.settings.config import PollingConfig
from monitor.sources.ctgov.plan import PlanMode, plan_cycle
from monitor.store.journal import History

FULL, INCREMENTAL, UNCHANGED = PlanMode.FULL, PlanMode.INCREMENTAL, PlanMode.UNCHANGED
NOW = datetime(2026, 11, 25, 15, 30, tzinfo=UTC)
DAY = timedelta(days=1)
STAMP = "2026-11-25T09:00:06"
SEEN = History(NOW - DAY, "2026-11-24T09:00:06")

CASES = [
    # id, history, registry's data timestamp, expected mode, expected since
    ("first cycle", History(), STAMP, FULL, None),
    ("registry refreshed", SEEN, STAMP, INCREMENTAL, date(2026, 11, 23)),
    ("registry unchanged", SEEN, "2026-11-24T09:00:06", UNCHANGED, None),
    ("no data timestamp now", SEEN, None, INCREMENTAL, date(2026, 11, 23)),
    # The registry's clock, not this machine's: a monitor down for a week asks for that week.
    (
        "down for a week",
        History(NOW - DAY, "2026-11-17T09:00:06"),
        STAMP,
        INCREMENTAL,
        date(2026, 11, 16),
    ),
    ("no stamp read before", History(NOW - 2 * DAY, None), STAMP, INCREMENTAL, date(2026, 11, 22)),
    (
        "a stamp that is no date",
        History(NOW - 2 * DAY, "v2"),
        STAMP,
        INCREMENTAL,
        date(2026, 11, 22),
    ),
]


@pytest.mark.parametrize(
    ("history", "stamp", "mode", "since"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_plan(history: History, stamp: str | None, mode: PlanMode, since: date | None) -> None:
    plan = plan_cycle(history, stamp, PollingConfig())
    assert (plan.mode, plan.since) == (mode, since)


def test_the_margin_is_a_setting() -> None:
    plan = plan_cycle(SEEN, STAMP, PollingConfig(margin_days=0))
    assert (plan.mode, plan.since) == (INCREMENTAL, date(2026, 11, 24))
