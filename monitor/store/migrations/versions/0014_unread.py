"""Which sources a cycle could not read (their names, space-separated): a cycle that read the
registry and sent its news but not PubMed is done, not ok, and `health`, the failure notice and
the ping count such cycles in a row per source.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: Sequence[str] | None = None
depends_on: Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("cycles") as batch:
        batch.add_column(sa.Column("unread", sa.String(200)))


def downgrade() -> None:
    with op.batch_alter_table("cycles") as batch:
        batch.drop_column("unread")
