"""PubMed's side. A change can be about a paper: `changes.pmid` names it; a change about a paper
no trial is known for (a cited paper retracted, a paper a literature search found) has no trial
and no snapshot, so `nct_id` and `snapshot_id` may be empty. `papers` keeps what PubMed last
said of each paper read; `literature_terms` and `literature_hits` each PubMed search (a cited
trial's `NCT…[si]`, a saved literature search) and the papers it has found.

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-29
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from monitor.store.schema import UTCDateTime

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: Sequence[str] | None = None
depends_on: Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("changes") as batch:
        batch.add_column(sa.Column("pmid", sa.String(16)))
        batch.alter_column("nct_id", existing_type=sa.String(16), nullable=True)
        batch.alter_column("snapshot_id", existing_type=sa.Integer, nullable=True)
        batch.create_index("ix_changes_pmid", ["pmid"])
    op.create_table(
        "papers",
        sa.Column("pmid", sa.String(16), primary_key=True),
        sa.Column("title", sa.Text),
        sa.Column("journal", sa.Text),
        sa.Column("year", sa.String(4)),
        sa.Column("publication_types", sa.Text, nullable=False),
        sa.Column("nct_ids", sa.Text, nullable=False),
        sa.Column("conclusion", sa.Text),
        sa.Column("notices", sa.Text, nullable=False),
        sa.Column("status", sa.String(40)),
        sa.Column("first_seen_at", UTCDateTime, nullable=False),
        sa.Column("fetched_at", UTCDateTime, nullable=False),
    )
    op.create_table(
        "literature_terms",
        sa.Column("term", sa.String(1000), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("baseline_at", UTCDateTime, nullable=False),
        sa.Column("last_run_at", UTCDateTime, nullable=False),
        sa.Column("translation", sa.Text),
    )
    op.create_table(
        "literature_hits",
        sa.Column("term", sa.String(1000), primary_key=True),
        sa.Column("pmid", sa.String(16), primary_key=True),
        sa.Column("first_seen_at", UTCDateTime, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("literature_hits")
    op.drop_table("literature_terms")
    op.drop_table("papers")
    op.execute(
        "DELETE FROM dispatches WHERE change_id IN (SELECT id FROM changes WHERE nct_id IS NULL)"
    )
    op.execute("DELETE FROM changes WHERE nct_id IS NULL")
    with op.batch_alter_table("changes") as batch:
        batch.drop_index("ix_changes_pmid")
        batch.alter_column("snapshot_id", existing_type=sa.Integer, nullable=False)
        batch.alter_column("nct_id", existing_type=sa.String(16), nullable=False)
        batch.drop_column("pmid")
