"""What the real registry sends and the stand-in hid: aliases, the last known status, when each
trial was last read in full, and a saved search the registry refuses.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-29
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from monitor.store.schema import UTCDateTime

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: Sequence[str] | None = None
depends_on: Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("snapshots") as batch:
        batch.add_column(sa.Column("last_known_status", sa.String(40)))
        batch.add_column(sa.Column("aliases", sa.Text))
    with op.batch_alter_table("trials") as batch:
        batch.add_column(sa.Column("listed_under", sa.String(16)))
        batch.add_column(sa.Column("last_full_read_at", UTCDateTime))
    with op.batch_alter_table("searches") as batch:
        batch.add_column(sa.Column("last_full_at", UTCDateTime))
        batch.add_column(sa.Column("refused", sa.Text))
        batch.alter_column("baseline_at", existing_type=UTCDateTime, nullable=True)


def downgrade() -> None:
    op.execute("DELETE FROM searches WHERE baseline_at IS NULL")
    with op.batch_alter_table("searches") as batch:
        batch.alter_column("baseline_at", existing_type=UTCDateTime, nullable=False)
        batch.drop_column("refused")
        batch.drop_column("last_full_at")
    with op.batch_alter_table("trials") as batch:
        batch.drop_column("last_full_read_at")
        batch.drop_column("listed_under")
    with op.batch_alter_table("snapshots") as batch:
        batch.drop_column("aliases")
        batch.drop_column("last_known_status")
