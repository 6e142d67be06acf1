"""The changes a source found, written into the shared `changes` table: the one way every source
stores its news, inside the transaction that stores what revealed it (persist first, deliver
second). Who gets each change, and whether they have it, is delivery's business."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Connection, insert, select

from monitor.core.models import Change
from monitor.store.rows import change_row
from monitor.store.schema import changes, papers


def write_changes(
    conn: Connection,
    cycle_id: int,
    source: str,
    found: Sequence[tuple[Change, int | None]],
    now: datetime,
) -> None:
    """Changes found by `source` (its name, sources/<name>), each with the snapshot that
    revealed it, if any; a change about a paper points at the paper's row, which the caller
    has written first."""
    if not found:
        return
    pmids = sorted({c.pmid for c, _ in found if c.pmid})
    paper_ids: dict[str, int] = {}
    if pmids:
        query = select(papers.c.pmid, papers.c.id).where(papers.c.pmid.in_(pmids))
        paper_ids = {row.pmid: row.id for row in conn.execute(query)}
    rows = [
        change_row(change)
        | {
            "cycle_id": cycle_id,
            "snapshot_id": snapshot_id,
            "detected_at": now,
            "source": source,
            "paper_id": paper_ids.get(change.pmid) if change.pmid else None,
        }
        for change, snapshot_id in found
    ]
    conn.execute(insert(changes), rows)
