"""The registry's saved searches (`[[watch.searches]]`) as the store remembers them: when each
set its baseline (from then on what it finds first is news), when it last ran without its date
filter, and why the registry refuses it, if it does (for `status`, and the operators' notice).
What each search found is recorded with the snapshots, in records.py."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Engine, insert, select, update

from monitor.sources.ctgov.tables import searches


class Searches:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def baselines(self) -> dict[str, datetime | None]:
        """Each search that has set its baseline, with when it last ran without a date."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(searches.c.term, searches.c.last_full_at).where(
                    searches.c.baseline_at.is_not(None)
                )
            )
            return {row.term: row.last_full_at for row in rows}

    def complete(self, term: str, name: str, now: datetime, *, full: bool) -> None:
        """A search ran to its last page: from now on, what it finds first is news."""
        done = {"name": name, "refused": None} | ({"last_full_at": now} if full else {})
        with self.engine.begin() as conn:
            row = conn.execute(select(searches.c.baseline_at).where(searches.c.term == term))
            found = row.first()
            if found is None:
                conn.execute(insert(searches).values(term=term, baseline_at=now, **done))
            else:
                baseline = {"baseline_at": now} if found.baseline_at is None else {}
                conn.execute(
                    update(searches).where(searches.c.term == term).values(done | baseline)
                )

    def refuse(self, term: str, name: str, error: str) -> bool:
        """The registry refused the search; kept for `status`. True when that is news (it
        answered last time, or refused it for another reason)."""
        with self.engine.begin() as conn:
            found = conn.execute(select(searches.c.refused).where(searches.c.term == term)).first()
            if found is None:  # refused from the start: a row without a baseline
                conn.execute(insert(searches).values(term=term, name=name, refused=error))
            else:
                conn.execute(update(searches).where(searches.c.term == term).values(refused=error))
        return found is None or found.refused != error

    def refused(self) -> dict[str, str]:
        """The searches the registry refused in their latest run, with its answer."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(searches.c.name, searches.c.refused).where(searches.c.refused.is_not(None))
            )
            return {row.name: row.refused for row in rows}
