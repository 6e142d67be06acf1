"""What the tests read back from a monitor's database (the monitor itself never needs these)."""

from __future__ import annotations

from sqlalchemy import Engine, func, select

from monitor.core.models import Change
from monitor.sources.ctgov.tables import snapshots
from monitor.store.rows import change_from_row
from monitor.store.schema import changes


def snapshot_count(engine: Engine, nct_id: str) -> int:
    with engine.connect() as conn:
        query = select(func.count()).select_from(snapshots).where(snapshots.c.nct_id == nct_id)
        return int(conn.execute(query).scalar_one())


def all_changes(engine: Engine) -> list[Change]:
    with engine.connect() as conn:
        rows = conn.execute(select(changes).order_by(changes.c.id)).mappings()
        return [change_from_row(row) for row in rows]
