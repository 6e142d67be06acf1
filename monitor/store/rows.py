"""How the typed values are kept in rows and read back: one place that knows both shapes."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import Any

from sqlalchemy import RowMapping

from monitor.core.models import (
    Change,
    ChangeKind,
    Notice,
    NoticeKind,
    Paper,
    PendingChange,
)


def change_row(change: Change) -> dict[str, Any]:
    return {
        "nct_id": change.nct_id,
        "pmid": change.pmid,
        "source": change.source,
        "kind": change.kind.value,
        "before": change.before,
        "after": change.after,
        "detail": change.detail,
    }


def change_from_row(row: RowMapping) -> Change:
    return Change(
        nct_id=row["nct_id"],
        pmid=row["pmid"],
        source=row["source"],
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
        "doi": paper.doi,
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
        doi=row["doi"],
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


def id_slices(values: Iterable[str], size: int = 500) -> Iterator[list[str]]:
    """These values, once each, a few hundred at a time: a query's `IN (…)` stays bounded
    however long the lists it is given grow."""
    wanted = sorted(set(values))
    for start in range(0, len(wanted), size):
        yield wanted[start : start + size]
