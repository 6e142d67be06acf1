"""The monitor's own record of itself: each cycle (when, how it read the registry, what it cost,
how it ended), when the service started, and which notices went to whom. What the planner, the
alerts, `status` and the health check read; the registry's data lives in store.py."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import assert_never

from sqlalchemy import Engine, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from monitor.core.models import Outcome
from monitor.store.schema import (
    DeliveryState,
    articles,
    cycles,
    deliveries,
    installation,
    notices,
    services,
)


class NoticeKind(StrEnum):
    """A message besides the digest (see alerts.py). Stored in `notices.kind`."""

    FAILING = "failing"  # to the operators, after several failed cycles in a row
    RECOVERED = "recovered"  # to the operators, when a cycle succeeds again
    QUIET = "quiet"  # to the readers, after a week without a digest
    REFUSED = "refused"  # to the operators, when the registry starts refusing a saved search
    STALE = "stale"  # to the operators, when the registry starts answering with older data
    BOUNCED = "bounced"  # to the operators, naming recipients the mail server refused for good


# The mode of a cycle that read nothing because the source's data went backwards (a stale
# replica): not a good cycle to plan the next one from.
STALE = "stale"
# The outcomes of a cycle that did its job: read the registry, sent what was due.
DONE = [o.value for o in Outcome if o.done]


@dataclass(frozen=True)
class History:
    """What the store remembers of earlier good cycles."""

    last_ok_started: datetime | None = None
    last_ok_data_timestamp: str | None = None


@dataclass(frozen=True)
class CycleFigures:
    requests: int = 0
    bytes_received: int = 0
    trials_checked: int = 0
    changes_found: int = 0
    records_rejected: int = 0  # logged, not stored: records without an NCT id or a status
    mode: str | None = None  # how the required source read (full, incremental, ...)
    data_timestamp: str | None = None


class Journal:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    # -- cycles -----------------------------------------------------------------------------

    def last_cycle_id(self) -> int | None:
        """The newest cycle's id; None when no cycle has run yet."""
        with self.engine.connect() as conn:
            return conn.execute(select(func.max(cycles.c.id))).scalar()

    def start_cycle(self, now: datetime) -> int:
        with self.engine.begin() as conn:
            result = conn.execute(insert(cycles).values(started_at=now).returning(cycles.c.id))
            return int(result.scalar_one())

    def finish_cycle(
        self,
        cycle_id: int,
        now: datetime,
        outcome: Outcome,
        figures: CycleFigures,
        error: str | None,
        unread: Sequence[str] = (),
    ) -> None:
        """The cycle's end: how it went, its figures, and the sources it could not read."""
        with self.engine.begin() as conn:
            conn.execute(
                update(cycles)
                .where(cycles.c.id == cycle_id)
                .values(
                    finished_at=now,
                    outcome=outcome.value,
                    error=error,
                    unread=" ".join(unread) or None,
                    requests=figures.requests,
                    bytes_received=figures.bytes_received,
                    trials_checked=figures.trials_checked,
                    changes_found=figures.changes_found,
                    mode=figures.mode,
                    data_timestamp=figures.data_timestamp,
                )
            )

    def last_data_timestamp(self) -> str | None:
        """The registry's data timestamp as the newest cycle saw it ("registry data as of")."""
        with self.engine.connect() as conn:
            return conn.execute(select(func.max(cycles.c.data_timestamp))).scalar()

    def history(self) -> History:
        """What the planner needs of earlier good cycles (a stale one read nothing; one that
        read the registry but not another source read the registry)."""
        ok = cycles.c.outcome.in_(DONE) & (cycles.c.mode.is_(None) | (cycles.c.mode != STALE))
        with self.engine.connect() as conn:
            last = conn.execute(
                select(cycles.c.started_at, cycles.c.data_timestamp)
                .where(ok)
                .order_by(cycles.c.id.desc())
                .limit(1)
            ).first()
        if last is None:
            return History()
        return History(last.started_at, last.data_timestamp)

    def consecutive_failures(self) -> int:
        """Finished cycles that failed, counted back from the newest to the last success: a
        source that could not be read counts, as the registry or the mail server does."""
        query = (
            select(cycles.c.outcome)
            .where(cycles.c.finished_at.is_not(None))
            .order_by(cycles.c.id.desc())
            .limit(1000)
        )
        count = 0
        with self.engine.connect() as conn:
            for stored in conn.execute(query).scalars():
                match Outcome(stored):
                    case Outcome.OK:
                        break
                    case Outcome.INTERRUPTED:
                        # A cycle stopped by a shutdown says nothing about the registry or mail.
                        continue
                    case Outcome.REGISTRY_FAILED | Outcome.DELIVERY_FAILED | Outcome.SOURCE_UNREAD:
                        count += 1
                    case unknown:
                        assert_never(unknown)
        return count

    def unread_streak(self) -> tuple[tuple[str, ...], int]:
        """The sources the newest finished cycle could not read, and in how many cycles in a
        row (back to the last that read them; an interrupted cycle says nothing either way)."""
        query = (
            select(cycles.c.outcome, cycles.c.unread)
            .where(cycles.c.finished_at.is_not(None))
            .order_by(cycles.c.id.desc())
            .limit(1000)
        )
        names: set[str] | None = None
        count = 0
        with self.engine.connect() as conn:
            for outcome, unread in conn.execute(query):
                if outcome == Outcome.INTERRUPTED.value:
                    continue
                these = set((unread or "").split())
                still = these if names is None else names & these
                if not still:
                    break
                names, count = still, count + 1
        return tuple(sorted(names or ())), count

    def previous_stale(self, cycle_id: int) -> bool:
        """Whether the finished cycle before this one read nothing, the data gone stale."""
        with self.engine.connect() as conn:
            mode = conn.execute(
                select(cycles.c.mode)
                .where(cycles.c.id < cycle_id, cycles.c.finished_at.is_not(None))
                .order_by(cycles.c.id.desc())
                .limit(1)
            ).scalar()
        return mode == STALE

    def last_ok_started(self) -> datetime | None:
        """When the newest cycle that did its job started (another source unread or not)."""
        with self.engine.connect() as conn:
            return conn.execute(
                select(func.max(cycles.c.started_at)).where(cycles.c.outcome.in_(DONE))
            ).scalar()

    # -- the installation and the articles' first looks ------------------------------------

    def installation_id(self, now: datetime) -> str:
        """This installation's own id, made once: it makes its Message-IDs its own, so that two
        monitors mailing one editor never send two digests under one Message-ID."""
        with self.engine.connect() as conn:
            found = conn.execute(select(installation.c.id)).scalar()
        if found is not None:
            return str(found)
        # Migration 0010 made it; a database whose row was deleted by hand gets a new one. Two
        # processes doing so at once meet on the one row allowed, and both take the winner's.
        try:
            with self.engine.begin() as conn:
                conn.execute(
                    insert(installation).values(singleton=1, id=uuid.uuid4().hex, created_at=now)
                )
        except IntegrityError:
            pass
        with self.engine.connect() as conn:
            return str(conn.execute(select(installation.c.id)).scalar_one())

    def unchecked_articles(self, keys: Sequence[str]) -> set[str]:
        """Of these articles, those that have not had their first look (the article check)."""
        with self.engine.connect() as conn:
            done = set(
                conn.execute(
                    select(articles.c.key).where(articles.c.checked_at.is_not(None))
                ).scalars()
            )
        return {key for key in keys if key not in done}

    def article_checked(self, key: str, title: str, now: datetime) -> None:
        with self.engine.begin() as conn:
            updated = conn.execute(
                update(articles).where(articles.c.key == key).values(title=title, checked_at=now)
            )
            if updated.rowcount == 0:
                conn.execute(insert(articles).values(key=key, title=title, checked_at=now))

    # -- the service and its notices --------------------------------------------------------

    def record_service_start(self, now: datetime, host: str, pid: int) -> None:
        with self.engine.begin() as conn:
            conn.execute(insert(services).values(started_at=now, host=host, pid=pid))

    def first_service_start(self) -> datetime | None:
        with self.engine.connect() as conn:
            return conn.execute(select(func.min(services.c.started_at))).scalar()

    def last_operator_notice(self) -> NoticeKind | None:
        """The kind of the newest operator notice sent (failing or recovered)."""
        operators = [NoticeKind.FAILING.value, NoticeKind.RECOVERED.value]
        with self.engine.connect() as conn:
            query = (
                select(notices.c.kind)
                .where(notices.c.kind.in_(operators))
                .order_by(notices.c.id.desc())
                .limit(1)
            )
            kind = conn.execute(query).scalar()
        return NoticeKind(kind) if kind is not None else None

    def last_quiet_moment(self) -> datetime | None:
        """Since when the digest's readers have heard nothing: the latest of the last digest
        sent, the last quiet-week note, and the first good cycle."""
        with self.engine.connect() as conn:
            moments = [
                conn.execute(
                    select(func.max(deliveries.c.finished_at)).where(
                        deliveries.c.state == DeliveryState.SENT.value
                    )
                ).scalar(),
                conn.execute(
                    select(func.max(notices.c.sent_at)).where(
                        notices.c.kind == NoticeKind.QUIET.value
                    )
                ).scalar(),
                conn.execute(
                    select(func.min(cycles.c.started_at)).where(cycles.c.outcome.in_(DONE))
                ).scalar(),
            ]
        known = [m for m in moments[:2] if m is not None]
        return max(known) if known else moments[2]

    def record_notice(
        self, kind: NoticeKind, cycle_id: int, now: datetime, recipients: str
    ) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                insert(notices).values(
                    kind=kind.value, cycle_id=cycle_id, sent_at=now, recipients=recipients
                )
            )
