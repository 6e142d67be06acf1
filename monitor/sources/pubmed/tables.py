"""PubMed's data, as ctgov/records.py keeps the registry's: what PubMed last said of each paper
read (the shared `papers` table), each PubMed search the monitor runs and the papers it has
found (its own tables), and the changes they make.

A paper found by a search is recorded with its change in one transaction, and only once: the
hit's primary key is the guard, so a cycle killed midway, or a paper found again in an
overlapping window, is never a second change; a paper not yet recorded is found again by the
next cycle, so none is lost.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Column, Connection, Engine, String, Table, Text, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from monitor.core.models import Change, Paper
from monitor.store.changes import write_changes
from monitor.store.papers import link_papers
from monitor.store.rows import id_slices, paper_from_row, paper_row
from monitor.store.schema import ID_LENGTH, UTCDateTime, metadata, papers

NAME = "pubmed"  # this source's name: each change it stores says so (changes.source)

# Each PubMed search the monitor runs (a cited trial's `NCT…[si]`, a saved literature
# search), and the papers it has found (revision 0011).
literature_terms = Table(
    "literature_terms",
    metadata,
    Column("term", String(1000), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("baseline_at", UTCDateTime, nullable=False),  # its first run: silent
    Column("last_run_at", UTCDateTime, nullable=False),  # the next run's window starts here
    # How PubMed read the term last time: if its mapping changes, counts change with no paper.
    Column("translation", Text),
)

literature_hits = Table(
    "literature_hits",
    metadata,
    Column("term", String(1000), primary_key=True),
    Column("pmid", String(ID_LENGTH), primary_key=True),
    Column("first_seen_at", UTCDateTime, nullable=False),
)


@dataclass(frozen=True)
class Term:
    """A PubMed search's state: when it set its baseline and last ran."""

    term: str
    baseline_at: datetime
    last_run_at: datetime


