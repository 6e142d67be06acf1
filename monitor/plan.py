"""How much of the registry a cycle reads: nothing, what changed, or everything. Pure.

- Nothing, when the registry's data timestamp is the one the last good cycle saw: the registry
  refreshes once a day, so most polls can stop at /version.
- Everything (a reconciliation) on the first cycle and every `polling.reconcile_days`: only a
  full read notices a record that vanished, since a deleted record has no "last update".
- Otherwise only studies updated since the last good cycle, less a safety margin of days.

Whatever the plan, a trial or search new to the watch list is read in full: it needs a baseline.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum

from monitor.config import PollingConfig


class PlanMode(StrEnum):
    """How much of the registry a cycle reads. Stored in `cycles.mode`."""

    FULL = "full"
    INCREMENTAL = "incremental"
    UNCHANGED = "unchanged"


@dataclass(frozen=True)
class History:
    """What the store remembers of earlier good cycles."""

    last_ok_started: datetime | None = None
    last_ok_data_timestamp: str | None = None
    last_full_started: datetime | None = None


@dataclass(frozen=True)
class Plan:
    mode: PlanMode
    since: date | None = None  # incremental: studies last updated on or after this day
    reason: str = ""


def plan_cycle(
    history: History,
    data_timestamp: str | None,
    now: datetime,
    polling: PollingConfig,
) -> Plan:
    if history.last_ok_started is None or history.last_full_started is None:
        return Plan(PlanMode.FULL, reason="first cycle")
    # An hour's slack, so that a weekly reconciliation lands on the same scheduled run each week.
    due = history.last_full_started + timedelta(days=polling.reconcile_days) - timedelta(hours=1)
    if now >= due:
        return Plan(PlanMode.FULL, reason="reconciliation")
    if data_timestamp is not None and data_timestamp == history.last_ok_data_timestamp:
        return Plan(PlanMode.UNCHANGED, reason=f"registry data unchanged since {data_timestamp}")
    since = history.last_ok_started.date() - timedelta(days=polling.margin_days)
    return Plan(
        PlanMode.INCREMENTAL, since=since, reason=f"studies updated since {since.isoformat()}"
    )
