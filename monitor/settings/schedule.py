"""`[schedule]`: when cycles run, as a cron trigger (checked when the config is read), and the
sums made of it: the last time a cycle was due (the health rule), how many fall in some days
(what a rolling reconciliation divides its list by). `trial-monitor run` fires the trigger
(run/service.py).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from apscheduler.triggers.cron import CronTrigger

from monitor.core.errors import ConfigError
from monitor.settings.sections import setting


@dataclass(frozen=True)
class ScheduleConfig:
    # The registry refreshes its data once a day, Monday to Friday, early in the US morning
    # (its /version dataTimestamp reads about 09:00 Eastern); poll after that.
    cron: str = setting("30 10 * * 1-5")
    timezone: str = setting("America/New_York")
    jitter_seconds: int = setting(300, minimum=0, maximum=3600)
    # How late a scheduled cycle may finish before `health` calls the monitor unhealthy.
    health_grace_minutes: int = setting(120, minimum=1, maximum=7 * 24 * 60)
    # On SIGTERM a cycle in flight gets this long to finish before it is cancelled.
    shutdown_grace_seconds: float = setting(30.0, minimum=0)


# crontab counts weekdays from Sunday = 0 (7 is Sunday too); APScheduler counts from Monday = 0.
# Names mean the same to both, so numbers are translated to names.
_WEEKDAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat", "sun")


def make_trigger(config: ScheduleConfig, *, jitter: bool = True) -> CronTrigger:
    """The schedule as a trigger. `cron` has 5 crontab fields, or 6 with seconds first."""
    fields = config.cron.split()
    if len(fields) not in (5, 6):
        raise ConfigError(
            f"schedule.cron = {config.cron!r} needs 5 fields (minute hour day month weekday)"
        )
    try:
        zone = ZoneInfo(config.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"schedule.timezone = {config.timezone!r} is not a time zone") from None
    second = fields[0] if len(fields) == 6 else "0"
    minute, hour, day, month, weekday = fields[-5:]
    try:
        return CronTrigger(
            second=second,
            minute=minute,
            hour=hour,
            day=day,
            month=month,
            day_of_week=_crontab_weekdays(weekday),
            timezone=zone,
            jitter=config.jitter_seconds if jitter and config.jitter_seconds else None,
        )
    except ValueError as exc:
        raise ConfigError(f"schedule.cron = {config.cron!r} is not valid: {exc}") from None


def _crontab_weekdays(field: str) -> str:
    def name(match: re.Match[str]) -> str:
        number = int(match.group(0))
        if number > 7:
            raise ValueError(f"weekday {number} is not between 0 and 7")
        return _WEEKDAYS[number]

    # Only the numbers before any "/step" are weekdays.
    days, slash, step = field.partition("/")
    return re.sub(r"\d+", name, days) + slash + step


def last_due(trigger: CronTrigger, now: datetime, allowance: timedelta) -> datetime | None:
    """The latest scheduled time whose cycle should have finished by `now`, if any in a year."""
    deadline = now - allowance
    for window in (timedelta(hours=1), timedelta(days=1), timedelta(days=8), timedelta(days=366)):
        latest: datetime | None = None
        fire: datetime | None = trigger.get_next_fire_time(None, deadline - window)
        while fire is not None and fire <= deadline:
            latest = fire
            fire = trigger.get_next_fire_time(fire, fire + timedelta(microseconds=1))
        if latest is not None:
            return latest
    return None


def cycles_within(config: ScheduleConfig, now: datetime, days: float) -> int:
    """How many scheduled cycles fall in the next `days` (at most 10,000): what a rolling
    reconciliation divides its watch list by."""
    trigger = make_trigger(config, jitter=False)
    end = now + timedelta(days=days)
    count = 0
    fire: datetime | None = trigger.get_next_fire_time(None, now)
    while fire is not None and fire <= end and count < 10_000:
        count += 1
        fire = trigger.get_next_fire_time(fire, fire + timedelta(microseconds=1))
    return count
