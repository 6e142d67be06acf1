"""`trial-monitor run`: the service loop that fires the schedule's trigger.

The loop stays thin: APScheduler decides when, `run_one` (built by the CLI) does one whole
cycle. One cycle at a time, missed runs coalesced into one, a little jitter so that many
monitors do not hit the registry in the same second.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from apscheduler.triggers.cron import CronTrigger

log = logging.getLogger(__name__)


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
