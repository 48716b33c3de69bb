"""chats.chosen_language: the language a chat picked with /language

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27

NULL means "follow each user's Telegram language", which is what every existing chat did.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("chats", schema=None) as batch_op:
        batch_op.add_column(sa.Column("chosen_language", sa.String(length=16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("chats", schema=None) as batch_op:
        batch_op.drop_column("chosen_language")
