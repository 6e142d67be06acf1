"""ClinicalTrials.gov as a source: the one object the rest of the monitor knows it by
(sources/base.py's protocol), registered in sources/__init__.py.

A cycle asks the registry when its data last changed (/version), plans how much to read
(plan.py), reads it (reading.py), judges the articles' claims against what it now says
(claims.py), prunes old snapshots, and weighs whether the cycle's findings look like a fault
(the sanity gate). The registry is required: a cycle that cannot read it fails.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import asdict
from datetime import datetime

from sqlalchemy import Connection, Engine, select

from monitor.core.articles import Article, Evidence
from monitor.core.checkup import Checked
from monitor.core.models import NCT_ID, Snapshot
from monitor.core.routing import Keys
from monitor.core.sanity import hold_reason
from monitor.settings.config import Config
from monitor.settings.tomltable import Table
from monitor.sources.base import Reader, Report, Source, Turn, Wanted
from monitor.sources.ctgov import words
from monitor.sources.ctgov.client import RegistryClient, make_http_client
from monitor.sources.ctgov.normalize import RejectedRecord, normalize, study_id
from monitor.sources.ctgov.plan import PlanMode, plan_cycle
from monitor.sources.ctgov.records import NAME, Store
from monitor.sources.ctgov.settings import RegistryConfig, read_registry
from monitor.sources.ctgov.tables import search_hits, trials
from monitor.sources.http import RequestStats

log = logging.getLogger(__name__)


class ClinicalTrialsGov:
    name = NAME
    label = words.LABEL
    where = words.WHERE
    check_name = "registry"
    required = True
    environment: tuple[str, ...] = ()
    history_example = words.HISTORY_EXAMPLE

    def read_settings(
        self, root: Table, environ: Mapping[str, str], config: Config
    ) -> RegistryConfig:
        return read_registry(root.table("registry"))

    def on(self, config: Config) -> bool:
        return config.section(RegistryConfig) is not None

    @asynccontextmanager
    async def reader(self, config: Config) -> AsyncIterator[Reader]:
        settings = config.need(RegistryConfig)
        async with make_http_client(settings) as http:
            yield RegistryReader(RegistryClient(settings, http))

    async def check(self, config: Config, environ: Mapping[str, str]) -> Checked:
        from monitor.sources.ctgov.check import check_registry

        return await check_registry(config, environ)

    def stored(self, engine: Engine, config: Config, wanted: Wanted) -> Evidence:
        store = Store(engine)
        return Evidence(latest=store.latest(wanted.trials), titles=store.titles(wanted.trials))

    def routing_keys(self, conn: Connection, trial_ids: Sequence[str]) -> Mapping[str, Keys]:
        """The ids merged into each trial (a desk that named a registration merged into this
        record wants the record's news) and the searches that found it."""
        searches: dict[str, set[str]] = {}
        for hit in conn.execute(select(search_hits).where(search_hits.c.nct_id.in_(trial_ids))):
            searches.setdefault(hit.nct_id, set()).add(hit.term)
        ids: dict[str, set[str]] = {nct_id: {nct_id} for nct_id in trial_ids}
        merged = select(trials.c.nct_id, trials.c.listed_under).where(
            trials.c.listed_under.in_(trial_ids)
        )
        for alias, listed_under in conn.execute(merged):
            ids[listed_under].add(alias)
        return {
            nct_id: Keys(frozenset(ids[nct_id]), frozenset(searches.get(nct_id, ())))
            for nct_id in trial_ids
        }

    def report(self, engine: Engine, config: Config) -> Report:
        from monitor.sources.ctgov.report import (
            refused_lines,
            trials_lines,
            watched_trials,
        )
        from monitor.sources.ctgov.searches import Searches

        watched = watched_trials(engine, config)
        return Report(
            lines=(*trials_lines(watched), ""),
            warnings=tuple(refused_lines(engine)),
            json={
                "trials": [asdict(t) for t in watched],
                "refused_searches": Searches(engine).refused(),
            },
            trials=len(watched),
        )

    def knows(self, subject: str) -> bool:
        return NCT_ID.fullmatch(subject) is not None

    def history(
        self, engine: Engine, subject: str, sent: Mapping[int, datetime | None]
    ) -> str | None:
        from monitor.sources.ctgov.report import history_text

        return history_text(engine, subject, sent)


class RegistryReader:
    """The registry opened for one command: a cycle's reading, or `verify`'s."""

    def __init__(self, client: RegistryClient) -> None:
        self.client = client

    @property
    def stats(self) -> RequestStats:
        return self.client.stats

    async def read(self, turn: Turn) -> None:
        from monitor.sources.ctgov.claims import ClaimStates
        from monitor.sources.ctgov.reading import Reading, read_registry

        tally, config = turn.tally, turn.config
        tally.data_timestamp = await self.client.data_timestamp()
        plan = plan_cycle(turn.journal.history(), tally.data_timestamp, config.polling)
        tally.mode = plan.mode.value
        if plan.mode is PlanMode.STALE:
            tally.stale = plan.reason
            log.warning("cycle %d: %s", turn.cycle_id, plan.reason)
        else:
            log.info("cycle %d reads the registry: %s (%s)", turn.cycle_id, plan.mode, plan.reason)
        store = Store(turn.engine)
        reading = Reading(self.client, store, config, turn.clock, turn.cycle_id, plan)
        try:
            await read_registry(reading)
            claims = ClaimStates(turn.engine)
            reading.found(claims.judge(turn.cycle_id, config.claims, turn.clock(), turn.first_look))
            if plan.mode in (PlanMode.FULL, PlanMode.INCREMENTAL):
                store.prune(turn.clock(), config.polling.snapshot_retention_days)
        finally:
            # What was read before a failure stands, and counts.
            tally.records += reading.trials_checked
            tally.rejected += len(reading.rejected)
            tally.changes += reading.changes_found
            tally.refused += reading.refused_searches
            tally.newly_refused += reading.newly_refused
            tally.hold = hold_reason(
                len(reading.changed), reading.watched, len(reading.incomplete), config.sanity
            )

    async def evidence(self, articles: Sequence[Article]) -> Evidence:
        """The cited trials as the registry has them now, in one batch; a record it sends in a
        form that cannot be read is named, not taken for missing."""
        registry = self.client
        found: dict[str, Snapshot] = {}
        unreadable: list[str] = []
        for batch in registry.batches(sorted({t for a in articles for t in a.trials})):
            async for page in registry.studies(batch):
                for study in page:
                    try:
                        snapshot = normalize(study).snapshot
                    except RejectedRecord:
                        unreadable.append(study_id(study) or "a record without an NCT id")
                        continue
                    # A cited id that became an alias comes back under the record it is listed
                    # under; the article's claims are about that record now.
                    for nct_id in (snapshot.nct_id, *snapshot.aliases):
                        found[nct_id] = snapshot
        return Evidence(latest=found, unreadable=tuple(unreadable))


SOURCE: Source = ClinicalTrialsGov()
