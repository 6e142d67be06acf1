"""One monitoring cycle: plan → read (poll.py: normalize, diff and store) → judge the
claims → render → deliver.

The only module that knows the order of the stages. Every observation is stored, with the
changes it reveals, before anything is sent; delivery then sends whatever is unsent, this
cycle's changes and any an earlier cycle could not deliver.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from jinja2 import Environment

from monitor.config import Config, list_header
from monitor.deliver import Transport, build_message, digest_message_id
from monitor.deliveries import OUTBOX, Deliveries, Sending
from monitor.errors import DeliveryError, RegistryError
from monitor.importance import Ranking
from monitor.journal import CycleFigures, Journal
from monitor.models import Digest, Outcome, PendingChange, RenderedMessage
from monitor.plan import PlanMode, plan_cycle
from monitor.poll import Reading, read_registry
from monitor.registry import RegistryClient, RequestStats
from monitor.render import build_digest, render_digest
from monitor.routing import Router
from monitor.sanity import hold_reason
from monitor.store import Store

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]


@dataclass(frozen=True)
class Mailing:
    """Who digests are from and to; the transport decides how they travel."""

    transport: Transport
    sender: str
    router: Router


@dataclass(frozen=True)
class Outgoing:
    """What sending messages needs: the cycle's deps without the registry (see `release`)."""

    config: Config
    store: Store
    deliveries: Deliveries
    journal: Journal
    mailing: Mailing
    templates: Environment
    clock: Clock


@dataclass(frozen=True)
class CycleDeps(Outgoing):
    registry: RegistryClient


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
    try:
        data_timestamp = await deps.registry.data_timestamp()
        plan = plan_cycle(deps.journal.history(), data_timestamp, deps.config.polling)
        log.info("cycle %d reads the registry: %s (%s)", cycle_id, plan.mode.value, plan.reason)
        reading = Reading(deps.registry, deps.store, deps.config, deps.clock, cycle_id, plan)
        await read_registry(reading)
        _judge_claims(reading)
        if plan.mode is not PlanMode.UNCHANGED:
            deps.store.prune(deps.clock(), deps.config.polling.snapshot_retention_days)
    except RegistryError as exc:
        # What was recorded before the failure stands, and is delivered below.
        outcome, error = Outcome.REGISTRY_FAILED, str(exc)
        log.error("%s", exc)
    held = _sanity_gate(deps, reading) if reading else None
    delivered, failures = await deliver_pending(deps, cycle_id, data_timestamp)
    if failures:
        outcome = Outcome.DELIVERY_FAILED
        error = "; ".join([*([error] if error else []), *failures])
    figures = _figures(deps.registry.stats, reading, data_timestamp)
    deps.journal.finish_cycle(cycle_id, deps.clock(), outcome, figures, error)
    return CycleResult(
        cycle_id,
        outcome,
        figures,
        tuple(delivered),
        error,
        held,
        tuple(reading.refused_searches) if reading else (),
        tuple(reading.newly_refused) if reading else (),
    )


def _figures(
    stats: RequestStats, reading: Reading | None, data_timestamp: str | None
) -> CycleFigures:
    if reading is None:
        return CycleFigures(stats.requests, stats.bytes_received, data_timestamp=data_timestamp)
    return CycleFigures(
        requests=stats.requests,
        bytes_received=stats.bytes_received,
        trials_checked=reading.trials_checked,
        changes_found=reading.changes_found,
        records_rejected=len(reading.rejected),
        mode=reading.plan.mode,
        data_timestamp=data_timestamp,
    )


def _judge_claims(reading: Reading) -> None:
    config = reading.config
    reading.found(reading.store.judge_claims(reading.cycle_id, config.claims, reading.clock()))


def _sanity_gate(deps: CycleDeps, reading: Reading) -> str | None:
    """Hold this cycle's changes back from the digest when they look like a fault."""
    sanity = deps.config.sanity
    reason = hold_reason(len(reading.changed), reading.watched, len(reading.rejected), sanity)
    if reason is not None:
        deps.deliveries.hold(reading.cycle_id, reason, deps.clock())
        log.error("digest held for an operator (trial-monitor release): %s", reason)
    return reason


async def deliver_pending(
    out: Outgoing, cycle_id: int | None, data_timestamp: str | None
) -> tuple[list[str], list[str]]:
    """One digest per group of recipients who get the same changes. Returns where each went
    and what failed; a failed digest keeps its changes for the next cycle, the others go."""
    mailing = out.mailing
    sendings = out.deliveries.claim(mailing.router, out.clock(), mailing.transport.name, cycle_id)
    delivered: list[str] = []
    failures: list[str] = []
    for index, sending in enumerate(sendings):
        try:
            delivered.append(await _send(out, data_timestamp, sending))
        except DeliveryError as exc:
            failures.append(str(exc))
            log.error("%s", exc)
        except BaseException:
            # Cancelled at shutdown, or a bug: the digests not yet sent go out next time.
            for unsent in sendings[index + 1 :]:
                out.deliveries.release(unsent.delivery_id, out.clock(), "not sent: interrupted")
            raise
    return delivered, failures


def compose_digest(
    out: Outgoing, pending: Sequence[PendingChange], data_timestamp: str | None
) -> tuple[Digest, RenderedMessage]:
    """The digest of these changes and its words, as sent (and as `preview` shows it)."""
    titles = out.store.titles({p.change.nct_id for p in pending})
    config = out.config
    digest = build_digest(
        pending,
        titles,
        out.clock(),
        data_timestamp,
        Ranking(config.digest.importance),
        cited=config.watch.trials,
    )
    return digest, render_digest(digest, config.digest.subject_prefix, out.templates)


async def _send(out: Outgoing, data_timestamp: str | None, sending: Sending) -> str:
    mailing = out.mailing
    recipients = tuple(r for r in sending.recipients if r != OUTBOX)
    try:
        digest, rendered = compose_digest(out, sending.pending, data_timestamp)
        message_id = digest_message_id(digest.change_ids, recipients)
        message = build_message(
            rendered,
            mailing.sender,
            recipients,
            message_id,
            digest.generated_at,
            list_header(out.config.digest),
            digest.change_ids,
        )
        where = await mailing.transport.deliver(message)
    except BaseException as exc:
        # Whatever stopped the send, the changes stay unsent and go out next time.
        out.deliveries.release(sending.delivery_id, out.clock(), str(exc) or type(exc).__name__)
        raise
    out.deliveries.mark_sent(sending.delivery_id, out.clock(), rendered.subject, message_id, where)
    log.info("digest of %d changes delivered: %s", digest.change_count, where)
    return where
