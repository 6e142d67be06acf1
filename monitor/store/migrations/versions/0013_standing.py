"""An article's standing: its findings, stored with stable ids; every paper known to name a
trial, whoever found it (so a paper is news once); and each trial's acronym, how an editor's
sentence names it.

`paper_links` starts from what is known: each trial's papers as its latest snapshot lists them
(the registry's references), and those PubMed's `NCT…[si]` searches have found.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07
"""

import json
from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

from monitor.store.schema import UTCDateTime

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: Sequence[str] | None = None
depends_on: Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "findings",
        sa.Column("id", sa.String(16), primary_key=True),
        sa.Column("article", sa.String(100), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("subject", sa.String(64), nullable=False),
        sa.Column("evidence", sa.Text, nullable=False),
        sa.Column("importance", sa.String(8), nullable=False),
        sa.Column("first_cycle_id", sa.Integer, sa.ForeignKey("cycles.id")),
        sa.Column("first_seen_at", UTCDateTime, nullable=False),
        sa.Column("last_seen_at", UTCDateTime, nullable=False),
        sa.Column("resolved_at", UTCDateTime),
    )
    op.create_index("ix_findings_article", "findings", ["article"])
    links = op.create_table(
        "paper_links",
        sa.Column("nct_id", sa.String(64), primary_key=True),
        sa.Column("pmid", sa.String(64), primary_key=True),
        sa.Column("source", sa.String(32), nullable=False),
        sa.Column("first_seen_at", UTCDateTime, nullable=False),
    )
    with op.batch_alter_table("snapshots") as batch:
        batch.add_column(sa.Column("acronym", sa.String(40)))
    _known_links(links)


def _known_links(links: sa.Table) -> None:
    conn = op.get_bind()
    now = datetime.now(UTC)
    known: dict[tuple[str, str], str] = {}
    latest = conn.execute(
        sa.text(
            "SELECT snapshots.nct_id, snapshots.publications FROM trials"
            " JOIN snapshots ON snapshots.id = trials.latest_snapshot_id"
        )
    )
    for nct_id, publications in latest:
        for stored in json.loads(publications or "[]"):
            if stored and stored[0]:
                known.setdefault((nct_id, str(stored[0])), "ctgov")
    hits = conn.execute(
        sa.text("SELECT term, pmid FROM literature_hits WHERE term LIKE 'NCT%[si]'")
    )
    for term, pmid in hits:
        known.setdefault((term.removesuffix("[si]"), pmid), "pubmed")
    rows = [
        {"nct_id": nct_id, "pmid": pmid, "source": source, "first_seen_at": now}
        for (nct_id, pmid), source in known.items()
    ]
    for start in range(0, len(rows), 1000):
        conn.execute(links.insert(), rows[start : start + 1000])


def downgrade() -> None:
    with op.batch_alter_table("snapshots") as batch:
        batch.drop_column("acronym")
    op.drop_table("paper_links")
    op.drop_index("ix_findings_article", table_name="findings")
    op.drop_table("findings")
