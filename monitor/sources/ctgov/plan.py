"""How much of the registry a cycle reads: nothing, what changed, or everything. Pure.

- Nothing, when the registry's data timestamp is the one the last good cycle saw: the registry
  refreshes once a day, so most polls can stop at /version. Nothing either when it is older than
  data already read: a stale answer is not news, and its revert would be mailed twice.
- Everything on the first cycle: it sets the baseline.
- Otherwise what changed: studies updated since the day of the registry's data timestamp that
  the last good cycle read, less a safety margin of days. The registry's own clock, not this
  machine's: a monitor that was down for a week asks for that week. The cycle adds to this what
  a date cannot show (cycle.py): the cited trials in full, and a rolling slice of the others.

Whatever the plan, a trial or search new to the watch list is read in full: it needs a baseline.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum

from monitor.settings.config import PollingConfig
from monitor.store.journal import STALE as STALE_MODE
from monitor.store.journal import History


class PlanMode(StrEnum):
    """How much of the registry a cycle reads. Stored in `cycles.mode`."""

    FULL = "full"
    INCREMENTAL = "incremental"
    UNCHANGED = "unchanged"
    # The registry answered with data older than data already read (a stale replica, a
    # rollback): nothing is read, so that no revert is mailed as news, and no news twice.
    STALE = STALE_MODE


@dataclass(frozen=True)
class Plan:
    mode: PlanMode
    since: date | None = None  # incremental: studies last updated on or after this day
    reason: str = ""
    # Incremental: the day of the data the last good cycle read (`since` is it less the margin),
    # and the day of the data this cycle reads, when the registry's timestamp says it.
    read: date | None = None
    today: date | None = None


def plan_cycle(history: History, data_timestamp: str | None, polling: PollingConfig) -> Plan:
    if history.last_ok_started is None:
        return Plan(PlanMode.FULL, reason="first cycle")
    if data_timestamp is not None and data_timestamp == history.last_ok_data_timestamp:
        return Plan(PlanMode.UNCHANGED, reason=f"registry data unchanged since {data_timestamp}")
    now, before = _moment(data_timestamp), _moment(history.last_ok_data_timestamp)
    if now is not None and before is not None and now < before:
        return Plan(
            PlanMode.STALE,
            reason=f"the registry's data ({data_timestamp}) is older than data already read"
            f" ({history.last_ok_data_timestamp}); nothing read",
        )
    read = _day(history.last_ok_data_timestamp) or history.last_ok_started.date()
    since = read - timedelta(days=polling.margin_days)
    return Plan(
        PlanMode.INCREMENTAL,
        since=since,
        reason=f"studies updated since {since.isoformat()}",
        read=read,
        today=_day(data_timestamp),
    )


def _day(data_timestamp: str | None) -> date | None:
    """The day of a data timestamp ("2026-11-24T09:00:06"), if it reads as one."""
    moment = _moment(data_timestamp)
    return moment.date() if moment else None


def _moment(data_timestamp: str | None) -> datetime | None:
    try:
        moment = datetime.fromisoformat(data_timestamp) if data_timestamp else None
    except ValueError:
        return None
    # The spec gives no zone (it is UTC); a zone, if one comes, must not break comparisons.
    return moment.replace(tzinfo=None) if moment else None
