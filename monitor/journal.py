"""The monitor's own record of itself: when the service started, and which notices (operators'
failing/recovered, readers' quiet week) went to whom. What the alerts and the health check
read; the registry's data lives in store.py."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Engine, func, insert, select

from monitor.db import cycles, deliveries, notices, services


class Journal:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

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
            query = (
                select(notices.c.kind)
                .where(notices.c.kind.in_(["failing", "recovered"]))
                .order_by(notices.c.id.desc())
                .limit(1)
            )
            return conn.execute(query).scalar()

    def last_quiet_moment(self) -> datetime | None:
        """Since when the digest's readers have heard nothing: the latest of the last digest
        sent, the last quiet-week note, and the first good cycle."""
        with self.engine.connect() as conn:
            moments = [
                conn.execute(
                    select(func.max(deliveries.c.finished_at)).where(deliveries.c.state == "sent")
                ).scalar(),
                conn.execute(
                    select(func.max(notices.c.sent_at)).where(notices.c.kind == "quiet")
                ).scalar(),
                conn.execute(
                    select(func.min(cycles.c.started_at)).where(cycles.c.outcome == "ok")
                ).scalar(),
            ]
        known = [m for m in moments[:2] if m is not None]
        return max(known) if known else moments[2]

    def record_notice(self, kind: str, cycle_id: int, now: datetime, recipients: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                insert(notices).values(
                    kind=kind, cycle_id=cycle_id, sent_at=now, recipients=recipients
                )
            )
