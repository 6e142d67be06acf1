"""The messages besides the digest, sent after each cycle.

- Operational notices to `email.ops_recipients`: one "monitor is failing" after several failed
  cycles in a row, one "recovered" when a cycle succeeds again, and one when the sanity gate
  held a digest. Never in the content digest.
- The weekly quiet note to the digest's readers (when `digest.weekly_quiet_note` is on): a week
  without a digest, the monitor says it is alive and how many trials it watches.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from monitor.core.errors import DeliveryError
from monitor.delivery.deliveries import OUTBOX
from monitor.delivery.email.transport import build_message
from monitor.delivery.sending import Outgoing
from monitor.editorial.render import render_message
from monitor.run.cycle import CycleResult
from monitor.settings.config import list_header
from monitor.sources.ctgov.plan import PlanMode
from monitor.store.journal import NoticeKind

log = logging.getLogger(__name__)

QUIET_WEEK = timedelta(days=7)


@dataclass(frozen=True)
class _Notice:
    """One message to send: its templates, what they say, and to whom."""

    template: str
    context: dict[str, object]
    recipients: tuple[str, ...]
    message_id: str
    list_id: str | None = None


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
        email = config.email
        if email is None or not email.ops_recipients:
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
            "error": result.error or "",
            "unsent": len(self.out.deliveries.pending()),
            # What the recovered notice may truthfully say this cycle delivered.
            "digests": len(result.delivered_to),
            "found": result.figures.changes_found,
        }
        notice = _Notice(
            f"ops_{kind.value}",
            context,
            email.ops_recipients,
            self._id(f"ops-{kind.value}"),
        )
        if not await self._send(notice, now):
            return None  # likely the very failure being reported; tried again next cycle
        journal.record_notice(kind, result.cycle_id, now, ", ".join(email.ops_recipients))
        log.info("sent the %s notice to %s", kind.value, ", ".join(email.ops_recipients))
        return kind

    async def notify_hold(self) -> bool:
        """Tell the operators that the sanity gate held this cycle's digest; True once sent."""
        email, result = self.out.config.email, self.result
        if result.held is None or email is None or not email.ops_recipients:
            return False
        now = self.out.clock()
        context = {
            **self._common(now),
            "reason": result.held,
            "changes": result.figures.changes_found,
        }
        notice = _Notice(
            "ops_held",
            context,
            email.ops_recipients,
            self._id("ops-held"),
        )
        return await self._send(notice, now)

    async def notify_refused(self) -> bool:
        """Tell the operators which saved searches the registry has started to refuse (the
        rest of the cycle went on); True once sent."""
        email, result = self.out.config.email, self.result
        if not result.newly_refused or email is None or not email.ops_recipients:
            return False
        now = self.out.clock()
        context = {**self._common(now), "lines": list(result.newly_refused)}
        notice = _Notice(
            "ops_refused",
            context,
            email.ops_recipients,
            self._id("ops-refused"),
        )
        if not await self._send(notice, now):
            return False
        recipients = ", ".join(email.ops_recipients)
        self.out.journal.record_notice(NoticeKind.REFUSED, result.cycle_id, now, recipients)
        return True

    async def notify_bounced(self) -> bool:
        """Name to the operators the recipients the mail server refused for good this cycle:
        they did not get their copy, and will not until the address is fixed; True once sent."""
        email, result = self.out.config.email, self.result
        if not result.bounced or email is None or not email.ops_recipients:
            return False
        now = self.out.clock()
        notice = _Notice(
            "ops_bounced",
            {**self._common(now), "lines": list(result.bounced)},
            email.ops_recipients,
            self._id("ops-bounced"),
        )
        if not await self._send(notice, now):
            return False
        recipients = ", ".join(email.ops_recipients)
        self.out.journal.record_notice(NoticeKind.BOUNCED, result.cycle_id, now, recipients)
        return True

    async def notify_stale(self) -> bool:
        """Warn the operators, once, that the registry answered with older data than the
        monitor had read (so it read nothing); True once sent."""
        out, result = self.out, self.result
        email = out.config.email
        if result.stale is None or email is None or not email.ops_recipients:
            return False
        if out.journal.previous_mode(result.cycle_id) is PlanMode.STALE:
            return False  # said when it began
        now = out.clock()
        notice = _Notice(
            "ops_stale",
            {**self._common(now), "reason": result.stale},
            email.ops_recipients,
            self._id("ops-stale"),
        )
        if not await self._send(notice, now):
            return False
        recipients = ", ".join(email.ops_recipients)
        out.journal.record_notice(NoticeKind.STALE, result.cycle_id, now, recipients)
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
            "watched": len(out.store.known_trial_ids()),
            "searches": [s.name for s in config.watch.searches],
            "since": since.strftime("%d %B %Y").lstrip("0"),
            "when": now.strftime("%d %B %Y, %H:%M UTC").lstrip("0"),
        }
        recipients = tuple(r for r in out.mailing.router.everyone if r != OUTBOX)
        notice = _Notice(
            "quiet",
            context,
            recipients,
            self._id("quiet"),
            list_header(config.digest),
        )
        if not await self._send(notice, now):
            return False
        out.journal.record_notice(
            NoticeKind.QUIET, result.cycle_id, now, ", ".join(recipients) or "(outbox)"
        )
        return True

    def _id(self, kind: str) -> str:
        """A notice's Message-ID: the same notice of the same cycle is the same message."""
        return self.out.mailing.sender.message_id(kind, self.result.cycle_id)

    def _common(self, now: datetime) -> dict[str, object]:
        """What every operator notice says."""
        return {
            "prefix": self.out.config.digest.subject_prefix,
            "cycle_id": self.result.cycle_id,
            "when": now.strftime("%Y-%m-%d %H:%M UTC"),
        }

    async def _send(self, notice: _Notice, now: datetime) -> bool:
        """Render and send one message; a failure is logged, not raised (the cycle's own
        outcome stands, and the caller tries again next cycle). True once the transport took it."""
        out = self.out
        rendered = render_message(out.templates, notice.template, notice.context)
        message = build_message(
            rendered,
            out.mailing.sender.address,
            notice.recipients,
            notice.message_id,
            now,
            notice.list_id,
        )
        try:
            await out.mailing.transport.deliver(message)
        except DeliveryError as exc:
            log.warning("could not send the %s message: %s", notice.template, exc)
            return False
        return True
