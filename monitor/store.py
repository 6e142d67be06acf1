"""Snapshots, changes, deliveries and cycles in SQL (SQLite or PostgreSQL, via SQLAlchemy Core).

Two rules keep changes from being lost or repeated, whatever else runs at the same time:
- a snapshot and the changes it revealed are written in one transaction, and a trial's latest
  snapshot only moves forward from the one the diff was computed against (a conditional UPDATE);
- a delivery claims unsent changes with one conditional UPDATE (`WHERE delivery_id IS NULL`), so
  two senders can never claim the same change, and gives them back if the send fails.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, func, insert, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from monitor.db import (
    changes,
    cycles,
    deliveries,
    notices,
    search_hits,
    searches,
    services,
    snapshots,
    trials,
)
from monitor.diff import diff, new_trial
from monitor.errors import StoreError
from monitor.models import Change, ChangeKind, Observation, PendingChange, Publication, Snapshot

log = logging.getLogger(__name__)

# A claim older than this belongs to a sender that died; its changes go out again. Far longer
# than a send can take (timeouts and retries included), so a live sender is never overtaken.
STALE_CLAIM = timedelta(minutes=30)
CONFLICT_RETRIES = 5


@dataclass(frozen=True)
class SearchContext:
    """The search a page of observations came from; `baseline` on its first complete run."""

    term: str
    name: str
    baseline: bool


@dataclass(frozen=True)
class Claim:
    delivery_id: int
    pending: tuple[PendingChange, ...]


@dataclass(frozen=True)
class CycleFigures:
    requests: int = 0
    bytes_received: int = 0
    trials_checked: int = 0
    changes_found: int = 0
    records_rejected: int = 0  # logged, not stored: records without an NCT id or a status
    data_timestamp: str | None = None
    delivery_id: int | None = None


# A trial's latest snapshot and its row id (None for a trial never seen before).
_Latest = tuple[int | None, Snapshot | None]


class _Conflict(Exception):
    """Another process recorded the same trial first; redo the page against what it wrote."""


class Store:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    # -- cycles ---------------------------------------------------------------------------

    def start_cycle(self, now: datetime) -> int:
        with self.engine.begin() as conn:
            result = conn.execute(insert(cycles).values(started_at=now).returning(cycles.c.id))
            return int(result.scalar_one())

    def finish_cycle(
        self, cycle_id: int, now: datetime, outcome: str, figures: CycleFigures, error: str | None
    ) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                update(cycles)
                .where(cycles.c.id == cycle_id)
                .values(
                    finished_at=now,
                    outcome=outcome,
                    error=error,
                    requests=figures.requests,
                    bytes_received=figures.bytes_received,
                    trials_checked=figures.trials_checked,
                    changes_found=figures.changes_found,
                    data_timestamp=figures.data_timestamp,
                    delivery_id=figures.delivery_id,
                )
            )

    # -- what to watch --------------------------------------------------------------------

    def known_search_terms(self) -> set[str]:
        with self.engine.connect() as conn:
            return set(conn.execute(select(searches.c.term)).scalars())

    def complete_search(self, term: str, name: str, now: datetime) -> None:
        """A search ran to its last page: from now on, what it finds first is news."""
        with self.engine.begin() as conn:
            exists = conn.execute(select(searches.c.term).where(searches.c.term == term)).first()
            if exists is None:
                conn.execute(insert(searches).values(term=term, name=name, baseline_at=now))

    def watched_ids(self, configured: Sequence[str], terms: Iterable[str]) -> list[str]:
        """The configured trials, then those the configured searches have found, no repeats."""
        terms = list(terms)
        found: list[str] = []
        if terms:
            with self.engine.connect() as conn:
                found = list(
                    conn.execute(
                        select(search_hits.c.nct_id)
                        .where(search_hits.c.term.in_(terms))
                        .distinct()
                        .order_by(search_hits.c.nct_id)
                    ).scalars()
                )
        return list(dict.fromkeys([*configured, *found]))

    # -- observations → snapshots and changes ---------------------------------------------

    def record(
        self,
        cycle_id: int,
        observations: Sequence[Observation],
        now: datetime,
        search: SearchContext | None = None,
    ) -> list[Change]:
        """Store a page of observations and the changes they reveal, atomically.

        Returns the changes found. Safe against another process recording the same trials at
        the same time: the loser of the race redoes the page and finds nothing new.
        """
        for attempt in range(1, CONFLICT_RETRIES + 1):
            try:
                with self.engine.begin() as conn:
                    return self._record(conn, cycle_id, observations, now, search)
            except (_Conflict, IntegrityError):
                log.info("another process recorded the same trials; redoing (attempt %d)", attempt)
        raise StoreError("another process kept recording the same trials; try again later")

    def _record(
        self,
        conn: Connection,
        cycle_id: int,
        observations: Sequence[Observation],
        now: datetime,
        search: SearchContext | None,
    ) -> list[Change]:
        ids = [o.snapshot.nct_id for o in observations]
        latest = self._latest(conn, ids)
        known_hits = self._known_hits(conn, search.term, ids) if search else set()
        origin = f"search: {search.name}" if search else "watch"
        found: list[Change] = []
        for observation in observations:
            new = observation.snapshot
            if new.nct_id not in latest:
                conn.execute(
                    insert(trials).values(nct_id=new.nct_id, origin=origin, first_seen_at=now)
                )
                latest[new.nct_id] = (None, None)
                is_news = search is not None and not search.baseline and new.found
                trial_changes = [new_trial(new, search.name)] if is_news and search else []
            else:
                trial_changes = diff(latest[new.nct_id][1], new)
            previous_id, previous = latest[new.nct_id]
            if previous != new:
                snapshot_id = self._add_snapshot(conn, cycle_id, observation, now, previous_id)
                latest[new.nct_id] = (snapshot_id, new)
                self._add_changes(conn, cycle_id, snapshot_id, trial_changes, now)
                found.extend(trial_changes)
            if search and new.nct_id not in known_hits:
                conn.execute(
                    insert(search_hits).values(
                        term=search.term, nct_id=new.nct_id, first_seen_at=now
                    )
                )
                known_hits.add(new.nct_id)
        return found

    def _latest(
        self, conn: Connection, ids: list[str]
    ) -> dict[str, tuple[int | None, Snapshot | None]]:
        query = (
            select(trials.c.nct_id, trials.c.latest_snapshot_id, snapshots)
            .select_from(trials.outerjoin(snapshots, snapshots.c.id == trials.c.latest_snapshot_id))
            .where(trials.c.nct_id.in_(ids))
        )
        result: dict[str, _Latest] = {}
        for row in conn.execute(query).mappings():
            snapshot = snapshot_from_row(row) if row["latest_snapshot_id"] is not None else None
            result[row["nct_id"]] = (row["latest_snapshot_id"], snapshot)
        return result

    def _known_hits(self, conn: Connection, term: str, ids: list[str]) -> set[str]:
        query = select(search_hits.c.nct_id).where(
            search_hits.c.term == term, search_hits.c.nct_id.in_(ids)
        )
        return set(conn.execute(query).scalars())

    def _add_snapshot(
        self,
        conn: Connection,
        cycle_id: int,
        observation: Observation,
        now: datetime,
        previous_id: int | None,
    ) -> int:
        snapshot = observation.snapshot
        row = _snapshot_row(snapshot) | {
            "cycle_id": cycle_id,
            "observed_at": now,
            "raw": observation.raw,
        }
        snapshot_id = int(
            conn.execute(insert(snapshots).values(row).returning(snapshots.c.id)).scalar_one()
        )
        moved = conn.execute(
            update(trials)
            .where(
                trials.c.nct_id == snapshot.nct_id,
                trials.c.latest_snapshot_id.is_(None)
                if previous_id is None
                else trials.c.latest_snapshot_id == previous_id,
            )
            .values(latest_snapshot_id=snapshot_id)
        )
        if moved.rowcount != 1:
            raise _Conflict(snapshot.nct_id)
        return snapshot_id

    def _add_changes(
        self,
        conn: Connection,
        cycle_id: int,
        snapshot_id: int,
        found: list[Change],
        now: datetime,
    ) -> None:
        if found:
            conn.execute(
                insert(changes),
                [
                    {
                        "cycle_id": cycle_id,
                        "snapshot_id": snapshot_id,
                        "nct_id": c.nct_id,
                        "kind": c.kind.value,
                        "before": c.before,
                        "after": c.after,
                        "detail": c.detail,
                        "detected_at": now,
                    }
                    for c in found
                ],
            )

    # -- delivery -------------------------------------------------------------------------

    def claim_pending(self, now: datetime, transport: str) -> Claim | None:
        """Claim every unsent change for one new delivery, or None when there is nothing."""
        with self.engine.begin() as conn:
            self._expire_stale_claims(conn, now)
            waiting = conn.execute(
                select(changes.c.id).where(changes.c.delivery_id.is_(None)).limit(1)
            ).first()
            if waiting is None:
                return None
            delivery_id = int(
                conn.execute(
                    insert(deliveries)
                    .values(started_at=now, state="sending", transport=transport)
                    .returning(deliveries.c.id)
                ).scalar_one()
            )
            conn.execute(
                update(changes)
                .where(changes.c.delivery_id.is_(None))
                .values(delivery_id=delivery_id)
            )
            rows = conn.execute(
                select(changes).where(changes.c.delivery_id == delivery_id).order_by(changes.c.id)
            ).mappings()
            pending = tuple(pending_from_row(row) for row in rows)
        if not pending:
            return None
        return Claim(delivery_id, pending)

    def _expire_stale_claims(self, conn: Connection, now: datetime) -> None:
        stale = select(deliveries.c.id).where(
            deliveries.c.state == "sending", deliveries.c.started_at < now - STALE_CLAIM
        )
        stale_ids = list(conn.execute(stale).scalars())
        if stale_ids:
            log.warning(
                "releasing changes of deliveries %s, abandoned by a stopped process", stale_ids
            )
            conn.execute(
                update(changes).where(changes.c.delivery_id.in_(stale_ids)).values(delivery_id=None)
            )
            conn.execute(
                update(deliveries)
                .where(deliveries.c.id.in_(stale_ids))
                .values(state="abandoned", finished_at=now)
            )

    def mark_sent(
        self, delivery_id: int, now: datetime, subject: str, message_id: str, location: str
    ) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                update(deliveries)
                .where(deliveries.c.id == delivery_id)
                .values(
                    state="sent",
                    finished_at=now,
                    subject=subject,
                    message_id=message_id,
                    location=location,
                )
            )

    def release(self, delivery_id: int, now: datetime, error: str) -> None:
        """The send failed: the changes wait for the next delivery."""
        with self.engine.begin() as conn:
            conn.execute(
                update(changes).where(changes.c.delivery_id == delivery_id).values(delivery_id=None)
            )
            conn.execute(
                update(deliveries)
                .where(deliveries.c.id == delivery_id)
                .values(state="failed", finished_at=now, error=error)
            )

    def titles(self, nct_ids: Iterable[str]) -> dict[str, str]:
        """The latest title the registry gave each trial (a vanished record keeps its old one)."""
        newest = (
            select(snapshots.c.nct_id, func.max(snapshots.c.id).label("id"))
            .where(snapshots.c.nct_id.in_(list(nct_ids)), snapshots.c.title.is_not(None))
            .group_by(snapshots.c.nct_id)
            .subquery()
        )
        query = select(snapshots.c.nct_id, snapshots.c.title).join(
            newest, newest.c.id == snapshots.c.id
        )
        with self.engine.connect() as conn:
            return {row.nct_id: row.title for row in conn.execute(query)}

    def pending(self) -> list[PendingChange]:
        """Changes waiting for delivery and not claimed by a send in flight (for `preview`)."""
        with self.engine.connect() as conn:
            query = select(changes).where(changes.c.delivery_id.is_(None)).order_by(changes.c.id)
            return [pending_from_row(row) for row in conn.execute(query).mappings()]

    # -- the service and its operators ----------------------------------------------------

    def record_service_start(self, now: datetime, host: str, pid: int) -> None:
        with self.engine.begin() as conn:
            conn.execute(insert(services).values(started_at=now, host=host, pid=pid))

    def consecutive_failures(self) -> int:
        """Finished cycles that failed, counted back from the newest to the last success."""
        query = (
            select(cycles.c.outcome)
            .where(cycles.c.finished_at.is_not(None))
            .order_by(cycles.c.id.desc())
            .limit(1000)
        )
        count = 0
        with self.engine.connect() as conn:
            for outcome in conn.execute(query).scalars():
                if outcome == "ok":
                    break
                # A cycle stopped by a shutdown says nothing about the registry or the mail.
                if outcome != "interrupted":
                    count += 1
        return count

    def last_notice(self) -> str | None:
        """The kind of the newest operator notice sent ("failing" or "recovered")."""
        with self.engine.connect() as conn:
            query = select(notices.c.kind).order_by(notices.c.id.desc()).limit(1)
            return conn.execute(query).scalar()

    def record_notice(self, kind: str, cycle_id: int, now: datetime, recipients: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                insert(notices).values(
                    kind=kind, cycle_id=cycle_id, sent_at=now, recipients=recipients
                )
            )

    # -- reading, for tests and the operator's commands -----------------------------------

    def snapshot_count(self, nct_id: str) -> int:
        with self.engine.connect() as conn:
            query = select(func.count()).select_from(snapshots).where(snapshots.c.nct_id == nct_id)
            return int(conn.execute(query).scalar_one())

    def all_changes(self) -> list[tuple[Change, int | None]]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(changes).order_by(changes.c.id)).mappings()
            return [(pending_from_row(row).change, row["delivery_id"]) for row in rows]


def _snapshot_row(snapshot: Snapshot) -> dict[str, Any]:
    return {
        "nct_id": snapshot.nct_id,
        "found": snapshot.found,
        "title": snapshot.title,
        "status": snapshot.status,
        "why_stopped": snapshot.why_stopped,
        "enrollment_count": snapshot.enrollment_count,
        "enrollment_type": snapshot.enrollment_type,
        "has_results": snapshot.has_results,
        "results_first_posted": snapshot.results_first_posted,
        "primary_completion_date": snapshot.primary_completion_date,
        "primary_completion_type": snapshot.primary_completion_type,
        "last_update_posted": snapshot.last_update_posted,
        "publications": json.dumps(
            [[p.pmid, p.type, p.citation] for p in snapshot.publications], ensure_ascii=False
        ),
    }


def snapshot_from_row(row: Any) -> Snapshot:
    base = Snapshot(nct_id=row["nct_id"])
    return replace(
        base,
        found=bool(row["found"]),
        title=row["title"],
        status=row["status"],
        why_stopped=row["why_stopped"],
        enrollment_count=row["enrollment_count"],
        enrollment_type=row["enrollment_type"],
        has_results=bool(row["has_results"]),
        results_first_posted=row["results_first_posted"],
        primary_completion_date=row["primary_completion_date"],
        primary_completion_type=row["primary_completion_type"],
        last_update_posted=row["last_update_posted"],
        publications=tuple(Publication(*p) for p in json.loads(row["publications"])),
    )


def pending_from_row(row: Any) -> PendingChange:
    change = Change(
        nct_id=row["nct_id"],
        kind=ChangeKind(row["kind"]),
        before=row["before"],
        after=row["after"],
        detail=row["detail"],
    )
    return PendingChange(id=row["id"], change=change, detected_at=row["detected_at"])
