"""Identities the next sources need, and deliveries keyed by channel.

- A record's id is not always an NCT id (an EU CT number has 17 characters) and a DOI is long:
  every column holding a record's or a paper's id is widened from 16 to 64 characters.
- A paper is one row whichever identifiers name it: `papers` gets an integer `id` (its key),
  its `pmid` becomes one unique identifier among others, and a `doi` beside it; a change about
  a paper points at its row (`changes.paper_id`).
- A change says which source found it (`changes.source`), for the digest's words.
- Who gets a change is a channel and a target on it (`dispatches.channel`, `.target`), no
  longer an e-mail address; each delivery says its channel. Every row so far is e-mail's.

Data kept: papers keep their rows (numbered in PMID order), dispatches their recipients as
e-mail targets, changes are given the source that found them by their kind.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from monitor.store.schema import UTCDateTime

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: Sequence[str] | None = None
depends_on: Sequence[str] | None = None

NARROW, WIDE = sa.String(16), sa.String(64)
# The columns that hold a record's or a paper's id, by table.
IDS = {
    "trials": ("nct_id", "listed_under"),
    "snapshots": ("nct_id",),
    "search_hits": ("nct_id",),
    "claim_states": ("trial",),
    "literature_hits": ("pmid",),
    "changes": ("nct_id", "pmid"),
}
# What a paper's row says besides its identifiers, in either shape.
KEPT = (
    "pmid, title, journal, year, publication_types, nct_ids, conclusion, notices, status,"
    " first_seen_at, fetched_at"
)
# The kinds of change only PubMed's side finds (revision 0011); every other one is the registry's.
PUBMED_KINDS = ("results_paper", "trial_paper", "paper_notice", "new_paper")


def upgrade() -> None:
    for table, columns in IDS.items():
        with op.batch_alter_table(table) as batch:
            for column in columns:
                batch.alter_column(column, existing_type=NARROW, type_=WIDE)
    _papers_by_id()
    with op.batch_alter_table("changes") as batch:
        batch.add_column(sa.Column("paper_id", sa.Integer))
        batch.add_column(sa.Column("source", sa.String(32), nullable=False, server_default=""))
        batch.create_foreign_key("fk_changes_paper_id", "papers", ["paper_id"], ["id"])
    kinds = ", ".join(f"'{k}'" for k in PUBMED_KINDS)
    op.execute(
        f"UPDATE changes SET source = CASE WHEN kind IN ({kinds}) THEN 'pubmed' ELSE 'ctgov' END"  # noqa: S608 (constants)
    )
    op.execute(
        "UPDATE changes SET paper_id = (SELECT papers.id FROM papers WHERE papers.pmid ="
        " changes.pmid) WHERE pmid IS NOT NULL"
    )
    with op.batch_alter_table("deliveries") as batch:
        batch.add_column(
            sa.Column("channel", sa.String(32), nullable=False, server_default="email")
        )
    _dispatches_by_channel()


def _papers_by_id() -> None:
    op.create_table(
        "papers_next",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("pmid", WIDE, unique=True),
        sa.Column("doi", sa.String(256), unique=True),
        *_paper_fields(),
    )
    op.execute(f"INSERT INTO papers_next ({KEPT}) SELECT {KEPT} FROM papers ORDER BY pmid")  # noqa: S608
    op.drop_table("papers")
    op.rename_table("papers_next", "papers")


def _paper_fields() -> list[sa.Column[object]]:
    """What a paper's row says besides its identifiers (revision 0011's columns)."""
    return [
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
    ]


def _dispatches_by_channel() -> None:
    op.create_table(
        "dispatches_next",
        sa.Column("change_id", sa.Integer, sa.ForeignKey("changes.id"), primary_key=True),
        sa.Column("channel", sa.String(32), primary_key=True),
        sa.Column("target", sa.String(320), primary_key=True),
        sa.Column("delivery_id", sa.Integer, sa.ForeignKey("deliveries.id")),
        sa.Column("refused", sa.Text),
    )
    op.execute(
        "INSERT INTO dispatches_next (change_id, channel, target, delivery_id, refused)"
        " SELECT change_id, 'email', recipient, delivery_id, refused FROM dispatches"
    )
    op.drop_index("ix_dispatches_delivery_id", table_name="dispatches")
    op.drop_table("dispatches")
    op.rename_table("dispatches_next", "dispatches")
    op.create_index("ix_dispatches_delivery_id", "dispatches", ["delivery_id"])


def downgrade() -> None:
    # Only e-mail's rows have a place in the old shape.
    op.create_table(
        "dispatches_previous",
        sa.Column("change_id", sa.Integer, sa.ForeignKey("changes.id"), primary_key=True),
        sa.Column("recipient", sa.String(320), primary_key=True),
        sa.Column("delivery_id", sa.Integer, sa.ForeignKey("deliveries.id")),
        sa.Column("refused", sa.Text),
    )
    op.execute(
        "INSERT INTO dispatches_previous (change_id, recipient, delivery_id, refused)"
        " SELECT change_id, target, delivery_id, refused FROM dispatches WHERE channel = 'email'"
    )
    op.drop_index("ix_dispatches_delivery_id", table_name="dispatches")
    op.drop_table("dispatches")
    op.rename_table("dispatches_previous", "dispatches")
    op.create_index("ix_dispatches_delivery_id", "dispatches", ["delivery_id"])
    with op.batch_alter_table("deliveries") as batch:
        batch.drop_column("channel")
    with op.batch_alter_table("changes") as batch:
        batch.drop_constraint("fk_changes_paper_id", type_="foreignkey")
        batch.drop_column("source")
        batch.drop_column("paper_id")
    op.create_table(
        "papers_previous",
        sa.Column("pmid", NARROW, primary_key=True),
        *_paper_fields(),
    )
    op.execute(
        f"INSERT INTO papers_previous ({KEPT}) SELECT {KEPT} FROM papers WHERE pmid IS NOT NULL"  # noqa: S608
    )
    op.drop_table("papers")
    op.rename_table("papers_previous", "papers")
    for table, columns in IDS.items():
        with op.batch_alter_table(table) as batch:
            for column in columns:
                batch.alter_column(column, existing_type=WIDE, type_=NARROW)
