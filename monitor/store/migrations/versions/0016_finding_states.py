"""Findings an editor can mark handled or dismissed, and reopen: each finding's state (open until
someone changes it) and the history of every change, who made it, through what, when and with
what note. Existing findings are open. And when each article's still-open findings were last
said again in a digest.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-08
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from monitor.store.schema import UTCDateTime

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: Sequence[str] | None = None
depends_on: Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("findings") as batch:
        batch.add_column(sa.Column("state", sa.String(16), nullable=False, server_default="open"))
    op.create_table(
        "finding_states",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("finding_id", sa.String(16), sa.ForeignKey("findings.id"), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("previous", sa.String(16), nullable=False),
        sa.Column("by", sa.String(200), nullable=False),
        sa.Column("via", sa.String(16), nullable=False),
        sa.Column("note", sa.Text),
        sa.Column("at", UTCDateTime, nullable=False),
    )
    op.create_index("ix_finding_states_finding", "finding_states", ["finding_id", "id"])
    op.create_table(
        "reminders",
        sa.Column("article", sa.String(100), primary_key=True),
        sa.Column("reminded_at", UTCDateTime, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("reminders")
    op.drop_index("ix_finding_states_finding", "finding_states")
    op.drop_table("finding_states")
    with op.batch_alter_table("findings") as batch:
        batch.drop_column("state")
