"""How each cycle read the registry (full, incremental, unchanged), for incremental polling.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: Sequence[str] | None = None
depends_on: Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("cycles") as batch:
        batch.add_column(sa.Column("mode", sa.String(16)))
    # Cycles before this revision all read the registry in full.
    op.execute("UPDATE cycles SET mode = 'full' WHERE outcome IS NOT NULL")


def downgrade() -> None:
    with op.batch_alter_table("cycles") as batch:
        batch.drop_column("mode")
