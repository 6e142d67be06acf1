"""The messages besides the digest.

- Operational notices to `email.ops_recipients`: one "monitor is failing" after several failed
  cycles in a row, one "recovered" when a cycle succeeds again. Never in the content digest.
- The weekly quiet note to the digest's readers (when `digest.weekly_quiet_note` is on): a week
  without a digest, the monitor says it is alive and how many trials it watches.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from jinja2 import Environment

from monitor.config import Config, list_header
from monitor.cycle import CycleResult, Mailing
from monitor.deliver import Transport, build_message
from monitor.deliveries import OUTBOX, Deliveries
from monitor.errors import DeliveryError
from monitor.journal import Journal
from monitor.render import render_message
from monitor.store import Store

log = logging.getLogger(__name__)


async def notify_operators(
    config: Config,
    journal: Journal,
    transport: Transport,
    templates: Environment,
    result: CycleResult,
    clock: Callable[[], datetime],
    deliveries: Deliveries,
) -> str | None:
    """Send the notice this cycle calls for, if any; returns its kind once it is sent."""
    email = config.email
    if email is None or not email.ops_recipients:
        return None
    last = journal.last_notice()
    failures = journal.consecutive_failures()
    if result.ok:
        if last != "failing":
            return None
        kind = "recovered"
    elif failures < config.alerts.after_consecutive_failures or last == "failing":
        return None
    else:
        kind = "failing"
    now = clock()
    context = {
        "prefix": config.digest.subject_prefix,
        "failures": failures,
        "error": result.error or "",
        "cycle_id": result.cycle_id,
        "when": now.strftime("%Y-%m-%d %H:%M UTC"),
        "unsent": len(deliveries.pending()),
    }
    message_id = f"<ops-{kind}-{result.cycle_id}@trial-monitor>"
    sent = await _send_notice(
        transport, templates, f"ops_{kind}", context, email.sender, email.ops_recipients,
        message_id, now,
    )  # fmt: skip
    if not sent:
        return None  # likely the very failure being reported; tried again next cycle
    journal.record_notice(kind, result.cycle_id, now, ", ".join(email.ops_recipients))
    log.info("sent the %s notice to %s", kind, ", ".join(email.ops_recipients))
    return kind


QUIET_WEEK = timedelta(days=7)


async def quiet_week_note(
    config: Config,
    store: Store,
    journal: Journal,
    mailing: Mailing,
    templates: Environment,
    result: CycleResult,
    clock: Callable[[], datetime],
) -> bool:
    """Send the quiet-week note if a week has passed with nothing said; True once sent."""
    if not config.digest.weekly_quiet_note or not result.ok or result.delivered_to:
        return False
    now = clock()
    since = journal.last_quiet_moment()
    if since is None or now - since < QUIET_WEEK:
        return False
    context = {
        "prefix": config.digest.subject_prefix,
        "watched": len(store.known_trial_ids()),
        "searches": [s.name for s in config.watch.searches],
        "since": since.strftime("%d %B %Y").lstrip("0"),
        "when": now.strftime("%d %B %Y, %H:%M UTC").lstrip("0"),
    }
    recipients = tuple(r for r in mailing.router.everyone if r != OUTBOX)
    message_id = f"<quiet-{result.cycle_id}@trial-monitor>"
    sent = await _send_notice(
        mailing.transport, templates, "quiet", context, mailing.sender, recipients,
        message_id, now, list_header(config.digest),
    )  # fmt: skip
    if not sent:
        return False
    journal.record_notice("quiet", result.cycle_id, now, ", ".join(recipients) or "(outbox)")
    return True


async def notify_hold(
    config: Config,
    transport: Transport,
    templates: Environment,
    result: CycleResult,
    clock: Callable[[], datetime],
) -> bool:
    """Tell the operators that the sanity gate held this cycle's digest; True once sent."""
    email = config.email
    if result.held is None or email is None or not email.ops_recipients:
        return False
    now = clock()
    context = {
        "prefix": config.digest.subject_prefix,
        "reason": result.held,
        "cycle_id": result.cycle_id,
        "changes": result.figures.changes_found,
        "when": now.strftime("%Y-%m-%d %H:%M UTC"),
    }
    message_id = f"<ops-held-{result.cycle_id}@trial-monitor>"
    return await _send_notice(
        transport, templates, "ops_held", context, email.sender, email.ops_recipients,
        message_id, now,
    )  # fmt: skip


async def _send_notice(
    transport: Transport,
    templates: Environment,
    template: str,
    context: dict[str, object],
    sender: str,
    recipients: tuple[str, ...],
    message_id: str,
    now: datetime,
    list_id: str | None = None,
) -> bool:
    """Render and send one message; a failure is logged, not raised (the cycle's own outcome
    stands, and the caller tries again next cycle). True once the transport took it."""
    rendered = render_message(templates, template, context)
    message = build_message(rendered, sender, recipients, message_id, now, list_id)
    try:
        await transport.deliver(message)
    except DeliveryError as exc:
        log.warning("could not send the %s message: %s", template, exc)
        return False
    return True
