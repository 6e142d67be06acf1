"""The registry's data in SQL (SQLite or PostgreSQL, via Core): the trials watched, their
snapshots, the changes they revealed, the searches' finds and the article claims' verdicts.

A snapshot and the changes it revealed are written in one transaction, and a trial's latest
snapshot only moves forward from the one the diff was computed against (a conditional UPDATE),
so a change is recorded once whatever else runs at the same time. Who gets the changes, and
whether they have, is deliveries.py's business; the monitor's record of its own cycles is
journal.py's.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, delete, func, insert, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from monitor.claims import Claim, Verdict, judge
from monitor.db import changes, claim_states, search_hits, searches, snapshots, trials
from monitor.diff import diff, new_trial
from monitor.errors import StoreError
from monitor.models import Change, ChangeKind, Observation, Snapshot
from monitor.rows import change_row, snapshot_from_row, snapshot_row

log = logging.getLogger(__name__)

CONFLICT_RETRIES = 5


@dataclass(frozen=True)
class SearchContext:
    """The search a page of observations came from; `baseline` on its first complete run."""

    term: str
    name: str
    baseline: bool


# A trial's latest snapshot and its row id (None for a trial never seen before).
_Latest = tuple[int | None, Snapshot | None]


@dataclass(frozen=True)
class _Write:
    """A snapshot to store, where its trial pointed before, and the changes it reveals."""

    observation: Observation
    previous_id: int | None
    changes: list[Change]
    is_new_trial: bool = False

    @property
    def nct_id(self) -> str:
        return self.observation.snapshot.nct_id


class _Conflict(Exception):
    """Another process recorded the same trial first; redo the page against what it wrote."""


class Store:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def prune(self, now: datetime, retention_days: int) -> int:
        """Forget snapshots older than the retention; returns how many rows went.

        The latest snapshot of a trial always stays, and so does one a reported change points
        to (the history command shows it), though its raw record is dropped."""
        cutoff = now - timedelta(days=retention_days)
        latest = select(trials.c.latest_snapshot_id).where(trials.c.latest_snapshot_id.is_not(None))
        referenced = select(changes.c.snapshot_id)
        old = (snapshots.c.observed_at < cutoff) & snapshots.c.id.not_in(latest)
        with self.engine.begin() as conn:
            gone = conn.execute(delete(snapshots).where(old, snapshots.c.id.not_in(referenced)))
            conn.execute(
                update(snapshots).where(old, snapshots.c.raw.is_not(None)).values(raw=None)
            )
        return int(gone.rowcount)

    # -- what to watch --------------------------------------------------------------------

    def known_trial_ids(self) -> set[str]:
        """Every trial with a baseline."""
        with self.engine.connect() as conn:
            return set(conn.execute(select(trials.c.nct_id)).scalars())

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
        # One page of a listing never repeats a study; if a caller's list does, the first wins.
        unique = list({o.snapshot.nct_id: o for o in reversed(observations)}.values())[::-1]
        ids = [o.snapshot.nct_id for o in unique]
        latest = self._latest(conn, ids)
        news = search is not None and not search.baseline
        writes: list[_Write] = []
        for observation in unique:
            new = observation.snapshot
            if new.nct_id not in latest:
                found = [new_trial(new, search.name)] if news and search and new.found else []
                writes.append(_Write(observation, None, found, is_new_trial=True))
                continue
            previous_id, previous = latest[new.nct_id]
            if previous != new:
                writes.append(_Write(observation, previous_id, diff(previous, new)))
        self._write(
            conn, cycle_id, writes, now, origin=f"search: {search.name}" if search else "watch"
        )
        if search:
            self._add_hits(conn, search.term, ids, now)
        return [change for write in writes for change in write.changes]

    def _write(
        self, conn: Connection, cycle_id: int, writes: list[_Write], now: datetime, origin: str
    ) -> None:
        """New snapshots, their trials' latest pointers and their changes, in bulk."""
        if not writes:
            return
        rows = [
            snapshot_row(w.observation.snapshot)
            | {"cycle_id": cycle_id, "observed_at": now, "raw": w.observation.raw}
            for w in writes
        ]
        returning = insert(snapshots).returning(snapshots.c.id, sort_by_parameter_order=True)
        snapshot_ids = [int(i) for i in conn.execute(returning, rows).scalars()]
        new_trials = [
            {"nct_id": w.nct_id, "origin": origin, "first_seen_at": now, "latest_snapshot_id": i}
            for w, i in zip(writes, snapshot_ids, strict=True)
            if w.is_new_trial
        ]
        if new_trials:
            conn.execute(insert(trials), new_trials)  # a duplicate key: another process won
        for write, snapshot_id in zip(writes, snapshot_ids, strict=True):
            if not write.is_new_trial:
                self._move_latest(conn, write.nct_id, write.previous_id, snapshot_id)
        self._write_changes(
            conn,
            cycle_id,
            [
                (change, snapshot_id)
                for write, snapshot_id in zip(writes, snapshot_ids, strict=True)
                for change in write.changes
            ],
            now,
        )

    def _write_changes(
        self, conn: Connection, cycle_id: int, found: list[tuple[Change, int]], now: datetime
    ) -> None:
        """Changes, each with the snapshot that revealed it."""
        rows = [
            change_row(change)
            | {"cycle_id": cycle_id, "snapshot_id": snapshot_id, "detected_at": now}
            for change, snapshot_id in found
        ]
        if rows:
            conn.execute(insert(changes), rows)

    def _move_latest(
        self, conn: Connection, nct_id: str, previous_id: int | None, snapshot_id: int
    ) -> None:
        """Point the trial at its new snapshot, only if it still points where the diff began."""
        current = (
            trials.c.latest_snapshot_id.is_(None)
            if previous_id is None
            else trials.c.latest_snapshot_id == previous_id
        )
        moved = conn.execute(
            update(trials)
            .where(trials.c.nct_id == nct_id, current)
            .values(latest_snapshot_id=snapshot_id)
        )
        if moved.rowcount != 1:
            raise _Conflict(nct_id)

    def _latest(self, conn: Connection, ids: list[str]) -> dict[str, _Latest]:
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

    def _add_hits(self, conn: Connection, term: str, ids: list[str], now: datetime) -> None:
        query = select(search_hits.c.nct_id).where(
            search_hits.c.term == term, search_hits.c.nct_id.in_(ids)
        )
        known = set(conn.execute(query).scalars())
        hits = [{"term": term, "nct_id": i, "first_seen_at": now} for i in ids if i not in known]
        if hits:
            conn.execute(insert(search_hits), hits)

    # -- the article's claims -------------------------------------------------------------

    def judge_claims(self, cycle_id: int, claims: Sequence[Claim], now: datetime) -> list[Change]:
        """Judge each claim against its trial's latest snapshot; a claim that has just come to
        disagree, or to agree again, is a change. A trial the registry lost is not judged."""
        if not claims:
            return []
        with self.engine.begin() as conn:
            latest = self._latest(conn, sorted({c.trial for c in claims}))
            rows = conn.execute(select(claim_states).where(claim_states.c.trial.in_(list(latest))))
            states = {(r.trial, r.field): r for r in rows}
            found: list[Change] = []
            for claim in claims:
                snapshot_id, snapshot = latest.get(claim.trial, (None, None))
                if snapshot_id is None or snapshot is None or not snapshot.found:
                    continue
                verdict = judge(claim, snapshot)
                state = states.get((claim.trial, claim.field))
                kind = _claim_news(state, claim, verdict)
                self._keep_verdict(conn, state, verdict, now)
                if kind is not None:
                    change = Change(
                        claim.trial, kind, claim.expected, verdict.registry, claim.field.value
                    )
                    found.append(change)
                    self._write_changes(conn, cycle_id, [(change, snapshot_id)], now)
        return found

    def _keep_verdict(self, conn: Connection, state: Any, verdict: Verdict, now: datetime) -> None:
        claim = verdict.claim
        values = {
            "expected": claim.expected,
            "agrees": verdict.agrees,
            "registry_value": verdict.registry,
            "judged_at": now,
        }
        if state is None:
            conn.execute(
                insert(claim_states).values(trial=claim.trial, field=claim.field.value, **values)
            )
            return
        conn.execute(
            update(claim_states)
            .where(claim_states.c.trial == claim.trial, claim_states.c.field == claim.field.value)
            .values(values)
        )

    # -- reading ------------------------------------------------------------------------

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


def _claim_news(state: Any, claim: Claim, verdict: Verdict) -> ChangeKind | None:
    """Whether this verdict is news: a contradiction appearing or going away. A claim judged
    for the first time (or restated in the config) is news only if the registry contradicts it."""
    if state is None or state.expected != claim.expected:
        return None if verdict.agrees else ChangeKind.CLAIM_CONTRADICTED
    if state.agrees and not verdict.agrees:
        return ChangeKind.CLAIM_CONTRADICTED
    if not state.agrees and verdict.agrees:
        return ChangeKind.CLAIM_RESOLVED
    return None
