"""One monitoring cycle: plan → poll → normalize → diff and store → render → deliver.

The only module that knows the order of the stages. Every observation is stored, with the
changes it reveals, before anything is sent; delivery then sends whatever is unsent, this
cycle's changes and any an earlier cycle could not deliver.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import assert_never

from jinja2 import Environment

from monitor.config import Config, list_header
from monitor.deliver import Transport, build_message, digest_message_id
from monitor.deliveries import OUTBOX, Deliveries, Sending
from monitor.errors import DeliveryError, LimitError, RegistryError
from monitor.importance import Ranking
from monitor.journal import CycleFigures, Journal
from monitor.models import (
    Change,
    Digest,
    Observation,
    Outcome,
    PendingChange,
    RenderedMessage,
    Snapshot,
)
from monitor.normalize import IncompleteRecord, normalize, study_id
from monitor.plan import Plan, PlanMode, plan_cycle
from monitor.registry import Page, RegistryClient
from monitor.render import build_digest, render_digest
from monitor.routing import Router
from monitor.sanity import hold_reason
from monitor.store import SearchContext, Store

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

    @property
    def ok(self) -> bool:
        return self.outcome is Outcome.OK


@dataclass
class _Cycle:
    """One cycle's state, carried through every step (as urlwatch's JobState): its deps, its
    id, its plan, and the tally its figures and the sanity gate are made of."""

    deps: CycleDeps
    id: int
    plan: Plan = field(default_factory=lambda: Plan(PlanMode.FULL))
    trials_checked: int = 0
    changes_found: int = 0
    rejected: set[str] = field(default_factory=set)  # ids (or positions) of records turned away
    watched: int = 0
    changed: set[str] = field(default_factory=set)  # trials with a change this cycle

    def normalize(self, page: Page) -> list[Observation]:
        observations = []
        for study in page:
            try:
                observations.append(normalize(study))
            except IncompleteRecord as exc:
                # The same broken record may come from a search and from its id: count it once.
                self.rejected.add(study_id(study) or f"record {len(self.rejected) + 1} without id")
                log.warning("skipped a registry record: %s", exc)
        return observations

    def record(
        self, observations: Sequence[Observation], search: SearchContext | None = None
    ) -> None:
        """Store a page of observations and count what they revealed."""
        if not observations:
            return
        limit = self.deps.config.registry.max_records_per_cycle
        if self.trials_checked + len(observations) > limit:
            raise LimitError(
                f"this cycle passed {limit:,} records (registry.max_records_per_cycle); "
                "stopped there"
            )
        found = self.deps.store.record(self.id, observations, self.deps.clock(), search)
        self.trials_checked += len(observations)
        self.found(found)

    def found(self, changes: Sequence[Change]) -> None:
        self.changes_found += len(changes)
        self.changed.update(c.nct_id for c in changes)
        for change in changes:
            log.info(
                "%s: %s %s → %s", change.nct_id, change.kind.value, change.before, change.after
            )


async def run_cycle(deps: CycleDeps) -> CycleResult:
    cycle_id = deps.journal.start_cycle(deps.clock())
    try:
        return await _run(_Cycle(deps, cycle_id))
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


async def _run(cycle: _Cycle) -> CycleResult:
    deps = cycle.deps
    outcome, error, data_timestamp, mode = Outcome.OK, None, None, None
    try:
        data_timestamp = await deps.registry.data_timestamp()
        plan = plan_cycle(deps.journal.history(), data_timestamp, deps.clock(), deps.config.polling)
        cycle.plan, mode = plan, plan.mode
        log.info("cycle %d reads the registry: %s (%s)", cycle.id, plan.mode, plan.reason)
        seen = await _poll_searches(cycle)
        await _poll_watched(cycle, seen)
        _judge_claims(cycle)
        if plan.mode is PlanMode.FULL:
            deps.store.prune(deps.clock(), deps.config.polling.snapshot_retention_days)
    except RegistryError as exc:
        # What was recorded before the failure stands, and is delivered below.
        outcome, error = Outcome.REGISTRY_FAILED, str(exc)
        log.error("%s", exc)
    held = _sanity_gate(cycle)
    delivered, failures = await deliver_pending(deps, cycle.id, data_timestamp)
    if failures:
        outcome = Outcome.DELIVERY_FAILED
        error = "; ".join([*([error] if error else []), *failures])
    stats = deps.registry.stats
    figures = CycleFigures(
        requests=stats.requests,
        bytes_received=stats.bytes_received,
        trials_checked=cycle.trials_checked,
        changes_found=cycle.changes_found,
        records_rejected=len(cycle.rejected),
        mode=mode,
        data_timestamp=data_timestamp,
    )
    deps.journal.finish_cycle(cycle.id, deps.clock(), outcome, figures, error)
    return CycleResult(cycle.id, outcome, figures, tuple(delivered), error, held)


async def _poll_searches(cycle: _Cycle) -> set[str]:
    """Run the saved searches the plan calls for; returns the ids they observed."""
    deps, plan = cycle.deps, cycle.plan
    seen: set[str] = set()
    known = deps.store.known_search_terms()
    for search in deps.config.watch.searches:
        baseline = search.term not in known
        if plan.mode is PlanMode.UNCHANGED and not baseline:
            continue
        since = None if baseline else plan.since
        context = SearchContext(search.term, search.name, baseline=baseline)
        async for page in deps.registry.search(search.term, since):
            observations = cycle.normalize(page)
            cycle.record(observations, context)
            seen.update(o.snapshot.nct_id for o in observations)
        # Only a search that ran to its last page has set its baseline.
        deps.store.complete_search(search.term, search.name, deps.clock())
    return seen


async def _poll_watched(cycle: _Cycle, seen: set[str]) -> None:
    """Fetch the watched trials the searches did not already bring, as the plan says."""
    deps, plan = cycle.deps, cycle.plan
    search_terms = [s.term for s in deps.config.watch.searches]
    watched = deps.store.watched_ids(deps.config.watch.trials, search_terms)
    cycle.watched = len(watched)
    known = deps.store.known_trial_ids()
    new = [i for i in watched if i not in known and i not in seen]
    rest = [i for i in watched if i in known and i not in seen]
    await _fetch_ids(cycle, new)  # a new trial needs its baseline
    match plan.mode:
        case PlanMode.FULL:
            await _fetch_ids(cycle, rest)
        case PlanMode.INCREMENTAL:
            assert plan.since is not None
            await _fetch_updated(cycle, rest, plan.since)
        case PlanMode.UNCHANGED:
            pass
        case _:
            assert_never(plan.mode)


async def _fetch_ids(cycle: _Cycle, ids: list[str], since: date | None = None) -> None:
    """Fetch `ids` in batches; without `since`, an id a batch lacks is a record not found."""
    registry = cycle.deps.registry
    for batch in registry.batches(ids):
        returned: set[str] = set()
        async for page in registry.studies(batch, since):
            returned.update(i for i in map(study_id, page) if i)
            cycle.record(cycle.normalize(page))
        if since is not None:
            continue  # absent only means "not updated"
        missing = [Observation(Snapshot.missing(i), raw=None) for i in batch if i not in returned]
        for observation in missing:
            log.warning("%s: the registry returned no record", observation.snapshot.nct_id)
        cycle.record(missing)


async def _fetch_updated(cycle: _Cycle, ids: list[str], since: date) -> None:
    """The watched trials updated since `since`, by the cheaper of two ways: the id batches with
    a date filter, or one registry-wide listing of every study updated since then (counted
    first), keeping the watched ones. A large watch list on a quiet day favours the second."""
    registry = cycle.deps.registry
    batches = sum(1 for _ in registry.batches(ids))
    if batches > 2:  # with one or two batches, counting could not save a request
        total = await registry.count_updated(since)
        pages = max(1, math.ceil(total / cycle.deps.config.registry.page_size))
        log.info(
            "%d studies updated since %s: %d pages against %d batches", total, since, pages, batches
        )
        if pages < batches:
            watched = set(ids)
            async for page in registry.updated(since):
                mine = [s for s in page if study_id(s) in watched]
                cycle.record(cycle.normalize(mine))
            return
    await _fetch_ids(cycle, ids, since)


def _judge_claims(cycle: _Cycle) -> None:
    deps = cycle.deps
    cycle.found(deps.store.judge_claims(cycle.id, deps.config.claims, deps.clock()))


def _sanity_gate(cycle: _Cycle) -> str | None:
    """Hold this cycle's changes back from the digest when they look like a fault."""
    deps = cycle.deps
    sanity = deps.config.sanity
    reason = hold_reason(len(cycle.changed), cycle.watched, len(cycle.rejected), sanity)
    if reason is not None:
        deps.deliveries.hold(cycle.id, reason, deps.clock())
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
