"""Each article's findings as the store remembers them: when each was first seen and last seen,
when it stopped standing, and where an editor put it. A finding's id (core/standing.py) is a
hash of what it is, so one seen again is the same row, never news twice; one no longer standing
is resolved, and if it stands again later it stands again under its same id.

Its state (open, handled, dismissed) is the editors': each change is one row of its history,
made under the finding's row lock (`FOR UPDATE`; SQLite takes its write lock at BEGIN, db.py),
so two editors changing it at once both have their change recorded, each from the state the
other left.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, delete, insert, select, update

from monitor.core.models import Importance
from monitor.core.standing import Finding, FindingState
from monitor.store.rows import id_slices
from monitor.store.schema import finding_states, findings, reminders


@dataclass(frozen=True)
class StateChange:
    """One change of a finding's state: who made it (`via` what), when, from what, and why."""

    finding: str
    state: FindingState
    previous: FindingState
    by: str
    via: str
    note: str | None
    at: datetime


class UnknownFindings(Exception):
    """Ids no stored finding has; nothing was changed."""

    def __init__(self, ids: Sequence[str]) -> None:
        super().__init__(", ".join(ids))
        self.ids = tuple(ids)


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
    state: FindingState = FindingState.OPEN
    history: tuple[StateChange, ...] = ()  # oldest first

    @property
    def last(self) -> StateChange | None:
        """The change that put it where it is, if anyone changed it."""
        return self.history[-1] if self.history else None


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
                            "state": FindingState.OPEN.value,
                        }
                        for f in new
                    ],
                )
            again = [i for i in ids if i in stored]
            for part in id_slices(again):
                conn.execute(
                    update(findings)
                    .where(findings.c.id.in_(part))
                    .values(last_seen_at=now, resolved_at=None)
                )
            gone = [i for i, row in stored.items() if i not in ids and row.resolved_at is None]
            for part in id_slices(gone):
                conn.execute(
                    update(findings).where(findings.c.id.in_(part)).values(resolved_at=now)
                )
        return new

    def since(self, article: str, moment: datetime) -> list[Kept]:
        """An article's open findings first seen at `moment` or after."""
        return [k for k in self.open(article) if k.first_seen_at >= moment]

    def open(self, article: str | None = None) -> list[Kept]:
        """The findings that stand and no editor has handled or dismissed, an article's or
        every article's, oldest first."""
        return self.listed(article, {FindingState.OPEN})

    def listed(self, article: str | None, states: Collection[FindingState]) -> list[Kept]:
        """An article's (or every article's) findings in these states, oldest first: the open
        ones that stand, and the handled or dismissed ones whether they stand or not (what
        an editor did stays to be seen)."""
        wanted = [state.value for state in states]
        standing = findings.c.resolved_at.is_(None) | (findings.c.state != FindingState.OPEN)
        query = select(findings).where(findings.c.state.in_(wanted), standing)
        if article is not None:
            query = query.where(findings.c.article == article)
        with self.engine.connect() as conn:
            rows = list(conn.execute(query.order_by(findings.c.first_seen_at, findings.c.id)))
            history = _history(conn, [r.id for r in rows])
        return [_kept(r, history.get(r.id, ())) for r in rows]

    def due(self, before: datetime) -> dict[str, list[Kept]]:
        """The open high findings first seen before `before`, by article, of the articles whose
        still-open findings no digest has said again since then."""
        reminded = select(reminders.c.article).where(reminders.c.reminded_at >= before)
        query = select(findings).where(
            findings.c.state == FindingState.OPEN.value,
            findings.c.resolved_at.is_(None),
            findings.c.importance == Importance.HIGH.value,
            findings.c.first_seen_at < before,
            findings.c.article.not_in(reminded),
        )
        found: dict[str, list[Kept]] = {}
        with self.engine.connect() as conn:
            for row in conn.execute(query.order_by(findings.c.first_seen_at, findings.c.id)):
                found.setdefault(row.article, []).append(_kept(row, ()))
        return found

    def reminded(self, articles: Collection[str], now: datetime) -> None:
        """A digest said these articles' still-open findings again."""
        with self.engine.begin() as conn:
            for part in id_slices(articles):
                conn.execute(delete(reminders).where(reminders.c.article.in_(part)))
                conn.execute(insert(reminders), [{"article": a, "reminded_at": now} for a in part])

    def of(self, ids: Iterable[str]) -> dict[str, Kept]:
        """These findings as stored, by id (those stored)."""
        found: dict[str, Kept] = {}
        with self.engine.connect() as conn:
            for part in id_slices(ids):
                rows = list(conn.execute(select(findings).where(findings.c.id.in_(part))))
                history = _history(conn, [r.id for r in rows])
                found.update((r.id, _kept(r, history.get(r.id, ()))) for r in rows)
        return found

    def set_state(
        self,
        ids: Sequence[str],
        state: FindingState,
        *,
        by: str,
        via: str,
        note: str | None,
        now: datetime,
    ) -> list[StateChange]:
        """Put these findings in `state`, each change recorded; returns the changes made (one
        already there is left as it is). Raises UnknownFindings, changing nothing, when an id
        is not a stored finding's."""
        wanted = list(dict.fromkeys(ids))
        made: list[StateChange] = []
        with self.engine.begin() as conn:
            current: dict[str, str] = {}
            for part in id_slices(wanted):
                # Locked until the end: a second editor's change waits, then starts from this
                # one's state, and both are in the history.
                rows = conn.execute(
                    select(findings.c.id, findings.c.state)
                    .where(findings.c.id.in_(part))
                    .with_for_update()
                )
                current.update((row.id, row.state) for row in rows)
            unknown = [i for i in wanted if i not in current]
            if unknown:
                raise UnknownFindings(unknown)
            for finding in wanted:
                previous = FindingState(current[finding])
                if previous is state:
                    continue
                change = StateChange(finding, state, previous, by, via, note, now)
                conn.execute(
                    update(findings).where(findings.c.id == finding).values(state=state.value)
                )
                conn.execute(
                    insert(finding_states).values(
                        finding_id=finding,
                        state=state.value,
                        previous=previous.value,
                        by=by,
                        via=via,
                        note=note,
                        at=now,
                    )
                )
                made.append(change)
        return made


def _history(conn: Connection, ids: Sequence[str]) -> dict[str, tuple[StateChange, ...]]:
    found: dict[str, list[StateChange]] = {}
    for part in id_slices(ids):
        query = (
            select(finding_states)
            .where(finding_states.c.finding_id.in_(part))
            .order_by(finding_states.c.id)
        )
        for row in conn.execute(query):
            found.setdefault(row.finding_id, []).append(
                StateChange(
                    row.finding_id,
                    FindingState(row.state),
                    FindingState(row.previous),
                    row.by,
                    row.via,
                    row.note,
                    row.at,
                )
            )
    return {k: tuple(v) for k, v in found.items()}


def _kept(row: Any, history: tuple[StateChange, ...]) -> Kept:
    return Kept(
        row.id,
        row.article,
        row.kind,
        row.subject,
        row.evidence,
        row.importance,
        row.first_seen_at,
        row.last_seen_at,
        row.resolved_at,
        FindingState(row.state),
        history,
    )
