"""One monitoring cycle: plan → read the registry (poll.py: normalize, diff and store) → judge
the claims → read PubMed (literature.py, when the literature side is on) → the sanity gate →
send (sending.py: render and deliver).

The only module that knows the order of the stages. Every observation is stored, with the
changes it reveals, before anything is sent; delivery then sends whatever is unsent, this
cycle's changes and any an earlier cycle could not deliver.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from monitor.core.errors import PubmedError, RegistryError
from monitor.core.models import Outcome
from monitor.core.sanity import hold_reason
from monitor.delivery.sending import DeliveryReport, Outgoing, deliver_pending, send_article_checks
from monitor.sources.ctgov.client import RegistryClient
from monitor.sources.ctgov.plan import PlanMode, plan_cycle
from monitor.sources.ctgov.reading import Reading, read_registry
from monitor.sources.http import RequestStats
from monitor.store.journal import CycleFigures

if TYPE_CHECKING:
    from monitor.sources.pubmed.client import PubmedClient

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CycleDeps(Outgoing):
    registry: RegistryClient
    pubmed: PubmedClient | None = None  # None: the literature side is off


@dataclass(frozen=True)
class CycleResult:
    cycle_id: int
    outcome: Outcome
    figures: CycleFigures
    delivered_to: tuple[str, ...] = ()
    error: str | None = None
    held: str | None = None  # why the sanity gate held this cycle's digest
    refused_searches: tuple[str, ...] = ()  # saved searches the registry refused, one line each
    newly_refused: tuple[str, ...] = ()  # of those, the ones it answered last time
    stale: str | None = None  # why nothing was read: the registry's data went backwards
    bounced: tuple[str, ...] = ()  # recipients the mail server refused for good, one line each
    article_checks: tuple[str, ...] = ()  # where each article check (a first look) went

    @property
    def ok(self) -> bool:
        return self.outcome is Outcome.OK


async def run_cycle(deps: CycleDeps) -> CycleResult:
    cycle_id = deps.journal.start_cycle(deps.clock())
    try:
        return await _run(deps, cycle_id)
    except BaseException as exc:
        # Cancelled at shutdown, or a bug: the cycle row still gets its end. Every page already
        # written is whole, and an unfinished delivery has given its changes back.
        deps.journal.finish_cycle(
            cycle_id,
            deps.clock(),
            Outcome.INTERRUPTED,
            CycleFigures(),
            f"{type(exc).__name__}: {exc}",
        )
        raise


async def _run(deps: CycleDeps, cycle_id: int) -> CycleResult:
    outcome, error, data_timestamp = Outcome.OK, None, None
    reading: Reading | None = None  # none when the registry failed before the plan
    # Articles new to the config: their claims are judged silently, their first look says it.
    first_look = deps.journal.unchecked_articles([a.key for a in deps.config.articles])
    try:
        data_timestamp = await deps.registry.data_timestamp()
        plan = plan_cycle(deps.journal.history(), data_timestamp, deps.config.polling)
        if plan.mode is PlanMode.STALE:
            log.warning("cycle %d: %s", cycle_id, plan.reason)
        else:
            log.info("cycle %d reads the registry: %s (%s)", cycle_id, plan.mode.value, plan.reason)
        reading = Reading(deps.registry, deps.store, deps.config, deps.clock, cycle_id, plan)
        await read_registry(reading)
        _judge_claims(reading, first_look)
        if plan.mode in (PlanMode.FULL, PlanMode.INCREMENTAL):
            deps.store.prune(deps.clock(), deps.config.polling.snapshot_retention_days)
    except RegistryError as exc:
        # What was recorded before the failure stands, and is delivered below.
        outcome, error = Outcome.REGISTRY_FAILED, str(exc)
        log.error("%s", exc)
    literature = await _read_literature(deps, cycle_id)
    held = _sanity_gate(deps, reading) if reading else None
    checks = DeliveryReport()
    if outcome is Outcome.OK and reading and reading.plan.mode is not PlanMode.STALE:
        checks = await send_article_checks(deps, first_look, data_timestamp)
    unread = f"PubMed could not be read: {literature.error}" if literature.error else None
    # The digest names the source; the reason is the operators' (the log, `status`).
    sent = await deliver_pending(deps, cycle_id, data_timestamp, "PubMed" if unread else None)
    sent.failures[:0] = checks.failures
    if sent.failures:
        outcome = Outcome.DELIVERY_FAILED
    # PubMed's failure is said, not counted as the cycle's: the registry's side went through.
    error = (
        "; ".join([*([error] if error else []), *([unread] if unread else []), *sent.failures])
        or None
    )
    figures = _figures(deps, reading, data_timestamp, literature.changes_found)
    deps.journal.finish_cycle(cycle_id, deps.clock(), outcome, figures, error)
    return CycleResult(
        cycle_id,
        outcome,
        figures,
        tuple(sent.delivered),
        error,
        held,
        tuple(reading.refused_searches) if reading else (),
        tuple(reading.newly_refused) if reading else (),
        reading.plan.reason if reading and reading.plan.mode is PlanMode.STALE else None,
        tuple(sent.bounced),
        tuple(checks.delivered),
    )


@dataclass(frozen=True)
class _Literature:
    changes_found: int = 0
    error: str | None = None


async def _read_literature(deps: CycleDeps, cycle_id: int) -> _Literature:
    """PubMed's side, on its own: its failure stops neither the registry's changes nor their
    delivery, and what it recorded before failing stands."""
    if deps.pubmed is None:
        return _Literature()
    # Imported only when the literature side is on: a no-op cycle without it starts quicker.
    from monitor.sources.pubmed.reading import LiteratureReading, read_literature

    reading = LiteratureReading(deps.pubmed, deps.library, deps.config, deps.clock, cycle_id)
    try:
        await read_literature(reading)
    except PubmedError as exc:
        log.error("%s", exc)
        return _Literature(reading.changes_found, str(exc))
    return _Literature(reading.changes_found)


def _figures(
    deps: CycleDeps, reading: Reading | None, data_timestamp: str | None, literature: int
) -> CycleFigures:
    stats = RequestStats(deps.registry.stats.requests, deps.registry.stats.bytes_received)
    if deps.pubmed is not None:
        stats.requests += deps.pubmed.stats.requests
        stats.bytes_received += deps.pubmed.stats.bytes_received
    if reading is None:
        return CycleFigures(
            stats.requests,
            stats.bytes_received,
            changes_found=literature,
            data_timestamp=data_timestamp,
        )
    return CycleFigures(
        requests=stats.requests,
        bytes_received=stats.bytes_received,
        trials_checked=reading.trials_checked,
        changes_found=reading.changes_found + literature,
        records_rejected=len(reading.rejected),
        mode=reading.plan.mode,
        data_timestamp=data_timestamp,
    )


def _judge_claims(reading: Reading, first_look: set[str]) -> None:
    claims = reading.config.claims
    now = reading.clock()
    reading.found(reading.store.judge_claims(reading.cycle_id, claims, now, first_look))


def _sanity_gate(deps: CycleDeps, reading: Reading) -> str | None:
    """Hold this cycle's changes back from the digest when they look like a fault."""
    sanity = deps.config.sanity
    reason = hold_reason(len(reading.changed), reading.watched, len(reading.incomplete), sanity)
    if reason is not None:
        deps.deliveries.hold(reading.cycle_id, reason, deps.clock())
        log.error("digest held for an operator (trial-monitor release): %s", reason)
    return reason
