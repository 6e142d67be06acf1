"""Article claims: the phases and completion date they need, and each claim's last verdict.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from monitor.store.schema import UTCDateTime

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: Sequence[str] | None = None
depends_on: Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("snapshots") as batch:
        batch.add_column(sa.Column("phases", sa.String(60)))
        batch.add_column(sa.Column("completion_date", sa.String(10)))
    op.create_table(
        "claim_states",
        sa.Column("trial", sa.String(16), primary_key=True),
        sa.Column("field", sa.String(32), primary_key=True),
        sa.Column("expected", sa.String(100), nullable=False),
        sa.Column("agrees", sa.Boolean, nullable=False),
        sa.Column("registry_value", sa.String(100)),
        sa.Column("judged_at", UTCDateTime, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("claim_states")
    with op.batch_alter_table("snapshots") as batch:
        batch.drop_column("completion_date")
        batch.drop_column("phases")
