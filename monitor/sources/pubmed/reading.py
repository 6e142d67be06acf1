"""One cycle's reading of PubMed, after the registry's: what to ask, and each paper normalized,
diffed and recorded (library.py) as it comes.

Three watches, each a PubMed search the library remembers:

* each cited trial's papers, `NCT…[si]` (MEDLINE lists the trial's number in a paper that
  reports it): a new one is its results (said with its conclusion) or another paper naming it;
* each cited paper (an article's `pmids`, `watch.pmids`), read again when PubMed revised it and
  at least every `polling.reconcile_days`: a notice newly linked to it (retraction, erratum,
  expression of concern, update) is news for every article citing it;
* each saved literature search (`[[watch.literature]]`), over the papers PubMed added since its
  last run (on the create date, with an overlap, the hits remembered so none is said twice).

Near PubMed's floor (an unchanged day is about three requests, whatever the library's size up
to TERMS_PER_SEARCH trials and papers): searches are ORed and compared with what is known, and
PubMed is read at most every `pubmed.min_interval_hours`.

A search's first run is silent, as the registry's baseline is; a paper an article already
cites, or one a cited trial's search reports, is not news again. PubMed's failures stop this
side only: what was recorded stands, what was not is found again next cycle.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import TypeVar

from monitor.core.diff import paper_notices, trial_paper
from monitor.core.models import Change, ChangeKind, Paper, PaperRole
from monitor.settings.config import Config
from monitor.sources.pubmed.client import FETCH_BATCH, Found, PubmedClient, created_between
from monitor.sources.pubmed.normalize import RejectedDocument, parse_articles
from monitor.sources.pubmed.tables import Library, Term

log = logging.getLogger(__name__)

# A literature search's window reaches back this far before its last run: PubMed indexes a day's
# papers over a day or two, and the hits remembered make the overlap cost nothing but requests.
OVERLAP = timedelta(days=3)
T = TypeVar("T")


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
    since: date | None = None  # a saved search's window starts here


async def read_literature(reading: LiteratureReading) -> None:
    """One reading of PubMed, near its floor: the cited trials' `[si]` terms ORed, a thousand
    to a request, compared with the papers already known; the saved searches ORed under one
    create-date window, each run alone only on a day the window has news; the cited papers
    read in full only when new, revised (their Modification Date), or due for the rolling
    re-read. (Whether to read PubMed at all this cycle is pace.py's.)"""
    config, library, now = reading.config, reading.library, reading.clock()
    terms = [f"{t}[si]" for t in config.cited_trials] + [s.term for s in config.watch.literature]
    known = library.known_terms(terms)
    trials = [
        _Search(f"{t}[si]", t, f"{t}[si]", t, f"{t}[si]" not in known) for t in config.cited_trials
    ]
    saved = [_literature(known.get(s.term), s.term, s.name, now) for s in config.watch.literature]
    # A new saved search runs alone: its first run is silent and may match thousands of
    # papers, whose PMIDs are remembered, their records never fetched. Trials newly cited are
    # ORed apart from the others: every paper they list is new to them.
    alone = [s for s in saved if s.first]
    found = {s.term: (s, await reading.client.search(s.query)) for s in alone}
    hits = library.hits_of([s.term for s in (*trials, *saved)])
    fresh, old = [s for s in trials if s.first], [s for s in trials if not s.first]
    chunks = [
        await _chunk(reading, part, hits)
        for group in (fresh, old)
        for part in _slices(group, TERMS_PER_SEARCH)
    ]
    found |= await _saved(reading, [s for s in saved if not s.first], hits, now)
    new = {t: [p for p in f.pmids if p not in hits[t]] for t, (_, f) in found.items()}
    quiet = {s.term for s in saved if s.first}
    cited = await _cited_to_read(reading, now)
    wanted = {p for t, pmids in new.items() if t not in quiet for p in pmids}
    wanted |= {p for _, pmids in chunks for p in pmids} | cited
    papers = await _papers(reading, sorted(wanted))
    for part, pmids in chunks:
        found |= await _attributed(reading, part, pmids, papers, hits)
    new = {t: [p for p in f.pmids if p not in hits[t]] for t, (_, f) in found.items()}
    late = {p for t, pmids in new.items() if t not in quiet for p in pmids} - set(papers)
    if late:  # found by a search run alone to attribute a chunk's news
        papers |= await _papers(reading, sorted(late))
    for term, (search, result) in found.items():
        if term in quiet:
            library.seen(term, new[term], now)
        else:
            _record(reading, search, [papers[p] for p in new[term] if p in papers], now)
        library.ran(term, search.name, result.translation, now)
    library.ran_all([(s.term, s.name) for s in (*trials, *saved) if s.term not in found], now)
    _notices(reading, [papers[p] for p in config.cited_pmids if p in papers and p in cited], now)


# Terms ORed in one POSTed ESearch: a cited trial's `NCT…[si]` or a cited paper's `…[uid]`,
# about 17 characters each (a request of about 17 kB).
TERMS_PER_SEARCH = 1000


async def _chunk(
    reading: LiteratureReading, part: list[_Search], hits: dict[str, set[str]]
) -> tuple[list[_Search], list[str]]:
    """Some cited trials' papers in one request: the PMIDs none of them had found before."""
    result = await reading.client.search(" OR ".join(s.query for s in part))
    known = set().union(*(hits[s.term] for s in part))
    return part, [p for p in result.pmids if p not in known]


async def _attributed(
    reading: LiteratureReading,
    part: list[_Search],
    pmids: list[str],
    papers: dict[str, Paper],
    hits: dict[str, set[str]],
) -> dict[str, tuple[_Search, Found]]:
    """A chunk's new papers, each given to the trials it lists (its DataBankList: what `[si]`
    matched); a paper that names none of them, or could not be read, is not guessed at: each
    trial of the chunk is then asked alone."""
    if not pmids:
        return {}
    listing = {s.trial: s for s in part if s.trial is not None}
    given: dict[str, list[str]] = {s.term: [] for s in part}
    for pmid in pmids:
        paper = papers.get(pmid)
        named = [listing[t] for t in (paper.nct_ids if paper else ()) if t in listing]
        if not named:
            log.info("PubMed: PMID %s is not one trial's alone; asking each trial", pmid)
            return {s.term: (s, await reading.client.search(s.query)) for s in part}
        for search in named:
            given[search.term].append(pmid)
    return {
        s.term: (s, Found(tuple(sorted(hits[s.term]) + given[s.term]), 0))
        for s in part
        if given[s.term]
    }


async def _saved(
    reading: LiteratureReading, saved: list[_Search], hits: dict[str, set[str]], now: datetime
) -> dict[str, tuple[_Search, Found]]:
    """The saved searches, ORed under the earliest of their windows: on a day with no paper
    new to them, one request; else each runs alone, to say which found what."""
    if not saved:
        return {}
    since = min(s.since for s in saved if s.since is not None)
    either = " OR ".join(f"({s.term})" for s in saved)
    result = await reading.client.search(created_between(either, since, now.date()))
    known = set().union(*(hits[s.term] for s in saved))
    if all(p in known for p in result.pmids):
        return {}
    return {s.term: (s, await reading.client.search(s.query)) for s in saved}


async def _cited_to_read(reading: LiteratureReading, now: datetime) -> set[str]:
    """The cited papers to read in full: never read; revised since read (PubMed's
    Modification Date); and, since it is not documented that a new notice moves that date,
    those read longest ago, so that each is read again within polling.reconcile_days."""
    cited = list(reading.config.cited_pmids)
    fetched = reading.library.fetched(cited)
    due = {p for p in cited if p not in fetched}
    read = sorted((when, p) for p, when in fetched.items())
    days = reading.config.polling.reconcile_days
    if read and days > 0:
        # A share of the list each day, in whole EFetch batches; anything older is due too.
        share = -(-len(read) // max(int(days), 1))
        share = -(-share // FETCH_BATCH) * FETCH_BATCH
        due |= {p for _, p in read[:share]}
        due |= {p for when, p in read if now - when >= timedelta(days=days)}
    rest = [p for _, p in read if p not in due]
    if rest:
        oldest = min(fetched[p] for p in rest).date() - timedelta(days=1)
        for part in _slices(rest, TERMS_PER_SEARCH):
            term = " OR ".join(f"{p}[uid]" for p in part)
            revised = await reading.client.search(term, revised=(oldest, now.date()))
            due |= set(revised.pmids) & set(part)
    return due


def _notices(reading: LiteratureReading, read: list[Paper], now: datetime) -> None:
    """What each cited paper read now says, beside what it said: the notices newly on it."""
    known = reading.library.papers([p.pmid for p in read])
    for paper in read:
        notices = paper_notices(known.get(paper.pmid), paper)
        reading.library.read(reading.cycle_id, paper, notices, now)
        _said(reading, notices)


def _slices(items: list[T], size: int) -> list[list[T]]:
    return [items[start : start + size] for start in range(0, len(items), size)]


def _literature(state: Term | None, term: str, name: str, now: datetime) -> _Search:
    """A saved search over what PubMed added since its last run (everything, on its first)."""
    if state is None:
        return _Search(term, name, term, None, True)
    since = (state.last_run_at - OVERLAP).date()
    query = created_between(term, since, now.date())
    return _Search(term, name, query, None, False, since)


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
