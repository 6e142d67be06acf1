"""When cycles run: the cron trigger, the `trial-monitor run` service loop, and the health rule.

The loop stays thin: APScheduler decides when, `run_one` (built by the CLI) does one whole
cycle. One cycle at a time, missed runs coalesced into one, a little jitter so that many
monitors do not hit the registry in the same second.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from apscheduler.triggers.cron import CronTrigger

from monitor.core.errors import ConfigError

if TYPE_CHECKING:
    from monitor.settings.config import ScheduleConfig

log = logging.getLogger(__name__)

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


class Service:
    """Runs `run_one` on the trigger until `stop` is set, then lets a cycle in flight finish."""

    def __init__(
        self,
        run_one: Callable[[], Awaitable[object]],
        trigger: CronTrigger,
        shutdown_grace_seconds: float,
    ) -> None:
        self._run_one = run_one
        self._trigger = trigger
        self._grace = shutdown_grace_seconds
        self._in_flight: asyncio.Task[object] | None = None

    async def serve(self, stop: asyncio.Event) -> None:
        # Only `run` needs the scheduler itself; the trigger alone checks the config.
        from apscheduler.schedulers.asyncio import AsyncIOScheduler

        scheduler = AsyncIOScheduler(timezone=self._trigger.timezone)
        job = scheduler.add_job(
            self._tick,
            self._trigger,
            id="cycle",
            max_instances=1,  # one cycle at a time
            coalesce=True,  # runs missed while one was in flight, or while asleep, become one
            misfire_grace_time=None,  # a late run still runs, however late
        )
        scheduler.start()
        log.info("scheduler started; next cycle at %s", job.next_run_time)
        try:
            await stop.wait()
        finally:
            scheduler.shutdown(wait=False)
            await self._finish_in_flight()

    async def _tick(self) -> None:
        self._in_flight = asyncio.ensure_future(self._run_one())
        try:
            # Shielded: stopping the scheduler cancels its jobs, but must not cancel a cycle
            # (_finish_in_flight decides that), so the task stays recorded until it is done.
            await asyncio.shield(self._in_flight)
        except asyncio.CancelledError:
            # The scheduler stopping at shutdown: the cycle goes on (shielded) and its end is
            # said in one line by _finish_in_flight, never as a traceback from the scheduler's
            # job wrapper.
            return
        except Exception:
            log.exception("cycle crashed")

    async def _finish_in_flight(self) -> None:
        task = self._in_flight
        if task is None or task.done():
            return
        log.warning("stopping: waiting up to %.0f s for the cycle in flight", self._grace)
        done, _ = await asyncio.wait({task}, timeout=self._grace)
        if not done:
            # Cancelling at an await point leaves every committed page whole and gives claimed
            # changes back (see cycle._deliver), so the database stays consistent.
            log.warning("stopping: the cycle did not finish in time; cancelling it")
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
