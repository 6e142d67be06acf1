"""Which papers are known to name which trials, whoever found them: the registry's references
and PubMed's `NCT…[si]` finds write here, each in the transaction that stores what it saw, so a
paper that names a trial is news once, whichever source sees it first."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import Connection, insert, select

from monitor.store.schema import paper_links


def link_papers(
    conn: Connection, source: str, links: Iterable[tuple[str, str]], now: datetime
) -> set[tuple[str, str]]:
    """Record each (trial, PMID) link `source` saw; returns those no source knew before."""
    wanted = set(links)
    if not wanted:
        return set()
    trials = sorted({trial for trial, _ in wanted})
    query = select(paper_links.c.nct_id, paper_links.c.pmid).where(paper_links.c.nct_id.in_(trials))
    known = {(row.nct_id, row.pmid) for row in conn.execute(query)}
    new = wanted - known
    if new:
        conn.execute(
            insert(paper_links),
            [
                {"nct_id": trial, "pmid": pmid, "source": source, "first_seen_at": now}
                for trial, pmid in sorted(new)
            ],
        )
    return new
