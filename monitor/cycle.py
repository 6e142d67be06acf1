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

from jinja2 import Environment

from monitor.config import Config, list_header
from monitor.deliver import Transport, build_message, digest_message_id
from monitor.deliveries import OUTBOX, Deliveries, Sending
from monitor.errors import DeliveryError, LimitError, RegistryError
from monitor.importance import Ranking
from monitor.models import Digest, Observation, PendingChange, RenderedMessage, Snapshot
from monitor.normalize import IncompleteRecord, normalize, study_id
from monitor.plan import FULL, INCREMENTAL, UNCHANGED, Plan, plan_cycle
from monitor.registry import Page, RegistryClient
from monitor.render import build_digest, render_digest
from monitor.routing import Router
from monitor.sanity import hold_reason
from monitor.store import CycleFigures, SearchContext, Store

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
    """What sending digests needs: the cycle's deps without the registry (see `release`)."""

    config: Config
    store: Store
    deliveries: Deliveries
    mailing: Mailing
    templates: Environment


@dataclass(frozen=True)
class CycleDeps(Outgoing):
    registry: RegistryClient


@dataclass(frozen=True)
class CycleResult:
    cycle_id: int
    outcome: str  # ok | registry_failed | delivery_failed
    figures: CycleFigures
    delivered_to: tuple[str, ...] = ()
    error: str | None = None
    held: str | None = None  # why the sanity gate held this cycle's digest

    @property
    def ok(self) -> bool:
        return self.outcome == "ok"


@dataclass
class _Tally:
    trials_checked: int = 0
    changes_found: int = 0
    rejected: set[str] = field(default_factory=set)  # ids (or positions) of records turned away
    watched: int = 0
    changed: set[str] = field(default_factory=set)  # trials with a change this cycle


async def run_cycle(deps: CycleDeps, clock: Clock) -> CycleResult:
    cycle_id = deps.store.start_cycle(clock())
    try:
        return await _run(deps, clock, cycle_id)
    except BaseException as exc:
        # Cancelled at shutdown, or a bug: the cycle row still gets its end. Every page already
        # written is whole, and an unfinished delivery has given its changes back.
        deps.store.finish_cycle(
            cycle_id, clock(), "interrupted", CycleFigures(), f"{type(exc).__name__}: {exc}"
        )
        raise


async def _run(deps: CycleDeps, clock: Clock, cycle_id: int) -> CycleResult:
    store = deps.store
    tally = _Tally()
    outcome, error, data_timestamp, mode = "ok", None, None, None
    try:
        data_timestamp = await deps.registry.data_timestamp()
        plan = plan_cycle(store.history(), data_timestamp, clock(), deps.config.polling)
        mode = plan.mode
        log.info("cycle %d reads the registry: %s (%s)", cycle_id, plan.mode, plan.reason)
        seen = await _poll_searches(deps, cycle_id, clock, tally, plan)
        await _poll_watched(deps, cycle_id, clock, tally, seen, plan)
        _judge_claims(deps, cycle_id, clock, tally)
        if plan.mode == FULL:
            store.prune(clock(), deps.config.polling.snapshot_retention_days)
    except RegistryError as exc:
        # What was recorded before the failure stands, and is delivered below.
        outcome, error = "registry_failed", str(exc)
        log.error("%s", exc)
    held = _sanity_gate(deps, cycle_id, clock, tally)
    delivered, failures = await deliver_pending(deps, clock, cycle_id, data_timestamp)
    if failures:
        outcome = "delivery_failed"
        error = "; ".join([*([error] if error else []), *failures])
    stats = deps.registry.stats
    figures = CycleFigures(
        requests=stats.requests,
        bytes_received=stats.bytes_received,
        trials_checked=tally.trials_checked,
        changes_found=tally.changes_found,
        records_rejected=len(tally.rejected),
        mode=mode,
        data_timestamp=data_timestamp,
    )
    store.finish_cycle(cycle_id, clock(), outcome, figures, error)
    return CycleResult(cycle_id, outcome, figures, tuple(delivered), error, held)