class Library:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def terms(self) -> list[tuple[Term, str, int]]:
        """Every PubMed search that has run, with its name and how many papers it has found."""
        found = (
            select(literature_hits.c.term, func.count().label("papers"))
            .group_by(literature_hits.c.term)
            .subquery()
        )
        query = (
            select(literature_terms, found.c.papers)
            .outerjoin(found, found.c.term == literature_terms.c.term)
            .order_by(literature_terms.c.name)
        )
        with self.engine.connect() as conn:
            return [
                (Term(r.term, r.baseline_at, r.last_run_at), r.name, r.papers or 0)
                for r in conn.execute(query)
            ]

    def hits_of(self, terms: Sequence[str]) -> dict[str, set[str]]:
        """The papers each of these searches has found, in a few queries for many searches."""
        found: dict[str, set[str]] = {t: set() for t in terms}
        with self.engine.connect() as conn:
            for part in id_slices(terms):
                query = select(literature_hits.c.term, literature_hits.c.pmid).where(
                    literature_hits.c.term.in_(part)
                )
                for term, pmid in conn.execute(query):
                    found[term].add(pmid)
        return found

    def known_terms(self, terms: Sequence[str]) -> dict[str, Term]:
        """The state of each of these searches that has run."""
        found: dict[str, Term] = {}
        with self.engine.connect() as conn:
            for part in id_slices(terms):
                query = select(literature_terms).where(literature_terms.c.term.in_(part))
                for row in conn.execute(query):
                    found[row.term] = Term(row.term, row.baseline_at, row.last_run_at)
        return found

    def fetched(self, pmids: Iterable[str]) -> dict[str, datetime]:
        """When each of these papers' records was last read in full."""
        found: dict[str, datetime] = {}
        with self.engine.connect() as conn:
            for part in id_slices(pmids):
                query = select(papers.c.pmid, papers.c.fetched_at).where(papers.c.pmid.in_(part))
                found.update((pmid, when) for pmid, when in conn.execute(query))
        return found

    def last_read(self) -> datetime | None:
        """When PubMed was last read to the end: the newest run of any of its searches."""
        with self.engine.connect() as conn:
            return conn.execute(select(func.max(literature_terms.c.last_run_at))).scalar()

    def papers(self, pmids: Iterable[str]) -> dict[str, Paper]:
        found: dict[str, Paper] = {}
        with self.engine.connect() as conn:
            for part in id_slices(pmids):
                query = select(papers).where(papers.c.pmid.in_(part))
                found.update((r["pmid"], paper_from_row(r)) for r in conn.execute(query).mappings())
        return found

    def trial_papers(self, nct_ids: Iterable[str]) -> dict[str, list[Paper]]:
        """The papers each trial's search (`NCT…[si]`) has found, by trial."""
        terms = {f"{t}[si]": t for t in nct_ids}
        query = (
            select(literature_hits.c.term, papers)
            .join(papers, papers.c.pmid == literature_hits.c.pmid)
            .where(literature_hits.c.term.in_(sorted(terms)))
            .order_by(papers.c.pmid)
        )
        found: dict[str, list[Paper]] = {}
        with self.engine.connect() as conn:
            for row in conn.execute(query).mappings():
                found.setdefault(terms[row["term"]], []).append(paper_from_row(row))
        return found

    def found(
        self,
        cycle_id: int,
        term: str,
        paper: Paper,
        change: Change | None,
        now: datetime,
        trial: str | None = None,
    ) -> Change | None:
        """A paper a search found, with the change it makes (None: a silent find); returns the
        change stored, if any. Nothing is written when the search had found it before; a paper
        listing `trial` is linked to it (store/papers.py), and is no news when another source
        had already linked them."""
        try:
            with self.engine.begin() as conn:
                conn.execute(
                    insert(literature_hits),
                    {"term": term, "pmid": paper.pmid, "first_seen_at": now},
                )
                self._keep(conn, paper, now)
                if trial is not None and not link_papers(conn, NAME, [(trial, paper.pmid)], now):
                    change = None  # the registry had linked it: said then, once
                self._changes(conn, cycle_id, [change] if change else [], now)
        except IntegrityError:
            return None  # found before (another window, or another process)
        return change

    def seen(self, term: str, pmids: Sequence[str], now: datetime) -> None:
        """A search's first finds, remembered without their records: never news."""
        known = self.hits_of([term])[term]
        rows = [{"term": term, "pmid": p, "first_seen_at": now} for p in pmids if p not in known]
        with self.engine.begin() as conn:
            for start in range(0, len(rows), 1000):
                conn.execute(insert(literature_hits), rows[start : start + 1000])

    def read(self, cycle_id: int, paper: Paper, found: Sequence[Change], now: datetime) -> None:
        """What PubMed says of a watched paper now, with the changes since it last said."""
        with self.engine.begin() as conn:
            self._keep(conn, paper, now)
            self._changes(conn, cycle_id, found, now)

    def ran_all(self, terms: Sequence[tuple[str, str]], now: datetime) -> None:
        """Searches (term, name) that ran to the end together, ORed in one request: each one's
        next window starts here; how PubMed read each alone is kept as it was."""
        known = self.known_terms([t for t, _ in terms])
        with self.engine.begin() as conn:
            old = [t for t, _ in terms if t in known]
            for start in range(0, len(old), 500):
                conn.execute(
                    update(literature_terms)
                    .where(literature_terms.c.term.in_(old[start : start + 500]))
                    .values(last_run_at=now)
                )
            new = [
                {"term": t, "name": n, "baseline_at": now, "last_run_at": now}
                for t, n in terms
                if t not in known
            ]
            for start in range(0, len(new), 500):
                conn.execute(insert(literature_terms), new[start : start + 500])

    def ran(self, term: str, name: str, translation: str | None, now: datetime) -> None:
        """A search ran to the end: its baseline is set, and the next window starts here."""
        values: dict[str, Any] = {"name": name, "last_run_at": now}
        if translation is not None:  # a search attributed from a chunk's answer has none
            values["translation"] = translation
        with self.engine.begin() as conn:
            done = conn.execute(
                update(literature_terms).where(literature_terms.c.term == term).values(values)
            )
            if done.rowcount == 0:
                conn.execute(insert(literature_terms), {"term": term, "baseline_at": now, **values})

    def _keep(self, conn: Connection, paper: Paper, now: datetime) -> None:
        row = paper_row(paper)
        done = conn.execute(
            update(papers).where(papers.c.pmid == paper.pmid).values(**row, fetched_at=now)
        )
        if done.rowcount == 0:
            conn.execute(insert(papers), {**row, "first_seen_at": now, "fetched_at": now})

    def _changes(
        self, conn: Connection, cycle_id: int, found: Sequence[Change], now: datetime
    ) -> None:
        write_changes(conn, cycle_id, NAME, [(change, None) for change in found], now)
