"""A cycle in words for its operator: the line `check` prints (and the ping carries), and the
log line with its figures as fields for JSON logs."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from monitor.core.counted import counted
from monitor.run.cycle import CycleResult

log = logging.getLogger("monitor")


def log_cycle(result: CycleResult, seconds: float) -> None:
    figures = result.figures
    log.info(
        "cycle %d %s: %s (%d rejected), %s, %.1f kB, %s, %s, %.1f s%s",
        result.cycle_id,
        result.outcome,
        counted(figures.trials_checked, "trial record"),
        figures.records_rejected,
        counted(figures.requests, "request"),
        figures.bytes_received / 1000,
        counted(figures.changes_found, "new change"),
        digests(result.delivered_to),
        seconds,
        f" — {result.trouble}" if result.trouble else "",
        extra={
            "cycle": result.cycle_id,
            "outcome": result.outcome,
            "trials_checked": figures.trials_checked,
            "records_rejected": figures.records_rejected,
            "requests": figures.requests,
            "bytes_received": figures.bytes_received,
            "changes_found": figures.changes_found,
            "delivered_to": result.delivered_to,
            "seconds": round(seconds, 3),
            "error": result.error,
            "unread": result.unread,
        },
    )


def describe(result: CycleResult) -> str:
    figures = result.figures
    records = counted(figures.trials_checked, "trial record")
    parts = [
        f"checked {records} in {counted(figures.requests, 'request')}",
        counted(figures.changes_found, "new change"),
    ]
    if result.article_checks:
        checks = counted(len(result.article_checks), "article check") + " (a first look)"
        # The outbox is the mail server (or the one channel) when there is no [email]: say
        # where the file is, as for the digest.
        where = ", ".join(result.article_checks)
        parts.append(f"{checks} written to {where}" if result.kept else f"{checks} sent")
    if result.delivered_to and result.kept:
        places = ", ".join(result.delivered_to)
        parts.append(f"digest written to {places} (no [email] section: outbox)")
    elif result.delivered_to:
        parts.append(digests(result.delivered_to) + " sent")
    elif result.outcome.done:
        parts.append("nothing to send")
    if result.error:
        # Each failure says what became of what it held back (kept, or dropped for good).
        parts.append(f"FAILED: {result.error}")
    # Done all the same: the registry's news went out; the rest is read again next cycle.
    parts.extend(f"NOT READ: {line}; read again next cycle (exit 4)" for line in result.unread)
    if result.held:
        parts.append(f"HELD for a look: {result.held}; see `trial-monitor preview`, then `release`")
    parts.extend(f"REFUSED: {line}" for line in result.refused_searches)
    if result.stale:
        parts.append(f"NOT READ: {result.stale}")
    return "check: " + "; ".join(parts)


def digests(places: Sequence[str]) -> str:
    if not places:
        return "no digest"
    return f"{len(places)} digest{'s' if len(places) != 1 else ''} ({'; '.join(places)})"
