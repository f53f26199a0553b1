"""bans, lock and end of a meeting, kept across restarts

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("meetings", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("locked", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
        batch_op.add_column(
            sa.Column("ended", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
        batch_op.add_column(
            sa.Column("state_version", sa.Integer(), server_default="0", nullable=False)
        )

    op.create_table(
        "meeting_bans",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("meeting_id", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("value", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["meeting_id"], ["meetings.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("meeting_id", "kind", "value"),
    )
    with op.batch_alter_table("meeting_bans", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_meeting_bans_meeting_id"), ["meeting_id"], unique=False
        )

    op.create_table(
        "meeting_devices",
        sa.Column("meeting_id", sa.String(length=32), nullable=False),
        sa.Column("device", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["meeting_id"], ["meetings.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("meeting_id", "device"),
    )


def downgrade() -> None:
    op.drop_table("meeting_devices")
    with op.batch_alter_table("meeting_bans", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_meeting_bans_meeting_id"))
    op.drop_table("meeting_bans")
    with op.batch_alter_table("meetings", schema=None) as batch_op:
        batch_op.drop_column("state_version")
        batch_op.drop_column("ended")
        batch_op.drop_column("locked")
