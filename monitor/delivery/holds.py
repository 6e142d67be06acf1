"""The sanity gate's holds: a cycle whose findings look like a fault keeps its changes from the
digest until an operator releases them (`trial-monitor release`), or discards them as false.
Held changes are not addressed, so no channel sends them meanwhile."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, Engine, exists, func, insert, select, update

from monitor.store.schema import changes, holds


@dataclass(frozen=True)
class Hold:
    cycle_id: int
    reason: str
    held_at: datetime
    changes: int


def held() -> ColumnElement[bool]:
    """A change of a cycle whose hold is not released, or whose changes were discarded."""
    return exists().where(
        holds.c.cycle_id == changes.c.cycle_id,
        holds.c.released_at.is_(None) | holds.c.discarded,
    )


class Holds:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def hold(self, cycle_id: int, reason: str, now: datetime) -> None:
        """Keep this cycle's changes from the content digest until an operator releases them."""
        with self.engine.begin() as conn:
            conn.execute(
                insert(holds).values(cycle_id=cycle_id, reason=reason, held_at=now, discarded=False)
            )

    def holds(self) -> list[Hold]:
        """The holds waiting for an operator, with how many changes each keeps back."""
        count = (
            select(func.count())
            .select_from(changes)
            .where(changes.c.cycle_id == holds.c.cycle_id)
            .scalar_subquery()
        )
        query = (
            select(holds.c.cycle_id, holds.c.reason, holds.c.held_at, count.label("changes"))
            .where(holds.c.released_at.is_(None))
            .order_by(holds.c.cycle_id)
        )
        with self.engine.connect() as conn:
            return [Hold(*row) for row in conn.execute(query)]

    def release_holds(self, now: datetime, discard: bool) -> list[Hold]:
        """Let the held changes go out with the next delivery, or (discard) never."""
        waiting = self.holds()
        with self.engine.begin() as conn:
            conn.execute(
                update(holds)
                .where(holds.c.released_at.is_(None))
                .values(released_at=now, discarded=discard)
            )
        return waiting
