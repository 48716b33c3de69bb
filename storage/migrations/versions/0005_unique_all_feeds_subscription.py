"""subscriptions: at most one "all feeds" row (and one all-feeds alert per words) per place

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-27

``uq_subscription`` never matched rows whose feed_id is NULL (NULLs are distinct in a UNIQUE
constraint on both databases), so two /start at once could store two "all feeds" rows for one
chat; one left behind after "/unsubscribe ID" kept sending the feed the reader stopped. A
partial unique index covers those rows. Duplicates already stored are merged first (the oldest
row is kept).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

INDEX = "uq_subscription_all_feeds"
WHERE = sa.text("feed_id IS NULL")


def upgrade() -> None:
    op.execute(
        "DELETE FROM subscriptions WHERE feed_id IS NULL AND id NOT IN ("
        " SELECT min(id) FROM subscriptions WHERE feed_id IS NULL"
        " GROUP BY chat_id, topic_id, keywords)"
    )
    op.create_index(
        INDEX,
        "subscriptions",
        ["chat_id", "topic_id", "keywords"],
        unique=True,
        sqlite_where=WHERE,
        postgresql_where=WHERE,
    )


def downgrade() -> None:
    op.drop_index(INDEX, table_name="subscriptions")
