"""The first schema: cycles, trials, snapshots, searches, search hits, deliveries, changes.

Revision ID: 0001
Revises:
Create Date: 2026-11-25
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from monitor.store.schema import UTCDateTime

revision: str = "0001"
down_revision: str | None = None
branch_labels: Sequence[str] | None = None
depends_on: Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "cycles",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("started_at", UTCDateTime, nullable=False),
        sa.Column("finished_at", UTCDateTime),
        sa.Column("outcome", sa.String(32)),
        sa.Column("data_timestamp", sa.String(32)),
        sa.Column("requests", sa.Integer, nullable=False),
        sa.Column("bytes_received", sa.Integer, nullable=False),
        sa.Column("trials_checked", sa.Integer, nullable=False),
        sa.Column("changes_found", sa.Integer, nullable=False),
        sa.Column("delivery_id", sa.Integer),
        sa.Column("error", sa.Text),
    )
    op.create_table(
        "trials",
        sa.Column("nct_id", sa.String(16), primary_key=True),
        sa.Column("origin", sa.String(200), nullable=False),
        sa.Column("first_seen_at", UTCDateTime, nullable=False),
        sa.Column("latest_snapshot_id", sa.Integer),
    )
    op.create_table(
        "snapshots",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("nct_id", sa.String(16), nullable=False),
        sa.Column("cycle_id", sa.Integer, sa.ForeignKey("cycles.id"), nullable=False),
        sa.Column("observed_at", UTCDateTime, nullable=False),
        sa.Column("found", sa.Boolean, nullable=False),
        sa.Column("title", sa.Text),
        sa.Column("status", sa.String(40)),
        sa.Column("why_stopped", sa.Text),
        sa.Column("enrollment_count", sa.Integer),
        sa.Column("enrollment_type", sa.String(20)),
        sa.Column("has_results", sa.Boolean, nullable=False),
        sa.Column("results_first_posted", sa.String(10)),
        sa.Column("primary_completion_date", sa.String(10)),
        sa.Column("primary_completion_type", sa.String(20)),
        sa.Column("last_update_posted", sa.String(10)),
        sa.Column("publications", sa.Text, nullable=False),
        sa.Column("raw", sa.Text),
    )
    op.create_index("ix_snapshots_nct_id", "snapshots", ["nct_id", "id"])
    op.create_table(
        "searches",
        sa.Column("term", sa.String(1000), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("baseline_at", UTCDateTime, nullable=False),
    )
    op.create_table(
        "search_hits",
        sa.Column("term", sa.String(1000), primary_key=True),
        sa.Column("nct_id", sa.String(16), primary_key=True),
        sa.Column("first_seen_at", UTCDateTime, nullable=False),
    )
    op.create_table(
        "deliveries",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("started_at", UTCDateTime, nullable=False),
        sa.Column("finished_at", UTCDateTime),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("transport", sa.String(16), nullable=False),
        sa.Column("message_id", sa.String(200)),
        sa.Column("subject", sa.Text),
        sa.Column("location", sa.Text),
        sa.Column("error", sa.Text),
    )
    op.create_table(
        "changes",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("cycle_id", sa.Integer, sa.ForeignKey("cycles.id"), nullable=False),
        sa.Column("snapshot_id", sa.Integer, sa.ForeignKey("snapshots.id"), nullable=False),
        sa.Column("nct_id", sa.String(16), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("before", sa.Text),
        sa.Column("after", sa.Text),
        sa.Column("detail", sa.Text),
        sa.Column("detected_at", UTCDateTime, nullable=False),
        sa.Column("delivery_id", sa.Integer, sa.ForeignKey("deliveries.id")),
    )
    op.create_index("ix_changes_delivery_id", "changes", ["delivery_id"])
    op.create_index("ix_changes_nct_id", "changes", ["nct_id"])


def downgrade() -> None:
    for table in ("changes", "deliveries", "search_hits", "searches", "snapshots", "trials"):
        op.drop_table(table)
    op.drop_table("cycles")
