"""How the typed values are kept in rows and read back: one place that knows both shapes."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import RowMapping

from monitor.core.models import (
    Change,
    ChangeKind,
    Notice,
    NoticeKind,
    Paper,
    PendingChange,
    Publication,
    Retraction,
    Snapshot,
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
                for p in snapshot.publications
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
    }


def snapshot_from_row(row: RowMapping) -> Snapshot:
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
        publications=tuple(_publication(p) for p in json.loads(row["publications"])),
        phases=row["phases"],
        completion_date=row["completion_date"],
        aliases=tuple(row["aliases"].split("|")) if row["aliases"] else (),
        conditions=tuple(json.loads(row["conditions"] or "[]")),
        interventions=tuple(json.loads(row["interventions"] or "[]")),
        sponsor=row["sponsor"],
        start_date=row["start_date"],
    )


def _publication(stored: list[Any]) -> Publication:
    """[pmid, type, citation, [[retraction pmid, source], ...]]; rows written before revision
    0008 have no retractions."""
    pmid, kind, citation, *rest = stored
    retractions = tuple(Retraction(*notice) for notice in (rest[0] if rest else []))
    return Publication(pmid, kind, citation, retractions)


def change_row(change: Change) -> dict[str, Any]:
    return {
        "nct_id": change.nct_id,
        "pmid": change.pmid,
        "kind": change.kind.value,
        "before": change.before,
        "after": change.after,
        "detail": change.detail,
    }


def change_from_row(row: RowMapping) -> Change:
    return Change(
        nct_id=row["nct_id"],
        pmid=row["pmid"],
        kind=ChangeKind(row["kind"]),
        before=row["before"],
        after=row["after"],
        detail=row["detail"],
    )


def pending_from_row(row: RowMapping) -> PendingChange:
    return PendingChange(id=row["id"], change=change_from_row(row), detected_at=row["detected_at"])


def paper_row(paper: Paper) -> dict[str, Any]:
    return {
        "pmid": paper.pmid,
        "title": paper.title,
        "journal": paper.journal,
        "year": paper.year,
        "publication_types": json.dumps(paper.publication_types, ensure_ascii=False),
        "nct_ids": json.dumps(paper.nct_ids),
        "conclusion": paper.conclusion,
        "notices": json.dumps(
            [[n.kind.value, n.pmid, n.source] for n in paper.notices], ensure_ascii=False
        ),
        "status": paper.status,
    }


def paper_from_row(row: RowMapping) -> Paper:
    return Paper(
        pmid=row["pmid"],
        title=row["title"],
        journal=row["journal"],
        year=row["year"],
        publication_types=tuple(json.loads(row["publication_types"])),
        nct_ids=tuple(json.loads(row["nct_ids"])),
        conclusion=row["conclusion"],
        notices=tuple(
            Notice(NoticeKind(kind), pmid, source)
            for kind, pmid, source in json.loads(row["notices"])
        ),
        status=row["status"],
    )
