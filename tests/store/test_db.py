"""The schema: migrations build exactly what the code's table definitions describe."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect

from monitor.house import schema
from monitor.store.db import HEAD, REVISIONS, _alembic_config, make_engine, migrate


def test_migrations_create_the_schema_the_code_expects(database_url: str) -> None:
    """On both databases: the core's tables and every registered source's (house.schema)."""
    engine = make_engine(database_url)
    migrate(engine)
    migrate(engine)  # a second run is a no-op
    with engine.connect() as conn:
        drift = compare_metadata(MigrationContext.configure(conn), schema())
    assert drift == []
    assert set(inspect(engine).get_table_names()) >= {
        "trials",
        "snapshots",
        "changes",
        "deliveries",
    }
    engine.dispose()


def test_the_revisions_the_code_knows_are_alembics_own_in_order() -> None:
    """db.REVISIONS lets a current database skip importing Alembic; it must be the truth."""
    script = ScriptDirectory.from_config(_alembic_config())
    assert tuple(s.revision for s in reversed(list(script.walk_revisions()))) == REVISIONS
    assert script.get_current_head() == HEAD


def test_a_current_schema_is_checked_without_importing_alembic(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'monitor.db'}"
    migrate(make_engine(url))
    probe = (
        "import sys\n"
        "from monitor.store.db import ensure_schema, make_engine\n"
        f"ensure_schema(make_engine({url!r}), auto_migrate=True)\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'alembic'))\n"
    )
    found = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    )
    assert found.stdout.strip() == "[]"
