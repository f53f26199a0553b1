"""verified e-mail addresses, hashed CSRF tokens

Revision ID: 0003
Revises: 0002

Existing accounts start unverified: nobody ever proved their addresses, so they must not keep
satisfying e-mail domain rules. Existing sessions keep working: their CSRF tokens are replaced
by their SHA-256 digests, which is what the server now compares against.
"""

from __future__ import annotations

import hashlib

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("email_verified_at", sa.DateTime(timezone=True), nullable=True)
        )

    op.create_table(
        "email_tokens",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("new_password_hash", sa.String(length=128), nullable=True),
        sa.Column("new_name", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token_hash"),
    )
    with op.batch_alter_table("email_tokens", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_email_tokens_user_id"), ["user_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_email_tokens_expires_at"), ["expires_at"], unique=False
        )

    with op.batch_alter_table("auth_sessions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("csrf_hash", sa.String(length=64), nullable=True))
    sessions = sa.table(
        "auth_sessions",
        sa.column("id", sa.Integer()),
        sa.column("csrf_token", sa.String()),
        sa.column("csrf_hash", sa.String()),
    )
    connection = op.get_bind()
    for row_id, token in connection.execute(sa.select(sessions.c.id, sessions.c.csrf_token)):
        digest = hashlib.sha256(token.encode()).hexdigest()
        connection.execute(
            sessions.update().where(sessions.c.id == row_id).values(csrf_hash=digest)
        )
    with op.batch_alter_table("auth_sessions", schema=None) as batch_op:
        batch_op.alter_column("csrf_hash", existing_type=sa.String(length=64), nullable=False)
        batch_op.drop_column("csrf_token")


def downgrade() -> None:
    # The clear tokens cannot be recovered from their digests: every session ends.
    op.execute("DELETE FROM auth_sessions")
    with op.batch_alter_table("auth_sessions", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("csrf_token", sa.String(length=64), nullable=False, server_default="")
        )
        batch_op.drop_column("csrf_hash")
    with op.batch_alter_table("email_tokens", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_email_tokens_expires_at"))
        batch_op.drop_index(batch_op.f("ix_email_tokens_user_id"))
    op.drop_table("email_tokens")
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_column("email_verified_at")
