"""One cycle's reading of PubMed, after the registry's: what to ask, and each paper normalized,
diffed and recorded (library.py) as it comes.

Three watches, each a PubMed search the library remembers:

* each cited trial's papers, `NCT…[si]` (MEDLINE lists the trial's number in a paper that
  reports it): a new one is its results (said with its conclusion) or another paper naming it;
* each cited paper (an article's `pmids`, `watch.pmids`), read again every cycle: a notice
  newly linked to it (retraction, erratum, expression of concern, update) is news for every
  article citing it;
* each saved literature search (`[[watch.literature]]`), over the papers PubMed added since its
  last run (on the create date, with an overlap, the hits remembered so none is said twice).

A search's first run is silent, as the registry's baseline is; a paper an article already
cites, or one a cited trial's search reports, is not news again. PubMed's failures stop this
side only: what was recorded stands, what was not is found again next cycle.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from monitor.core.diff import paper_notices, trial_paper
from monitor.core.models import Change, ChangeKind, Paper, PaperRole
from monitor.settings.config import Config
from monitor.sources.pubmed.client import Found, PubmedClient, created_between
from monitor.sources.pubmed.normalize import RejectedDocument, parse_articles
from monitor.sources.pubmed.tables import Library

log = logging.getLogger(__name__)

# A literature search's window reaches back this far before its last run: PubMed indexes a day's
# papers over a day or two, and the hits remembered make the overlap cost nothing but requests.
OVERLAP = timedelta(days=3)


@dataclass
class LiteratureReading:
    client: PubmedClient
    library: Library
    config: Config
    clock: Callable[[], datetime]
    cycle_id: int
    changes_found: int = 0
    rejected: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class _Search:
    term: str  # as the library knows it
    name: str  # as the digest names it: the trial, or the literature search
    query: str  # as PubMed is asked
    trial: str | None  # the cited trial whose papers it finds
    first: bool  # its first run: silent


async def read_literature(reading: LiteratureReading) -> None:
    config = reading.config
    now = reading.clock()
    searches = [_trial(reading, t) for t in config.cited_trials] + [
        _literature(reading, s.term, s.name, now) for s in config.watch.literature
    ]
    found: list[tuple[_Search, Found]] = []
    for search in searches:
        found.append((search, await reading.client.search(search.query)))
    new = {s.term: [p for p in f.pmids if p not in reading.library.hits(s.term)] for s, f in found}
    # A literature search's first run is silent and may match thousands of papers: its PMIDs
    # are remembered, its records never fetched. (A cited trial's are: the first look shows
    # its results papers.)
    quiet = {s.term for s, _ in found if s.trial is None and s.first}
    wanted = {p for t, pmids in new.items() if t not in quiet for p in pmids}
    papers = await _papers(reading, sorted(wanted | set(config.cited_pmids)))
    for search, result in found:
        if search.term in quiet:
            reading.library.seen(search.term, new[search.term], now)
        else:
            _record(reading, search, [papers[p] for p in new[search.term] if p in papers], now)
        reading.library.ran(search.term, search.name, result.translation, now)
    known = reading.library.papers(config.cited_pmids)
    for pmid in config.cited_pmids:
        paper = papers.get(pmid)
        if paper is not None:
            notices = paper_notices(known.get(pmid), paper)
            reading.library.read(reading.cycle_id, paper, notices, now)
            _said(reading, notices)


def _trial(reading: LiteratureReading, nct_id: str) -> _Search:
    """A cited trial's papers: those MEDLINE lists its number in, all of them every cycle."""
    term = f"{nct_id}[si]"
    return _Search(term, nct_id, term, nct_id, reading.library.term(term) is None)


def _literature(reading: LiteratureReading, term: str, name: str, now: datetime) -> _Search:
    """A saved search over what PubMed added since its last run (everything, on its first)."""
    state = reading.library.term(term)
    if state is None:
        return _Search(term, name, term, None, True)
    since = (state.last_run_at - OVERLAP).date()
    return _Search(term, name, created_between(term, since, now.date()), None, False)


async def _papers(reading: LiteratureReading, pmids: list[str]) -> dict[str, Paper]:
    papers: dict[str, Paper] = {}
    async for document in reading.client.fetch(pmids):
        try:
            parsed = parse_articles(document)
        except RejectedDocument as exc:
            # One bad answer stops none of the others; its papers are asked for next cycle.
            reading.rejected.append(str(exc))
            log.warning("%s", exc)
            continue
        reading.rejected.extend(parsed.rejected)
        papers.update((p.pmid, p) for p in parsed.papers)
    return papers


def _record(reading: LiteratureReading, search: _Search, found: list[Paper], now: datetime) -> None:
    library = reading.library
    # Whether the trial's results paper is already known: a later trial report is another
    # report of it (a secondary analysis), never "the results" again.
    results = search.trial is not None and any(
        p.role is PaperRole.RESULTS
        for p in library.trial_papers([search.trial]).get(search.trial, [])
    )
    for paper in sorted(found, key=lambda p: (p.year or "9999", int(p.pmid))):
        change = None if search.first else _news(reading.config, search, paper, results)
        said = library.found(reading.cycle_id, search.term, paper, change, now, search.trial)
        if said is not None:
            _said(reading, [said])
        results = results or paper.role is PaperRole.RESULTS


def _news(config: Config, search: _Search, paper: Paper, results_known: bool) -> Change | None:
    """What a paper newly found by a search is to the articles, if anything."""
    if paper.pmid in config.cited_pmids:
        return None  # an article already cites it
    if search.trial is not None:
        return trial_paper(search.trial, paper, results_known)
    if set(paper.nct_ids) & set(config.cited_trials):
        return None  # a cited trial's own search reports it, under the trial
    return Change(None, ChangeKind.NEW_PAPER, after=search.name, pmid=paper.pmid)


def _said(reading: LiteratureReading, found: list[Change]) -> None:
    reading.changes_found += len(found)
    for change in found:
        log.info("%s: %s %s", change.subject, change.kind.value, change.after)
