"""Routing: a change may go to several desks, so delivery state moves from the change to one
dispatch row per recipient; deliveries record their cycle and recipients.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-25
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: Sequence[str] | None = None
depends_on: Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "dispatches",
        sa.Column("change_id", sa.Integer, sa.ForeignKey("changes.id"), primary_key=True),
        sa.Column("recipient", sa.String(320), primary_key=True),
        sa.Column("delivery_id", sa.Integer, sa.ForeignKey("deliveries.id")),
    )
    op.create_index("ix_dispatches_delivery_id", "dispatches", ["delivery_id"])
    with op.batch_alter_table("deliveries") as batch:
        batch.add_column(sa.Column("cycle_id", sa.Integer))
        batch.add_column(sa.Column("recipients", sa.Text))
    # Sent changes keep their delivery, as a row for a recipient "(before routing)" that is
    # never mailed; unsent ones (or ones a stopped process left claimed) get no row, so the next
    # delivery addresses them afresh.
    op.execute(
        "INSERT INTO dispatches (change_id, recipient, delivery_id)"
        " SELECT changes.id, '(before routing)', changes.delivery_id FROM changes"
        " JOIN deliveries ON deliveries.id = changes.delivery_id WHERE deliveries.state = 'sent'"
    )
    op.execute(
        "UPDATE deliveries SET cycle_id ="
        " (SELECT MIN(cycles.id) FROM cycles WHERE cycles.delivery_id = deliveries.id)"
    )
    op.execute("UPDATE deliveries SET state = 'abandoned' WHERE state = 'sending'")
    op.drop_index("ix_changes_delivery_id", table_name="changes")
    with op.batch_alter_table("changes") as batch:
        batch.drop_column("delivery_id")
    with op.batch_alter_table("cycles") as batch:
        batch.drop_column("delivery_id")


def downgrade() -> None:
    with op.batch_alter_table("cycles") as batch:
        batch.add_column(sa.Column("delivery_id", sa.Integer))
    with op.batch_alter_table("changes") as batch:
        batch.add_column(sa.Column("delivery_id", sa.Integer, sa.ForeignKey("deliveries.id")))
    op.create_index("ix_changes_delivery_id", "changes", ["delivery_id"])
    op.execute(
        "UPDATE changes SET delivery_id ="
        " (SELECT MAX(delivery_id) FROM dispatches WHERE dispatches.change_id = changes.id)"
    )
    with op.batch_alter_table("deliveries") as batch:
        batch.drop_column("recipients")
        batch.drop_column("cycle_id")
    op.drop_index("ix_dispatches_delivery_id", table_name="dispatches")
    op.drop_table("dispatches")
