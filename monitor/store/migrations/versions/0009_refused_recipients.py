"""A recipient the mail server refused for good: their copy of a change is not sent again, and
the operators are told by name.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-29
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: Sequence[str] | None = None
depends_on: Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("dispatches") as batch:
        batch.add_column(sa.Column("refused", sa.Text))


def downgrade() -> None:
    with op.batch_alter_table("dispatches") as batch:
        batch.drop_column("refused")
