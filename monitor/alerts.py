"""Operational notices to `email.ops_recipients`: one "monitor is failing" after several failed
cycles in a row, one "recovered" when a cycle succeeds again. Never in the content digest."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from jinja2 import Environment

from monitor.config import Config
from monitor.cycle import CycleResult
from monitor.deliver import Transport, build_message
from monitor.errors import DeliveryError
from monitor.render import render_message
from monitor.store import Store

log = logging.getLogger(__name__)


async def notify_operators(
    config: Config,
    store: Store,
    transport: Transport,
    templates: Environment,
    result: CycleResult,
    clock: Callable[[], datetime],
    unsent: int,
) -> str | None:
    """Send the notice this cycle calls for, if any; returns its kind once it is sent."""
    email = config.email
    if email is None or not email.ops_recipients:
        return None
    last = store.last_notice()
    failures = store.consecutive_failures()
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
        "unsent": unsent,
    }
    rendered = render_message(templates, f"ops_{kind}", context)
    message_id = f"<ops-{kind}-{result.cycle_id}@trial-monitor>"
    message = build_message(rendered, email.sender, email.ops_recipients, message_id, now)
    try:
        await transport.deliver(message)
    except DeliveryError as exc:
        # Likely the very failure being reported; the notice is tried again next cycle.
        log.warning("could not send the %s notice to the operators: %s", kind, exc)
        return None
    store.record_notice(kind, result.cycle_id, now, ", ".join(email.ops_recipients))
    log.info("sent the %s notice to %s", kind, ", ".join(email.ops_recipients))
    return kind
