"""The dead-man's switch: after each cycle, tell an outside watcher (healthchecks.io, or one of
its self-hosted peers) that the monitor ran, so an operator is paged when it stops running at
all, which no notice sent from inside it can do.

The convention is theirs: a request to the ping URL says "ran fine", to `<url>/fail` "ran and
failed"; the body (the cycle's one-line summary) is shown in the watcher's log. A ping that
fails is logged and never fails the cycle: the watcher itself notices the silence.
"""

from __future__ import annotations

import logging
from urllib.parse import urlsplit, urlunsplit

import httpx

from monitor import __version__
from monitor.sources.http import network_failure, tls_context

log = logging.getLogger(__name__)

# healthchecks.io keeps the first 100 kB of a body; a summary is one line.
MAX_BODY_BYTES = 10_000


def ping_target(url: str, ok: bool) -> str:
    """The URL itself on success; on failure, `/fail` after its path (before any query)."""
    if ok:
        return url
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=parts.path.rstrip("/") + "/fail"))


async def ping(url: str, ok: bool, summary: str, timeout_seconds: float) -> bool:
    """POST the summary to the ping URL (or its /fail); True when the watcher took it."""
    target = ping_target(url, ok)
    # The URL's path is the check's secret (anyone who has it can ping); log only the host.
    where = urlsplit(url).netloc
    try:
        async with httpx.AsyncClient(
            verify=tls_context(),
            timeout=httpx.Timeout(timeout_seconds),
            headers={"User-Agent": f"trial-monitor/{__version__}"},
            follow_redirects=True,
        ) as client:
            response = await client.post(target, content=summary.encode("utf-8")[:MAX_BODY_BYTES])
    except httpx.HTTPError as exc:
        log.warning(
            "ping to %s failed: %s; the cycle itself is unaffected", where, network_failure(exc)
        )
        return False
    if response.status_code >= 400:
        log.warning(
            "ping to %s answered HTTP %d; the cycle itself is unaffected",
            where,
            response.status_code,
        )
        return False
    log.info("pinged %s (%s)", where, "ok" if ok else "fail")
    return True