async def _poll_searches(
    deps: CycleDeps, cycle_id: int, clock: Clock, tally: _Tally, plan: Plan
) -> set[str]:
    """Run the saved searches the plan calls for; returns the ids they observed."""
    seen: set[str] = set()
    known = deps.store.known_search_terms()
    for search in deps.config.watch.searches:
        baseline = search.term not in known
        if plan.mode == UNCHANGED and not baseline:
            continue
        since = None if baseline else plan.since
        context = SearchContext(search.term, search.name, baseline=baseline)
        async for page in deps.registry.search(search.term, since):
            observations = _normalize_page(page, tally)
            _record(deps, cycle_id, observations, clock, tally, context)
            seen.update(o.snapshot.nct_id for o in observations)
        # Only a search that ran to its last page has set its baseline.
        deps.store.complete_search(search.term, search.name, clock())
    return seen


async def _poll_watched(
    deps: CycleDeps, cycle_id: int, clock: Clock, tally: _Tally, seen: set[str], plan: Plan
) -> None:
    """Fetch the watched trials the searches did not already bring, as the plan says."""
    search_terms = [s.term for s in deps.config.watch.searches]
    watched = deps.store.watched_ids(deps.config.watch.trials, search_terms)
    tally.watched = len(watched)
    known = deps.store.known_trial_ids()
    new = [i for i in watched if i not in known and i not in seen]
    rest = [i for i in watched if i in known and i not in seen]
    await _fetch_ids(deps, cycle_id, clock, tally, new)  # a new trial needs its baseline
    if plan.mode == FULL:
        await _fetch_ids(deps, cycle_id, clock, tally, rest)
    elif plan.mode == INCREMENTAL and plan.since is not None:
        await _fetch_updated(deps, cycle_id, clock, tally, rest, plan.since)


async def _fetch_ids(
    deps: CycleDeps,
    cycle_id: int,
    clock: Clock,
    tally: _Tally,
    ids: list[str],
    since: date | None = None,
) -> None:
    """Fetch `ids` in batches; without `since`, an id a batch lacks is a record not found."""
    for batch in deps.registry.batches(ids):
        returned: set[str] = set()
        async for page in deps.registry.studies(batch, since):
            returned.update(i for i in map(study_id, page) if i)
            _record(deps, cycle_id, _normalize_page(page, tally), clock, tally)
        if since is not None:
            continue  # absent only means "not updated"
        missing = [Observation(Snapshot.missing(i), raw=None) for i in batch if i not in returned]
        for observation in missing:
            log.warning("%s: the registry returned no record", observation.snapshot.nct_id)
        _record(deps, cycle_id, missing, clock, tally)


async def _fetch_updated(
    deps: CycleDeps, cycle_id: int, clock: Clock, tally: _Tally, ids: list[str], since: date
) -> None:
    """The watched trials updated since `since`, by the cheaper of two ways: the id batches with
    a date filter, or one registry-wide listing of every study updated since then (counted
    first), keeping the watched ones. A large watch list on a quiet day favours the second."""
    batches = sum(1 for _ in deps.registry.batches(ids))
    if batches > 2:  # with one or two batches, counting could not save a request
        total = await deps.registry.count_updated(since)
        pages = max(1, math.ceil(total / deps.config.registry.page_size))
        log.info(
            "%d studies updated since %s: %d pages against %d batches", total, since, pages, batches
        )
        if pages < batches:
            watched = set(ids)
            async for page in deps.registry.updated(since):
                mine = [s for s in page if study_id(s) in watched]
                _record(deps, cycle_id, _normalize_page(mine, tally), clock, tally)
            return
    await _fetch_ids(deps, cycle_id, clock, tally, ids, since)


def _judge_claims(deps: CycleDeps, cycle_id: int, clock: Clock, tally: _Tally) -> None:
    found = deps.store.judge_claims(cycle_id, deps.config.claims, clock())
    tally.changes_found += len(found)
    tally.changed.update(c.nct_id for c in found)
    for change in found:
        log.info(
            "%s: %s %s (article) vs %s",
            change.nct_id,
            change.kind.value,
            change.before,
            change.after,
        )


