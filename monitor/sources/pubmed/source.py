"""PubMed as a source: the one object the rest of the monitor knows it by (sources/base.py's
protocol), registered in sources/__init__.py.

On when the configuration asks for it: a `[pubmed]` section, a cited PMID or a literature
search. A cycle reads it after the registry (reading.py); it is not required: when it cannot be
read, the registry's news still goes out and the digest says PubMed could not be read.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import Connection, Engine

from monitor.core.articles import Article, Evidence
from monitor.core.checkup import Checked
from monitor.core.models import Paper
from monitor.core.routing import Keys
from monitor.settings.config import Config
from monitor.settings.tomltable import Table
from monitor.sources.base import Reader, Report, Source, Turn, Wanted
from monitor.sources.http import RequestStats
from monitor.sources.pubmed import words
from monitor.sources.pubmed.pace import rested
from monitor.sources.pubmed.settings import NCBI_API_KEY_ENV, PubmedConfig, read_pubmed
from monitor.sources.pubmed.tables import NAME, Library

if TYPE_CHECKING:
    from monitor.sources.pubmed.client import PubmedClient


class Pubmed:
    name = NAME
    label = words.LABEL
    where = words.WHERE
    check_name = "pubmed"
    required = False
    environment = (NCBI_API_KEY_ENV, NCBI_API_KEY_ENV + "_FILE")
    history_example: str | None = None

    def read_settings(
        self, root: Table, environ: Mapping[str, str], config: Config
    ) -> PubmedConfig | None:
        # The literature side is on when asked for: a [pubmed] table, a PMID, a literature search.
        asked = "pubmed" in root
        settings = read_pubmed(root.table("pubmed"), environ)
        return settings if asked or config.cited_pmids or config.watch.literature else None

    def on(self, config: Config) -> bool:
        return config.section(PubmedConfig) is not None

    @asynccontextmanager
    async def reader(self, config: Config) -> AsyncIterator[Reader]:
        async with AsyncExitStack() as stack:
            yield PubmedReader(config.need(PubmedConfig), stack)

    async def check(self, config: Config, environ: Mapping[str, str]) -> Checked:
        from monitor.sources.pubmed.check import check_pubmed

        return await check_pubmed(config)

    def stored(self, engine: Engine, config: Config, wanted: Wanted) -> Evidence:
        if not self.on(config):
            return Evidence()
        library = Library(engine)
        return Evidence(
            papers=library.papers(wanted.pmids), trial_papers=library.trial_papers(wanted.trials)
        )

    def routing_keys(self, conn: Connection, trial_ids: Sequence[str]) -> Mapping[str, Keys]:
        return {}  # a paper's change names its PMID itself

    def report(self, engine: Engine, config: Config) -> Report:
        if not self.on(config):
            return Report(json={"literature": []})
        found = [
            {"term": t.term, "name": name, "papers": papers, "last_run_at": t.last_run_at}
            for t, name, papers in Library(engine).terms()
        ]
        return Report(lines=(*words.literature_lines(engine), ""), json={"literature": found})

    def knows(self, subject: str) -> bool:
        return False  # `history` is the registry's

    def history(
        self, engine: Engine, subject: str, sent: Mapping[int, datetime | None]
    ) -> str | None:
        return None


class PubmedReader:
    """PubMed opened for one command: a cycle's reading, or `verify`'s. Its client (and the
    TLS context and modules it needs, a fifth of a no-op cycle's start-up) is made only when
    PubMed is asked: a cycle within pubmed.min_interval_hours never makes it."""

    def __init__(self, settings: PubmedConfig, stack: AsyncExitStack) -> None:
        self._settings, self._stack = settings, stack
        self._client: PubmedClient | None = None
        self.stats = RequestStats()

    async def client(self) -> PubmedClient:
        if self._client is None:
            from monitor.sources.pubmed.client import PubmedClient, make_http_client

            http = await self._stack.enter_async_context(make_http_client(self._settings))
            self._client = PubmedClient(self._settings, http, stats=self.stats)
        return self._client

    async def read(self, turn: Turn) -> None:
        library = Library(turn.engine)
        if rested(library, turn.config, turn.clock()):
            return
        from monitor.sources.pubmed.reading import LiteratureReading, read_literature

        client = await self.client()
        reading = LiteratureReading(client, library, turn.config, turn.clock, turn.cycle_id)
        try:
            await read_literature(reading)
        finally:
            # What was recorded before a failure stands, and counts. (A paper it rejected is
            # logged; the cycle's figures count the registry's records.)
            turn.tally.changes += reading.changes_found

    async def evidence(self, articles: Sequence[Article]) -> Evidence:
        """The papers PubMed lists for each cited trial (MEDLINE's `[si]`), and the cited papers
        themselves (their notices), as it has them now."""
        from monitor.sources.pubmed.normalize import RejectedDocument, parse_articles
        from monitor.sources.pubmed.reading import TERMS_PER_SEARCH

        trials = sorted({t for a in articles for t in a.trials})
        cited = {
            p for a in articles for p in (*a.pmids, *(q for qs in a.papers.values() for q in qs))
        }
        # The trials' `[si]` terms ORed, a thousand to a request; each paper found is then
        # given to the trials its DataBankList names (what `[si]` matched).
        client = await self.client()
        found: set[str] = set()
        for start in range(0, len(trials), TERMS_PER_SEARCH):
            part = trials[start : start + TERMS_PER_SEARCH]
            found |= set((await client.search(" OR ".join(f"{t}[si]" for t in part))).pmids)
        read: dict[str, Paper] = {}
        async for document in client.fetch(sorted(found | cited)):
            try:
                read.update((p.pmid, p) for p in parse_articles(document).papers)
            except RejectedDocument:
                continue  # its papers are left out, as an unreadable registry record is
        listing: dict[str, list[Paper]] = {t: [] for t in trials}
        for pmid in sorted(found & set(read), key=int, reverse=True):  # newest first, as ESearch
            for trial in read[pmid].nct_ids:
                if trial in listing:
                    listing[trial].append(read[pmid])
        return Evidence(
            papers={p: read[p] for p in cited if p in read},
            trial_papers=listing,
        )


SOURCE: Source = Pubmed()
