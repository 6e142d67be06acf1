"""The schema: migrations build exactly what the code's table definitions describe."""

from __future__ import annotations

from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from monitor.db import make_engine, metadata, migrate


def test_migrations_create_the_schema_the_code_expects(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'sub' / 'monitor.db'}")
    migrate(engine)
    migrate(engine)  # a second run is a no-op
    with engine.connect() as conn:
        drift = compare_metadata(MigrationContext.configure(conn), metadata)
    assert drift == []
    assert set(inspect(engine).get_table_names()) >= {
        "trials",
        "snapshots",
        "changes",
        "deliveries",
    }
