"""ClinicalTrials.gov's tables: the trials watched (each with its latest snapshot, and the record
it is listed under once merged), their snapshots, the saved searches and what they found, and
whether each article claim agreed with the registry when last judged. On the store's one
`metadata`; the changes a snapshot reveals go to the shared `changes` table.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import (
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    RowMapping,
    String,
    Table,
    Text,
)

from monitor.core.models import BACKGROUND_REFERENCE, Publication, Retraction, Snapshot
from monitor.store.schema import ID_LENGTH, UTCDateTime, metadata

trials = Table(
    "trials",
    metadata,
    Column("nct_id", String(ID_LENGTH), primary_key=True),
    Column("origin", String(200), nullable=False),
    Column("first_seen_at", UTCDateTime, nullable=False),
    Column("latest_snapshot_id", Integer),
    # Revision 0008: the record this id became an alias of (the monitor follows that one), and
    # when the trial was last read in a way that would have noticed it vanish.
    Column("listed_under", String(ID_LENGTH)),
    Column("last_full_read_at", UTCDateTime),
)

snapshots = Table(
    "snapshots",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("nct_id", String(ID_LENGTH), nullable=False),
    Column("cycle_id", Integer, ForeignKey("cycles.id"), nullable=False),
    Column("observed_at", UTCDateTime, nullable=False),
    Column("found", Boolean, nullable=False),
    Column("title", Text),
    Column("status", String(40)),
    Column("last_known_status", String(40)),  # revision 0008, as are aliases
    Column("why_stopped", Text),
    Column("enrollment_count", Integer),
    Column("enrollment_type", String(20)),
    Column("has_results", Boolean, nullable=False),
    Column("results_first_posted", String(10)),
    Column("primary_completion_date", String(10)),
    Column("primary_completion_type", String(20)),
    Column("last_update_posted", String(10)),
    Column("publications", Text, nullable=False),
    Column("phases", String(60)),  # added in revision 0004, as was completion_date
    Column("completion_date", String(10)),
    Column("aliases", Text),  # "NCT01234567|NCT07654321"
    # Revision 0010: what a new trial is shown with, and compared to the articles' trials by.
    Column("conditions", Text),  # JSON lists, as publications
    Column("interventions", Text),
    Column("sponsor", Text),
    Column("start_date", String(10)),
    Column("acronym", String(40)),  # revision 0013
    Column("raw", Text),
    Index("ix_snapshots_nct_id", "nct_id", "id"),
)

searches = Table(
    "searches",
    metadata,
    Column("term", String(1000), primary_key=True),
    Column("name", String(200), nullable=False),
    # None until the search first runs to its last page (revision 0008: a search the registry
    # refuses from the start has a row, for its refusal, before it has a baseline).
    Column("baseline_at", UTCDateTime),
    # Revision 0008: when the search last ran without a date filter, and why the registry
    # refuses it (None while it answers).
    Column("last_full_at", UTCDateTime),
    Column("refused", Text),
)

search_hits = Table(
    "search_hits",
    metadata,
    Column("term", String(1000), primary_key=True),
    Column("nct_id", String(ID_LENGTH), primary_key=True),
    Column("first_seen_at", UTCDateTime, nullable=False),
)

# Added in revision 0004: whether each article claim agreed with the registry when last judged,
# so that a contradiction is reported when it appears and when it is resolved, not every time.
claim_states = Table(
    "claim_states",
    metadata,
    # Revision 0010: each article's claims apart ("" for the unnamed article).
    Column("article", String(1000), primary_key=True),
    Column("trial", String(ID_LENGTH), primary_key=True),
    Column("field", String(32), primary_key=True),
    Column("expected", String(100), nullable=False),
    Column("agrees", Boolean, nullable=False),
    Column("registry_value", String(100)),
    Column("judged_at", UTCDateTime, nullable=False),
)

# Revision 0015: what the registry-wide listing of updated studies showed over the last days
# (every study, watched or not, with its update date), and the days it is complete for, so that
# a cycle lists only the days it has not read and checks the margin days with a count
# (listing.py).
listed = Table(
    "registry_listed",
    metadata,
    Column("nct_id", String(ID_LENGTH), primary_key=True),
    Column("updated", String(10), nullable=False),
    Index("ix_registry_listed_updated", "updated"),
)

listing_span = Table(
    "registry_listing_span",
    metadata,
    Column("singleton", Integer, primary_key=True),
    Column("first_day", String(10), nullable=False),
    Column("last_day", String(10), nullable=False),
)


def snapshot_row(snapshot: Snapshot) -> dict[str, Any]:
    return {
        "nct_id": snapshot.nct_id,
        "found": snapshot.found,
        "title": snapshot.title,
        "status": snapshot.status,
        "last_known_status": snapshot.last_known_status,
        "why_stopped": snapshot.why_stopped,
        "enrollment_count": snapshot.enrollment_count,
        "enrollment_type": snapshot.enrollment_type,
        "has_results": snapshot.has_results,
        "results_first_posted": snapshot.results_first_posted,
        "primary_completion_date": snapshot.primary_completion_date,
        "primary_completion_type": snapshot.primary_completion_type,
        "last_update_posted": snapshot.last_update_posted,
        "publications": json.dumps(
            [
                [p.pmid, p.type, p.citation, [[r.pmid, r.source] for r in p.retractions]]
                for p in (*snapshot.publications, *snapshot.background)
            ],
            ensure_ascii=False,
        ),
        "phases": snapshot.phases,
        "completion_date": snapshot.completion_date,
        "aliases": "|".join(snapshot.aliases) or None,
        "conditions": json.dumps(snapshot.conditions, ensure_ascii=False),
        "interventions": json.dumps(snapshot.interventions, ensure_ascii=False),
        "sponsor": snapshot.sponsor,
        "start_date": snapshot.start_date,
        "acronym": snapshot.acronym,
    }


def snapshot_from_row(row: RowMapping) -> Snapshot:
    # One list, the results' references and the retracted background ones apart by type.
    references = [_publication(p) for p in json.loads(row["publications"])]
    return Snapshot(
        nct_id=row["nct_id"],
        found=bool(row["found"]),
        title=row["title"],
        status=row["status"],
        last_known_status=row["last_known_status"],
        why_stopped=row["why_stopped"],
        enrollment_count=row["enrollment_count"],
        enrollment_type=row["enrollment_type"],
        has_results=bool(row["has_results"]),
        results_first_posted=row["results_first_posted"],
        primary_completion_date=row["primary_completion_date"],
        primary_completion_type=row["primary_completion_type"],
        last_update_posted=row["last_update_posted"],
        publications=tuple(p for p in references if p.type != BACKGROUND_REFERENCE),
        background=tuple(p for p in references if p.type == BACKGROUND_REFERENCE),
        phases=row["phases"],
        completion_date=row["completion_date"],
        aliases=tuple(row["aliases"].split("|")) if row["aliases"] else (),
        conditions=tuple(json.loads(row["conditions"] or "[]")),
        interventions=tuple(json.loads(row["interventions"] or "[]")),
        sponsor=row["sponsor"],
        start_date=row["start_date"],
        acronym=row["acronym"],
    )


def _publication(stored: list[Any]) -> Publication:
    """[pmid, type, citation, [[retraction pmid, source], ...]]; rows written before revision
    0008 have no retractions."""
    pmid, kind, citation, *rest = stored
    retractions = tuple(Retraction(*notice) for notice in (rest[0] if rest else []))
    return Publication(pmid, kind, citation, retractions)
