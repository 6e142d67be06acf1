"""The messages besides the digest, sent after each cycle.

- Operational notices to the operators (`email.ops_recipients`, on every channel that has
  them): one "monitor is failing" after several failed cycles in a row, one "recovered" when a
  cycle succeeds again, and one when the sanity gate held a digest. Never in the content digest.
- The weekly quiet note to the digest's readers (when `digest.weekly_quiet_note` is on): a week
  without a digest, the monitor says it is alive and how many trials it watches.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from monitor.core.errors import DeliveryError
from monitor.delivery.channel import Channel, NoticeLetter
from monitor.delivery.sending import Outgoing
from monitor.run.cycle import CycleResult
from monitor.store.journal import NoticeKind

log = logging.getLogger(__name__)

QUIET_WEEK = timedelta(days=7)


@dataclass(frozen=True)
class Alerts:
    """What the cycle just did, and what the messages about it need."""

    out: Outgoing
    result: CycleResult

    async def send_all(self) -> None:
        await self.notify_operators()
        await self.notify_hold()
        await self.notify_refused()
        await self.notify_bounced()
        await self.notify_stale()
        await self.quiet_week_note()

    async def notify_operators(self) -> NoticeKind | None:
        """Send the notice this cycle calls for, if any; returns its kind once it is sent."""
        config, journal, result = self.out.config, self.out.journal, self.result
        if not self._operators():
            return None
        last = journal.last_operator_notice()
        failures = journal.consecutive_failures()
        if result.ok:
            if last is not NoticeKind.FAILING:
                return None
            kind = NoticeKind.RECOVERED
        elif failures < config.alerts.after_consecutive_failures or last is NoticeKind.FAILING:
            return None
        else:
            kind = NoticeKind.FAILING
        now = self.out.clock()
        context = {
            **self._common(now),
            "failures": failures,
            "error": result.trouble or "",
            "unsent": len(self.out.deliveries.pending()),
            # What the recovered notice may truthfully say this cycle delivered.
            "digests": len(result.delivered_to),
            "found": result.figures.changes_found,
        }
        sent = await self._to_operators(f"ops_{kind.value}", f"ops-{kind.value}", context, now)
        if sent is None:
            return None  # likely the very failure being reported; tried again next cycle
        journal.record_notice(kind, result.cycle_id, now, sent)
        log.info("sent the %s notice to %s", kind.value, sent)
        return kind

    async def notify_hold(self) -> bool:
        """Tell the operators that the sanity gate held this cycle's digest; True once sent."""
        result = self.result
        if result.held is None:
            return False
        now = self.out.clock()
        context = {
            **self._common(now),
            "reason": result.held,
            "changes": result.figures.changes_found,
        }
        return await self._to_operators("ops_held", "ops-held", context, now) is not None

    async def notify_refused(self) -> bool:
        """Tell the operators which saved searches the registry has started to refuse (the
        rest of the cycle went on); True once sent."""
        result = self.result
        if not result.newly_refused:
            return False
        now = self.out.clock()
        context = {**self._common(now), "lines": list(result.newly_refused)}
        sent = await self._to_operators("ops_refused", "ops-refused", context, now)
        if sent is None:
            return False
        self.out.journal.record_notice(NoticeKind.REFUSED, result.cycle_id, now, sent)
        return True

    async def notify_bounced(self) -> bool:
        """Name to the operators the targets a service refused for good this cycle: they did
        not get their copy, and will not until the address is fixed; True once sent."""
        result = self.result
        if not result.bounced:
            return False
        now = self.out.clock()
        context = {**self._common(now), "lines": list(result.bounced)}
        sent = await self._to_operators("ops_bounced", "ops-bounced", context, now)
        if sent is None:
            return False
        self.out.journal.record_notice(NoticeKind.BOUNCED, result.cycle_id, now, sent)
        return True

    async def notify_stale(self) -> bool:
        """Warn the operators, once, that the registry answered with older data than the
        monitor had read (so it read nothing); True once sent."""
        out, result = self.out, self.result
        if result.stale is None or not self._operators():
            return False
        if out.journal.previous_stale(result.cycle_id):
            return False  # said when it began
        now = out.clock()
        context = {**self._common(now), "reason": result.stale}
        sent = await self._to_operators("ops_stale", "ops-stale", context, now)
        if sent is None:
            return False
        out.journal.record_notice(NoticeKind.STALE, result.cycle_id, now, sent)
        return True

    async def quiet_week_note(self) -> bool:
        """Send the quiet-week note if a week has passed with nothing said; True once sent."""
        out, result = self.out, self.result
        config = out.config
        if not config.digest.weekly_quiet_note or not result.ok or result.delivered_to:
            return False
        now = out.clock()
        since = out.journal.last_quiet_moment()
        if since is None or now - since < QUIET_WEEK:
            return False
        context = {
            "prefix": config.digest.subject_prefix,
            "watched": sum(s.report(out.engine, config).trials for s in out.sources),
            "searches": [s.name for s in config.watch.searches],
            "since": since.strftime("%d %B %Y").lstrip("0"),
            "when": now.strftime("%d %B %Y, %H:%M UTC").lstrip("0"),
        }
        letter = NoticeLetter("quiet", context, "quiet", result.cycle_id, now, readers=True)
        reached: list[str] = []
        for channel in out.channels:
            # Everyone who gets every change; the outbox's one target is no one ("").
            targets = tuple(t for t in channel.router.everyone if t)
            if not await self._send(channel, letter, targets):
                return False
            reached += targets
        out.journal.record_notice(
            NoticeKind.QUIET, result.cycle_id, now, ", ".join(reached) or "(outbox)"
        )
        return True

    def _operators(self) -> list[Channel]:
        """The channels that have operators to tell."""
        return [c for c in self.out.channels if c.operators]

    async def _to_operators(
        self, template: str, kind: str, context: dict[str, object], now: datetime
    ) -> str | None:
        """One notice to the operators on every channel that has them; whom it reached, once
        every one took it, else None (tried again next cycle)."""
        channels = self._operators()
        if not channels:
            return None
        letter = NoticeLetter(template, context, kind, self.result.cycle_id, now)
        for channel in channels:
            if not await self._send(channel, letter, channel.operators):
                return None
        return ", ".join(t for c in channels for t in c.operators)

    def _common(self, now: datetime) -> dict[str, object]:
        """What every operator notice says."""
        return {
            "prefix": self.out.config.digest.subject_prefix,
            "cycle_id": self.result.cycle_id,
            "when": now.strftime("%Y-%m-%d %H:%M UTC"),
        }

    async def _send(self, channel: Channel, letter: NoticeLetter, targets: tuple[str, ...]) -> bool:
        """Send one notice; a failure is logged, not raised (the cycle's own outcome stands,
        and the caller tries again next cycle). True once the channel took it."""
        try:
            await channel.send(letter, targets)
        except DeliveryError as exc:
            log.warning("could not send the %s message: %s", letter.template, exc)
            return False
        return True
