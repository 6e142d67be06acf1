"""The sanity gate's holds: cycles whose digest waits for an operator.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-26
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from monitor.store.schema import UTCDateTime

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: Sequence[str] | None = None
depends_on: Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "holds",
        sa.Column("cycle_id", sa.Integer, sa.ForeignKey("cycles.id"), primary_key=True),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("held_at", UTCDateTime, nullable=False),
        sa.Column("released_at", UTCDateTime),
        sa.Column("discarded", sa.Boolean, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("holds")
