"""Each article's findings as the store remembers them: when each was first seen and last seen,
and when it stopped standing. A finding's id (core/standing.py) is a hash of what it is, so one
seen again is the same row, never news twice; one no longer standing is resolved, and if it
stands again later it is open again under its same id.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine, insert, select, update

from monitor.core.standing import Finding
from monitor.store.schema import findings


@dataclass(frozen=True)
class Kept:
    """A finding as stored: its id and what it is, and when it stood."""

    id: str
    article: str
    kind: str
    subject: str
    evidence: str
    importance: str
    first_seen_at: datetime
    last_seen_at: datetime
    resolved_at: datetime | None


class Findings:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def keep(
        self, articles: Collection[str], standing: Sequence[Finding], now: datetime, cycle_id: int
    ) -> list[Finding]:
        """What stands now for these articles: new findings are added, those seen again
        touched, those no longer standing resolved. Returns the findings new this time."""
        ids = {f.id: f for f in standing}
        with self.engine.begin() as conn:
            stored = {
                row.id: row
                for row in conn.execute(
                    select(findings.c.id, findings.c.resolved_at).where(
                        findings.c.article.in_(list(articles))
                    )
                )
            }
            new = [f for i, f in ids.items() if i not in stored]
            if new:
                conn.execute(
                    insert(findings),
                    [
                        {
                            "id": f.id,
                            "article": f.article,
                            "kind": f.kind.value,
                            "subject": f.subject,
                            "evidence": f.evidence,
                            "importance": f.importance.value,
                            "first_cycle_id": cycle_id,
                            "first_seen_at": now,
                            "last_seen_at": now,
                        }
                        for f in new
                    ],
                )
            again = [i for i in ids if i in stored]
            for part in _parts(again):
                conn.execute(
                    update(findings)
                    .where(findings.c.id.in_(part))
                    .values(last_seen_at=now, resolved_at=None)
                )
            gone = [i for i, row in stored.items() if i not in ids and row.resolved_at is None]
            for part in _parts(gone):
                conn.execute(
                    update(findings).where(findings.c.id.in_(part)).values(resolved_at=now)
                )
        return new

    def since(self, article: str, moment: datetime) -> list[Kept]:
        """An article's open findings first seen at `moment` or after."""
        return [k for k in self.open(article) if k.first_seen_at >= moment]

    def open(self, article: str | None = None) -> list[Kept]:
        """The findings that stand, an article's or every article's, oldest first."""
        query = select(findings).where(findings.c.resolved_at.is_(None))
        if article is not None:
            query = query.where(findings.c.article == article)
        with self.engine.connect() as conn:
            rows = conn.execute(query.order_by(findings.c.first_seen_at, findings.c.id))
            return [
                Kept(
                    r.id,
                    r.article,
                    r.kind,
                    r.subject,
                    r.evidence,
                    r.importance,
                    r.first_seen_at,
                    r.last_seen_at,
                    r.resolved_at,
                )
                for r in rows
            ]


def _parts(ids: Sequence[str], size: int = 500) -> list[Sequence[str]]:
    """An article citing 10,000 trials may hold as many findings: a statement names at most
    `size` of them, well under any database's limit of bound parameters."""
    return [ids[i : i + size] for i in range(0, len(ids), size)]
