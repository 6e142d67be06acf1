"""Articles are first-class: each article's claims are kept apart (claim_states.article), each
article's first look is recorded (articles), the monitor has an installation id for its
Message-IDs, and snapshots keep what a new trial is shown with (conditions, interventions,
sponsor, start date).

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-29
"""

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

from monitor.store.schema import UTCDateTime

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: Sequence[str] | None = None
depends_on: Sequence[str] | None = None


def upgrade() -> None:
    # The primary key gains a column: a new table, the rows copied over (as "" : the unnamed
    # article the old keys describe).
    op.rename_table("claim_states", "claim_states_0009")
    op.create_table(
        "claim_states",
        sa.Column("article", sa.String(1000), primary_key=True),
        sa.Column("trial", sa.String(16), primary_key=True),
        sa.Column("field", sa.String(32), primary_key=True),
        sa.Column("expected", sa.String(100), nullable=False),
        sa.Column("agrees", sa.Boolean, nullable=False),
        sa.Column("registry_value", sa.String(100)),
        sa.Column("judged_at", UTCDateTime, nullable=False),
    )
    op.execute(
        "INSERT INTO claim_states (article, trial, field, expected, agrees, registry_value,"
        " judged_at) SELECT '', trial, field, expected, agrees, registry_value, judged_at"
        " FROM claim_states_0009"
    )
    op.drop_table("claim_states_0009")
    op.create_table(
        "articles",
        sa.Column("key", sa.String(1000), primary_key=True),
        sa.Column("title", sa.Text, nullable=False),
        sa.Column("checked_at", UTCDateTime),
    )
    # One row (`singleton` is always 1), made here: migrations run one at a time, so two monitors
    # starting together on one database cannot make two ids.
    installation = op.create_table(
        "installation",
        sa.Column("singleton", sa.Integer, sa.CheckConstraint("singleton = 1"), primary_key=True),
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
    )
    op.bulk_insert(
        installation, [{"singleton": 1, "id": uuid.uuid4().hex, "created_at": datetime.now(UTC)}]
    )
    with op.batch_alter_table("snapshots") as batch:
        batch.add_column(sa.Column("conditions", sa.Text))
        batch.add_column(sa.Column("interventions", sa.Text))
        batch.add_column(sa.Column("sponsor", sa.Text))
        batch.add_column(sa.Column("start_date", sa.String(10)))


def downgrade() -> None:
    with op.batch_alter_table("snapshots") as batch:
        batch.drop_column("start_date")
        batch.drop_column("sponsor")
        batch.drop_column("interventions")
        batch.drop_column("conditions")
    op.drop_table("installation")
    op.drop_table("articles")
    op.rename_table("claim_states", "claim_states_0010")
    op.create_table(
        "claim_states",
        sa.Column("trial", sa.String(16), primary_key=True),
        sa.Column("field", sa.String(32), primary_key=True),
        sa.Column("expected", sa.String(100), nullable=False),
        sa.Column("agrees", sa.Boolean, nullable=False),
        sa.Column("registry_value", sa.String(100)),
        sa.Column("judged_at", UTCDateTime, nullable=False),
    )
    op.execute(
        "INSERT INTO claim_states (trial, field, expected, agrees, registry_value, judged_at)"
        " SELECT trial, field, expected, agrees, registry_value, judged_at"
        " FROM claim_states_0010 WHERE article = ''"
    )
    op.drop_table("claim_states_0010")