def _sanity_gate(deps: CycleDeps, cycle_id: int, clock: Clock, tally: _Tally) -> str | None:
    """Hold this cycle's changes back from the digest when they look like a fault."""
    sanity = deps.config.sanity
    reason = hold_reason(len(tally.changed), tally.watched, len(tally.rejected), sanity)
    if reason is not None:
        deps.deliveries.hold(cycle_id, reason, clock())
        log.error("digest held for an operator (trial-monitor release): %s", reason)
    return reason


def _normalize_page(page: Page, tally: _Tally) -> list[Observation]:
    observations = []
    for study in page:
        try:
            observations.append(normalize(study))
        except IncompleteRecord as exc:
            # The same broken record may come from a search and from its id: count it once.
            tally.rejected.add(study_id(study) or f"record {len(tally.rejected) + 1} without an id")
            log.warning("skipped a registry record: %s", exc)
    return observations


def _record(
    deps: CycleDeps,
    cycle_id: int,
    observations: Sequence[Observation],
    clock: Clock,
    tally: _Tally,
    search: SearchContext | None = None,
) -> None:
    if not observations:
        return
    limit = deps.config.registry.max_records_per_cycle
    if tally.trials_checked + len(observations) > limit:
        raise LimitError(
            f"this cycle passed {limit:,} records (registry.max_records_per_cycle); stopped there"
        )
    found = deps.store.record(cycle_id, observations, clock(), search)
    tally.trials_checked += len(observations)
    tally.changes_found += len(found)
    tally.changed.update(c.nct_id for c in found)
    for change in found:
        log.info("%s: %s %s → %s", change.nct_id, change.kind.value, change.before, change.after)


async def deliver_pending(
    deps: Outgoing, clock: Clock, cycle_id: int | None, data_timestamp: str | None
) -> tuple[list[str], list[str]]:
    """One digest per group of recipients who get the same changes. Returns where each went
    and what failed; a failed digest keeps its changes for the next cycle, the others go."""
    mailing = deps.mailing
    sendings = deps.deliveries.claim(mailing.router, clock(), mailing.transport.name, cycle_id)
    delivered: list[str] = []
    failures: list[str] = []
    for index, sending in enumerate(sendings):
        try:
            delivered.append(await _send(deps, clock, data_timestamp, sending))
        except DeliveryError as exc:
            failures.append(str(exc))
            log.error("%s", exc)
        except BaseException:
            # Cancelled at shutdown, or a bug: the digests not yet sent go out next time.
            for unsent in sendings[index + 1 :]:
                deps.deliveries.release(unsent.delivery_id, clock(), "not sent: interrupted")
            raise
    return delivered, failures


def compose_digest(
    deps: Outgoing, pending: Sequence[PendingChange], now: datetime, data_timestamp: str | None
) -> tuple[Digest, RenderedMessage]:
    """The digest of these changes and its words, as sent (and as `preview` shows it)."""
    titles = deps.store.titles({p.change.nct_id for p in pending})
    config = deps.config
    digest = build_digest(
        pending,
        titles,
        now,
        data_timestamp,
        Ranking(config.digest.importance),
        cited=config.watch.trials,
    )
    return digest, render_digest(digest, config.digest.subject_prefix, deps.templates)


async def _send(deps: Outgoing, clock: Clock, data_timestamp: str | None, sending: Sending) -> str:
    mailing = deps.mailing
    recipients = tuple(r for r in sending.recipients if r != OUTBOX)
    try:
        now = clock()
        digest, rendered = compose_digest(deps, sending.pending, now, data_timestamp)
        message_id = digest_message_id(digest.change_ids, recipients)
        message = build_message(
            rendered,
            mailing.sender,
            recipients,
            message_id,
            now,
            list_header(deps.config.digest),
            digest.change_ids,
        )
        where = await mailing.transport.deliver(message)
    except BaseException as exc:
        # Whatever stopped the send, the changes stay unsent and go out next time.
        deps.deliveries.release(sending.delivery_id, clock(), str(exc) or type(exc).__name__)
        raise
    deps.deliveries.mark_sent(sending.delivery_id, clock(), rendered.subject, message_id, where)
    log.info("digest of %d changes delivered: %s", digest.change_count, where)
    return where
