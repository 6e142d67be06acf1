"""One cycle's reading of the registry: what to ask for, which way is cheapest, and each page
recorded (normalized, diffed, stored) as it arrives.

What a date filter cannot show decides much of it. The real registry changes records without
moving their LastUpdatePostDate (NLM links a PubMed paper; the registry itself switches an
unverified trial to Unknown status) and a record that vanishes leaves no date at all. So:

- the trials the article cites are read in full in every cycle in which the registry's data
  changed, when one request reads them all (for the LDN article it does);
- the others (found by searches, or a long watch list) are read by date, and a rolling slice of
  them in full each cycle, so that each is read in full at least every `polling.reconcile_days`
  without a weekly burst (the changed ones, read in full anyway, are part of it);
- by date means the id batches with a date filter, or, when it takes fewer requests, the
  registry-wide listing of ids and update dates, whose days already read are counted rather than
  listed again (listing.py);
- a saved search runs without its date filter once every `polling.reconcile_days` too;
- a search the registry refuses (400) fails alone, and the rest goes on.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import assert_never

from monitor.core.errors import LimitError
from monitor.core.models import Change, Observation, Snapshot
from monitor.settings.config import Config, SearchConfig
from monitor.settings.schedule import cycles_within
from monitor.sources.ctgov.client import LISTING_FIELDS, Page, QueryRefused, RegistryClient
from monitor.sources.ctgov.listing import Listed
from monitor.sources.ctgov.normalize import IncompleteRecord, RejectedRecord, normalize, study_id
from monitor.sources.ctgov.plan import Plan, PlanMode
from monitor.sources.ctgov.records import Recorded, SearchContext, Store, Unstorable
from monitor.sources.ctgov.searches import Searches
from monitor.sources.ctgov.settings import RegistryConfig

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]


@dataclass
class Reading:
    """One cycle's reading, carried through every step (as urlwatch's JobState): what it reads
    with, its plan, and the tally its figures and the sanity gate are made of."""

    registry: RegistryClient
    store: Store
    config: Config
    clock: Clock
    cycle_id: int
    plan: Plan
    trials_checked: int = 0
    changes_found: int = 0
    rejected: set[str] = field(default_factory=set)  # ids (or positions) of records turned away
    # Of those, the ones missing their id or status.
    incomplete: set[str] = field(default_factory=set)
    watched: int = 0
    changed: set[str] = field(default_factory=set)  # trials with a change this cycle
    refused_searches: list[str] = field(default_factory=list)  # one line each, for operators
    newly_refused: list[str] = field(default_factory=list)  # of those, the ones that are news

    @property
    def settings(self) -> RegistryConfig:
        return self.config.need(RegistryConfig)

    @property
    def searches(self) -> Searches:
        return Searches(self.store.engine)

    def normalize(self, page: Page) -> list[Observation]:
        observations = []
        for study in page:
            try:
                observations.append(normalize(study))
            except RejectedRecord as exc:
                # The same broken record may come from a search and from its id: count it once.
                name = study_id(study) or f"record {len(self.rejected) + 1} without a valid id"
                self.rejected.add(name)
                if isinstance(exc, IncompleteRecord):
                    self.incomplete.add(name)
                log.warning("skipped a registry record: %s", exc)
        return observations

    def record(
        self, observations: Sequence[Observation], search: SearchContext | None = None
    ) -> None:
        """Store a page of observations and count what they revealed. A page the database
        refuses is stored record by record: one bad record never stops the others."""
        if not observations:
            return
        limit = self.settings.max_records_per_cycle
        if self.trials_checked + len(observations) > limit:
            raise LimitError(
                f"this cycle passed {limit:,} records (registry.max_records_per_cycle); "
                "stopped there"
            )
        self.trials_checked += len(observations)
        try:
            self._keep(self.store.record(self.cycle_id, observations, self.clock(), search))
        except Unstorable:
            for observation in observations:
                try:
                    recorded = self.store.record(self.cycle_id, [observation], self.clock(), search)
                except Unstorable as exc:
                    self.reject(observation.snapshot.nct_id, f"the database refused it: {exc}")
                    continue
                self._keep(recorded)

    def reject(self, nct_id: str, why: str) -> None:
        self.rejected.add(nct_id)
        log.warning("%s: record rejected, %s", nct_id, why)

    def _keep(self, recorded: Recorded) -> None:
        for nct_id in recorded.hollow:
            self.reject(nct_id, "every tracked field but its status came back empty")
        self.found(recorded.changes)

    def found(self, changes: Sequence[Change]) -> None:
        self.changes_found += len(changes)
        self.changed.update(c.nct_id for c in changes if c.nct_id)
        for change in changes:
            log.info(
                "%s: %s %s → %s", change.subject, change.kind.value, change.before, change.after
            )


async def read_registry(reading: Reading) -> None:
    """Everything the plan calls for: the saved searches, then the watched trials."""
    seen = await _searches(reading)
    await _watched(reading, seen)


async def _searches(reading: Reading) -> set[str]:
    """Run the saved searches the plan calls for; returns the ids they observed."""
    seen: set[str] = set()
    known = reading.searches.baselines()
    for search in reading.config.watch.searches:
        last_full = known.get(search.term)
        baseline = search.term not in known
        if reading.plan.mode is PlanMode.STALE:
            break
        if reading.plan.mode is PlanMode.UNCHANGED and not baseline:
            continue
        full = baseline or reading.plan.mode is PlanMode.FULL or _due(reading, last_full)
        try:
            seen |= await _search(reading, search, baseline, None if full else reading.plan.since)
        except QueryRefused as exc:
            line = f"the saved search “{search.name}” ({search.term!r}) was refused: {exc}"
            log.error("%s; the other searches and trials go on", line)
            reading.refused_searches.append(line)
            if reading.searches.refuse(search.term, search.name, str(exc)):
                reading.newly_refused.append(line)
            continue
        # Only a search that ran to its last page has set its baseline.
        reading.searches.complete(search.term, search.name, reading.clock(), full=full)
    return seen


async def _search(
    reading: Reading, search: SearchConfig, baseline: bool, since: date | None
) -> set[str]:
    seen: set[str] = set()
    context = SearchContext(search.term, search.name, baseline=baseline)
    async for page in reading.registry.search(search.term, since):
        observations = reading.normalize(page)
        reading.record(observations, context)
        seen.update(o.snapshot.nct_id for o in observations)
    return seen


def _due(reading: Reading, last_full: datetime | None) -> bool:
    """Whether a full read (a search without its date filter) is due again."""
    days = reading.config.polling.reconcile_days
    return last_full is None or last_full <= reading.clock() - timedelta(days=days)


async def _watched(reading: Reading, seen: set[str]) -> None:
    """Fetch the watched trials the searches did not already bring, as the plan says."""
    store, config, plan = reading.store, reading.config, reading.plan
    if plan.mode is PlanMode.STALE:
        return
    watched = store.watched_ids(config.cited_trials, [s.term for s in config.watch.searches])
    reading.watched = len(watched)
    known = store.known_trial_ids()
    new = [i for i in watched if i not in known and i not in seen]
    await _fetch_ids(reading, new)  # a new trial needs its baseline
    rest = [i for i in watched if i in known and i not in seen]
    match plan.mode:
        case PlanMode.FULL:
            await _fetch_ids(reading, rest)
        case PlanMode.INCREMENTAL:
            assert plan.since is not None
            cited = _always_in_full(reading)
            always = [i for i in rest if i in cited]
            others = [i for i in rest if i not in cited]
            if sum(1 for _ in reading.registry.batches(others)) <= 2:
                # Too few for the listing to pay (it takes two requests at the least): the id
                # batches with the date filter, and the slice read in full as large as the
                # batches it takes hold: each trial it adds is one the date filter need not ask.
                rolling = _rolling_slice(reading, others, [], fill=len(always))
                in_full = set(rolling)
                await _fetch_ids(reading, [i for i in others if i not in in_full], plan.since)
                changed = []
            else:
                changed = await _changed_since(reading, others, plan.since)
                # The changed trials are read in full: they count toward this cycle's slice.
                rolling = _rolling_slice(reading, others, changed)
            # One series of batches for all that is read in full: fewer, fuller requests.
            await _fetch_ids(reading, [*always, *changed, *rolling])
        case PlanMode.UNCHANGED | PlanMode.STALE:
            pass
        case _:
            assert_never(plan.mode)


def _always_in_full(reading: Reading) -> set[str]:
    """The cited trials, when one request reads them all: then a date filter would save
    nothing, and reading them whole catches at once what moves no date. A longer watch list is
    read by date, with the rolling slice."""
    cited = reading.store.watched_ids(reading.config.cited_trials, [])
    return set(cited) if sum(1 for _ in reading.registry.batches(cited)) <= 1 else set()


def _rolling_slice(
    reading: Reading, ids: list[str], changed: list[str], *, fill: int | None = None
) -> list[str]:
    """The trials to read in full this cycle besides the `changed` ones: the share that reads
    all of `ids` within `polling.reconcile_days` of scheduled cycles (those read in full longest
    ago), less the changed trials that are read in full anyway, and any not read in full for
    longer than that. `fill`: with that many read in full besides, as many more as the last
    batch has room for (a request made anyway)."""
    if not ids:
        return []
    now, days = reading.clock(), reading.config.polling.reconcile_days
    cycles = max(1, cycles_within(reading.config.schedule, now, days))
    share = max(0, math.ceil(len(ids) / cycles) - len(changed))
    if fill is not None:
        # NCT ids are all as long: each batch holds as many as the first.
        room = len(next(reading.registry.batches(ids)))
        share = min(len(ids), math.ceil((share + fill) / room) * room - fill)
    done = set(changed)
    rest = [i for i in ids if i not in done]
    return reading.store.stalest(rest, share, now - timedelta(days=days)) if rest else []


async def _fetch_ids(reading: Reading, ids: list[str], since: date | None = None) -> None:
    """Fetch `ids` in batches; without `since`, an id the registry does not return, asked
    twice, is a record not found."""
    for batch in reading.registry.batches(ids):
        returned = await _fetch_batch(reading, batch, since)
        if since is not None:
            continue  # absent only means "not updated"
        lacking = [i for i in batch if i not in returned]
        if lacking:
            # A batch that comes back short may be a blip (seen: an empty page in a full read);
            # a disappearance is confirmed by asking for those ids again before it is news.
            log.info("%d records missing from a batch; asking again", len(lacking))
            returned |= await _fetch_batch(reading, lacking, None)
        missing = [Observation(Snapshot.missing(i), raw=None) for i in batch if i not in returned]
        for observation in missing:
            log.warning(
                "%s: the registry returned no record, asked twice", observation.snapshot.nct_id
            )
        reading.record(missing)
        reading.store.read_in_full(set(batch) | returned, reading.clock())


async def _fetch_batch(reading: Reading, batch: list[str], since: date | None) -> set[str]:
    """One batch, recorded page by page; returns the ids it answered for (aliases included:
    an alias comes back under the record it is listed under, and was not lost)."""
    returned: set[str] = set()
    async for page in reading.registry.studies(batch, since):
        observations = reading.normalize(page)
        returned.update(i for o in observations for i in (o.snapshot.nct_id, *o.snapshot.aliases))
        returned.update(i for i in map(study_id, page) if i)
        reading.record(observations)
    return returned


async def _changed_since(reading: Reading, ids: list[str], since: date) -> list[str]:
    """The watched trials updated since `since`, by the cheaper of two ways: the id batches with
    a date filter (read here; returns nothing more to read), or the registry-wide listing of
    every study updated since then, ids and update dates only (returns the watched ones that
    changed, to be read in full with the rest). The listing's first page says how long it is;
    the batches win when the rest of it would take more requests.

    The listing starts after the day the last good cycle read when the days before it are kept
    (listing.py): the margin days are then counted, not listed, and listed again only when the
    count differs from what was kept (a study published late, or gone)."""
    registry, plan = reading.registry, reading.plan
    batches = list(registry.batches(ids))
    kept = Listed(reading.store.engine)
    read, today = plan.read, plan.today
    exact = read is not None and today is not None and kept.covers(since, read)
    start = read + timedelta(days=1) if exact and read is not None else since
    found: dict[str, str | None] = {}
    pages = registry.updated(start)
    async for total, page in pages:
        if total is not None and not _listing_pays(reading, total, page, batches, guard=exact):
            await pages.aclose()
            log.info(
                "%d studies updated since %s: %d id batches instead", total, start, len(batches)
            )
            await _fetch_ids(reading, ids, since)
            return []
        found.update(_dates(page))
    relisted = start
    if exact and read is not None:
        expected = kept.count(since, read, moved=found)
        counted = await registry.count_updated(since, read)
        if counted != expected:
            log.info(
                "%d studies updated from %s to %s where %d were listed: those days listed again",
                counted,
                since,
                read,
                expected,
            )
            async for _, page in registry.updated(since, read):
                found.update(_dates(page))
            relisted = since
    dated = {i: day for i, day in found.items() if day is not None}
    kept.keep(dated, complete=(since, today) if today else None, relisted=relisted)
    seen = reading.store.last_updates()
    # A trial whose update the monitor already read (the margin's days) is not read again; the
    # rolling slice reads every trial in full in its turn anyway.
    changed = [i for i in ids if i in found and (found[i] is None or found[i] != seen.get(i))]
    log.info("%d watched trials changed since %s", len(changed), since)
    return changed


def _listing_pays(
    reading: Reading, total: int, page: Page, batches: list[list[str]], *, guard: bool
) -> bool:
    """Whether the listing takes fewer requests than the id batches, priced by what its first
    page shows: its other pages, the count that guards the margin days, and the batches that
    read in full the watched trials it shows changed (as many as the first page's share of
    watched studies says)."""
    watched = {i for batch in batches for i in batch}
    share = sum(1 for study in page if study_id(study) in watched) / max(1, len(page))
    pages = math.ceil(total / reading.settings.page_size) - 1
    changed = math.ceil(share * total / max(1, len(batches[0])))
    return pages + int(guard) + changed < len(batches)


def _dates(page: Page) -> Iterator[tuple[str, str | None]]:
    for study in page:
        nct_id = study_id(study)
        if nct_id:
            yield nct_id, _updated(study)


def _updated(study: object) -> str | None:
    status = (
        study.get("protocolSection", {}).get("statusModule", {}) if isinstance(study, dict) else {}
    )
    value = status.get("lastUpdatePostDateStruct", {}) if isinstance(status, dict) else {}
    date_ = value.get("date") if isinstance(value, dict) else None
    return date_ if isinstance(date_, str) else None


assert "LastUpdatePostDate" in LISTING_FIELDS  # what _updated reads
