"""What the registry-wide listing of updated studies showed over the last days, and the days it
is complete for: a cycle then lists only the days it has not read and checks the margin days
with one count (sources/ctgov/listing.py). Starts empty: the first cycle after the upgrade
lists the margin days as before.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-08
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: Sequence[str] | None = None
depends_on: Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "registry_listed",
        sa.Column("nct_id", sa.String(64), primary_key=True),
        sa.Column("updated", sa.String(10), nullable=False),
    )
    op.create_index("ix_registry_listed_updated", "registry_listed", ["updated"])
    op.create_table(
        "registry_listing_span",
        sa.Column("singleton", sa.Integer, primary_key=True),
        sa.Column("first_day", sa.String(10), nullable=False),
        sa.Column("last_day", sa.String(10), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("registry_listing_span")
    op.drop_index("ix_registry_listed_updated", "registry_listed")
    op.drop_table("registry_listed")
