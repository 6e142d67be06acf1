"""The registry's records in SQL (SQLite or PostgreSQL, via Core): the trials watched, their
snapshots, and the changes they revealed; each trial as the record it is listed under once the
registry merged it into another.

A snapshot and the changes it revealed are written in one transaction, and a trial's latest
snapshot only moves forward from the one the diff was computed against (a conditional UPDATE),
so a change is recorded once whatever else runs at the same time. The saved searches' state is
searches.py's, the article claims' verdicts claims.py's; who gets the changes is delivery's.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Engine, delete, func, insert, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DataError, IntegrityError, StatementError

from monitor.core.diff import diff, hollow, new_trial
from monitor.core.errors import StoreError, first_line
from monitor.core.models import Change, ChangeKind, Observation, Snapshot
from monitor.sources.ctgov.tables import (
    search_hits,
    snapshot_from_row,
    snapshot_row,
    snapshots,
    trials,
)
from monitor.store.changes import write_changes
from monitor.store.papers import link_papers
from monitor.store.schema import changes

log = logging.getLogger(__name__)

NAME = "ctgov"  # this source's name: each change it stores says so (changes.source)
CONFLICT_RETRIES = 5


@dataclass(frozen=True)
class SearchContext:
    """The search a page of observations came from; `baseline` on its first complete run."""

    term: str
    name: str
    baseline: bool


@dataclass(frozen=True)
class Known:
    """A trial the store has: its latest snapshot (and that row's id), where it came from, and
    the record it is now listed under when it became an alias."""

    snapshot_id: int | None
    snapshot: Snapshot | None
    origin: str
    listed_under: str | None


@dataclass(frozen=True)
class _Write:
    """A snapshot to store, where its trial pointed before, and the changes it reveals."""

    observation: Observation
    previous_id: int | None
    changes: list[Change]
    is_new_trial: bool = False
    origin: str = "watch"
    aliases: tuple[str, ...] = ()  # known trials this record now stands for

    @property
    def nct_id(self) -> str:
        return self.observation.snapshot.nct_id


class _Conflict(Exception):
    """Another process recorded the same trial first; redo the page against what it wrote."""


class Unstorable(StoreError):
    """The database refused a value of the page (too long for its column, a character it cannot
    hold): the caller records the page's records one by one and rejects the one at fault."""


@dataclass(frozen=True)
class Recorded:
    """What recording a page found: its changes, and the records it did not store because
    they came back hollow (every tracked field but the status gone at once)."""

    changes: list[Change]
    hollow: tuple[str, ...] = ()


class Store:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def prune(self, now: datetime, retention_days: int) -> int:
        """Forget snapshots older than the retention; returns how many rows went.

        The latest snapshot of a trial always stays, and so does one a reported change points
        to (the history command shows it), though its raw record is dropped."""
        cutoff = now - timedelta(days=retention_days)
        latest = select(trials.c.latest_snapshot_id).where(trials.c.latest_snapshot_id.is_not(None))
        # Not NULL: a change about a paper alone points to no snapshot, and one NULL in a
        # NOT IN list would make it keep every snapshot for ever.
        referenced = select(changes.c.snapshot_id).where(changes.c.snapshot_id.is_not(None))
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

    def last_updates(self) -> dict[str, str | None]:
        """Each trial's LastUpdatePostDate as its latest snapshot has it."""
        query = select(trials.c.nct_id, snapshots.c.last_update_posted).select_from(
            trials.join(snapshots, snapshots.c.id == trials.c.latest_snapshot_id)
        )
        with self.engine.connect() as conn:
            return {row.nct_id: row.last_update_posted for row in conn.execute(query)}

    def watched_ids(self, configured: Sequence[str], terms: Iterable[str]) -> list[str]:
        """The configured trials, then those the configured searches have found, each as the
        record it is listed under once it became an alias, no repeats."""
        terms = list(terms)
        found: list[str] = []
        with self.engine.connect() as conn:
            if terms:
                found = list(
                    conn.execute(
                        select(search_hits.c.nct_id)
                        .where(search_hits.c.term.in_(terms))
                        .distinct()
                        .order_by(search_hits.c.nct_id)
                    ).scalars()
                )
            every = [*configured, *found]
            records = canonical(conn, every)
        return list(dict.fromkeys(records[i] for i in every))

    def read_in_full(self, nct_ids: Iterable[str], now: datetime) -> None:
        """These trials were just read in a way that would have noticed them vanish."""
        ids = list(nct_ids)
        with self.engine.begin() as conn:
            conn.execute(
                update(trials).where(trials.c.nct_id.in_(ids)).values(last_full_read_at=now)
            )

    def stalest(self, nct_ids: Sequence[str], count: int, due_before: datetime) -> list[str]:
        """Of these trials, the `count` read in full longest ago, and every one not read in full
        since `due_before`: the rolling reconciliation's slice for this cycle."""
        ids = set(nct_ids)
        with self.engine.connect() as conn:
            every = conn.execute(select(trials.c.nct_id, trials.c.last_full_read_at)).all()
        rows = [row for row in every if row.nct_id in ids]
        never = datetime.min.replace(tzinfo=due_before.tzinfo)
        by_age = sorted(rows, key=lambda row: (row.last_full_read_at or never, row.nct_id))
        chosen = {row.nct_id for row in by_age[:count]}
        chosen |= {row.nct_id for row in by_age if (row.last_full_read_at or never) < due_before}
        return [i for i in nct_ids if i in chosen]

    # -- observations → snapshots and changes ---------------------------------------------

    def record(
        self,
        cycle_id: int,
        observations: Sequence[Observation],
        now: datetime,
        search: SearchContext | None = None,
    ) -> Recorded:
        """Store a page of observations and the changes they reveal, atomically.

        Safe against another process recording the same trials at the same time: the loser of
        the race redoes the page and finds nothing new. A page the database refuses (a value
        it cannot hold) raises Unstorable, and nothing of it is kept.
        """
        for attempt in range(1, CONFLICT_RETRIES + 1):
            try:
                with self.engine.begin() as conn:
                    return self._record(conn, cycle_id, observations, now, search)
            except (_Conflict, IntegrityError):
                log.info("another process recorded the same trials; redoing (attempt %d)", attempt)
            except (DataError, StatementError) as exc:
                # A value past a column's size, a character the database refuses: the record,
                # not the database, is at fault. IntegrityError, a race, is handled above.
                raise Unstorable(first_line(exc)) from None
        raise StoreError("another process kept recording the same trials; try again later")

    def _record(
        self,
        conn: Connection,
        cycle_id: int,
        observations: Sequence[Observation],
        now: datetime,
        search: SearchContext | None,
    ) -> Recorded:
        # One page of a listing never repeats a study; if a caller's list does, the first wins.
        unique = list({o.snapshot.nct_id: o for o in reversed(observations)}.values())[::-1]
        ids = [o.snapshot.nct_id for o in unique]
        have = known(conn, ids + [a for o in unique for a in o.snapshot.aliases])
        origin = f"search: {search.name}" if search else "watch"
        # A record that lost every tracked field but its status at once is a partial answer,
        # not the news that its enrollment and dates were withdrawn: it is not stored.
        hollow = [o.snapshot.nct_id for o in unique if _hollow(have, o.snapshot)]
        kept = [o for o in unique if o.snapshot.nct_id not in hollow]
        writes = [self._compare(o, have, origin, search) for o in kept]
        changes = self._write(conn, cycle_id, [w for w in writes if w is not None], now)
        if search:
            self._add_hits(conn, search.term, [o.snapshot.nct_id for o in kept], now)
        return Recorded(changes, tuple(hollow))

    def _compare(
        self,
        observation: Observation,
        known: dict[str, Known],
        origin: str,
        search: SearchContext | None,
    ) -> _Write | None:
        """What storing this observation means: nothing (unchanged), a baseline, or changes.

        A record that lists a known trial among its aliases is that trial, merged: its history
        goes on under the new id, from the alias's last snapshot, and the change of id is news.
        """
        new = observation.snapshot
        merged = [a for a in new.aliases if a in known and known[a].listed_under is None]
        listed = [Change(alias, ChangeKind.LISTED_UNDER, after=new.nct_id) for alias in merged]
        if new.nct_id in known:
            trial = known[new.nct_id]
            if trial.snapshot == new and not listed:
                return None
            changes = [*listed, *diff(trial.snapshot, new)]
            return _Write(observation, trial.snapshot_id, changes, aliases=tuple(merged))
        if merged:
            alias = known[merged[0]]
            changes = [*listed, *diff(alias.snapshot, new)]
            return _Write(observation, None, changes, True, alias.origin, tuple(merged))
        news = search is not None and not search.baseline and new.found
        found = [new_trial(new, search.name)] if news and search else []
        return _Write(observation, None, found, is_new_trial=True, origin=origin)

    def _write(
        self, conn: Connection, cycle_id: int, writes: list[_Write], now: datetime
    ) -> list[Change]:
        """New snapshots, their trials' latest pointers and their changes, in bulk; returns the
        changes written."""
        if not writes:
            return []
        rows = [
            snapshot_row(w.observation.snapshot)
            | {"cycle_id": cycle_id, "observed_at": now, "raw": w.observation.raw}
            for w in writes
        ]
        returning = insert(snapshots).returning(snapshots.c.id, sort_by_parameter_order=True)
        snapshot_ids = [int(i) for i in conn.execute(returning, rows).scalars()]
        new_trials = [
            {"nct_id": w.nct_id, "origin": w.origin, "first_seen_at": now, "latest_snapshot_id": i}
            for w, i in zip(writes, snapshot_ids, strict=True)
            if w.is_new_trial
        ]
        if new_trials:
            conn.execute(insert(trials), new_trials)  # a duplicate key: another process won
        # The papers each record links: one that names the trial is news once, whoever saw it
        # first (PubMed may have listed it already).
        links = {
            (w.nct_id, p.pmid)
            for w in writes
            if w.observation.snapshot.found
            for p in w.observation.snapshot.publications
            if p.pmid
        }
        new_links = link_papers(conn, NAME, links, now)
        for write, snapshot_id in zip(writes, snapshot_ids, strict=True):
            if not write.is_new_trial:
                self._move_latest(conn, write.nct_id, write.previous_id, snapshot_id)
            if write.aliases:
                self._list_under(conn, write.aliases, write.nct_id)
        written = [
            (change, snapshot_id)
            for write, snapshot_id in zip(writes, snapshot_ids, strict=True)
            for change in write.changes
            if change.kind is not ChangeKind.PUBLICATION
            or not change.pmid
            or (write.nct_id, change.pmid) in new_links
        ]
        write_changes(conn, cycle_id, NAME, written, now)
        return [change for change, _ in written]

    def _list_under(self, conn: Connection, aliases: Sequence[str], canonical: str) -> None:
        """From now on these ids stand for `canonical`: once, whoever records it first."""
        moved = conn.execute(
            update(trials)
            .where(trials.c.nct_id.in_(aliases), trials.c.listed_under.is_(None))
            .values(listed_under=canonical)
        )
        if moved.rowcount != len(aliases):
            raise _Conflict(canonical)

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

    def _add_hits(self, conn: Connection, term: str, ids: list[str], now: datetime) -> None:
        query = select(search_hits.c.nct_id).where(
            search_hits.c.term == term, search_hits.c.nct_id.in_(ids)
        )
        known = set(conn.execute(query).scalars())
        hits = [{"term": term, "nct_id": i, "first_seen_at": now} for i in ids if i not in known]
        if hits:
            conn.execute(insert(search_hits), hits)

    def latest(self, nct_ids: Iterable[str]) -> dict[str, Snapshot]:
        """Each trial's latest snapshot, under the id asked for (a merged id's: its record's)."""
        with self.engine.connect() as conn:
            records = canonical(conn, set(nct_ids))
            have = known(conn, sorted(set(records.values())))
        found = {i: have[c].snapshot for i, c in records.items() if c in have}
        return {i: snapshot for i, snapshot in found.items() if snapshot is not None}

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


def known(conn: Connection, ids: list[str]) -> dict[str, Known]:
    """The trials the store has of these ids, each with its latest snapshot."""
    query = (
        select(
            trials.c.nct_id,
            trials.c.latest_snapshot_id,
            trials.c.origin,
            trials.c.listed_under,
            snapshots,
        )
        .select_from(trials.outerjoin(snapshots, snapshots.c.id == trials.c.latest_snapshot_id))
        .where(trials.c.nct_id.in_(ids))
    )
    result: dict[str, Known] = {}
    for row in conn.execute(query).mappings():
        snapshot_id = row["latest_snapshot_id"]
        snapshot = snapshot_from_row(row) if snapshot_id is not None else None
        result[row["nct_id"]] = Known(snapshot_id, snapshot, row["origin"], row["listed_under"])
    return result


def canonical(conn: Connection, ids: Iterable[str]) -> dict[str, str]:
    """Each id, or the record it became an alias of."""
    # Aliases are few and watch lists may be long: read the aliases, not the watch list.
    listed = conn.execute(
        select(trials.c.nct_id, trials.c.listed_under).where(trials.c.listed_under.is_not(None))
    )
    aliases = {row.nct_id: row.listed_under for row in listed}
    return {nct_id: aliases.get(nct_id, nct_id) for nct_id in ids}


def _hollow(known: dict[str, Known], new: Snapshot) -> bool:
    trial = known.get(new.nct_id)
    return trial is not None and trial.snapshot is not None and hollow(trial.snapshot, new)
