"""What the registry-wide listing of updated studies showed over the last days, kept so that a
cycle lists only the days it has not read yet.

A cycle asks for the studies updated since the day it last read, less `polling.margin_days`:
the margin is there for a study the registry publishes late, with a date already read. Listing
those days again costs pages (at 4,000 updates a day, four of them a day). Instead, once the
days are known here (every study listed, watched or not, with its update date), the cycle lists
only the days after the one it read, keeps them, and counts the margin days at the registry in
one small request: the count equals what is kept for those days, or a study arrived late (or
vanished) and the margin days are listed again. A study updated again has moved to its new day
here, so it is not mistaken for one that vanished.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date

from sqlalchemy import Engine, delete, func, insert, select

from monitor.sources.ctgov.tables import listed, listing_span
from monitor.store.rows import id_slices


class Listed:
    """The listing's days as kept in the store (registry_listed, registry_listing_span)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def covers(self, first: date, last: date) -> bool:
        """Whether every study updated from `first` to `last` was listed and kept here."""
        with self.engine.connect() as conn:
            span = conn.execute(select(listing_span)).first()
        return span is not None and span.first_day <= first.isoformat() <= last.isoformat() <= (
            span.last_day
        )

    def count(self, first: date, last: date, *, moved: Iterable[str] = ()) -> int:
        """How many studies kept here were last updated from `first` to `last`, less those of
        them listed since with a later day (`moved`: the ids listed since)."""
        days = listed.c.updated.between(first.isoformat(), last.isoformat())
        with self.engine.connect() as conn:
            count = conn.execute(select(func.count()).where(days)).scalar_one()
            for part in id_slices(moved):
                count -= conn.execute(
                    select(func.count()).where(days, listed.c.nct_id.in_(part))
                ).scalar_one()
        return int(count)

    def keep(
        self,
        studies: Mapping[str, str],
        *,
        complete: tuple[date, date] | None,
        relisted: date,
    ) -> None:
        """Keep these studies' update dates, listed from the day `relisted` on: what is kept
        for those days and was not listed again is gone. `complete`: the days every study is
        now known for (None: no longer known whole); older ones go."""
        with self.engine.begin() as conn:
            conn.execute(delete(listed).where(listed.c.updated >= relisted.isoformat()))
            for part in id_slices(studies):
                conn.execute(delete(listed).where(listed.c.nct_id.in_(part)))
                conn.execute(insert(listed), [{"nct_id": i, "updated": studies[i]} for i in part])
            conn.execute(delete(listing_span))
            if complete is None:
                conn.execute(delete(listed))
                return
            first, last = complete
            conn.execute(delete(listed).where(listed.c.updated < first.isoformat()))
            conn.execute(
                insert(listing_span).values(
                    singleton=1, first_day=first.isoformat(), last_day=last.isoformat()
                )
            )
