"""feed leases for fetch workers: feeds.host, lease_owner, lease_until; due-time index

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-28

Workers on PostgreSQL claim due feeds by leasing them (storage/leases.py); the per-host limit
counts leases by host, so existing feeds get their host filled from their URL here.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def _host_key(url: str) -> str:
    # A frozen copy of storage.models.host_key: a migration must not change when the code does.
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    try:
        port = parts.port
    except ValueError:
        port = None
    return f"{host}:{port}" if port else host


def upgrade() -> None:
    with op.batch_alter_table("feeds", schema=None) as batch_op:
        batch_op.add_column(sa.Column("host", sa.Text(), nullable=False, server_default=""))
        batch_op.add_column(sa.Column("lease_owner", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index(batch_op.f("ix_feeds_host"), ["host"], unique=False)
        batch_op.create_index(batch_op.f("ix_feeds_lease_until"), ["lease_until"], unique=False)
        batch_op.create_index("ix_feeds_next_check_at", ["next_check_at"], unique=False)
    conn = op.get_bind()
    feeds = sa.table("feeds", sa.column("id", sa.Integer), sa.column("url", sa.Text))
    rows = conn.execute(sa.select(feeds.c.id, feeds.c.url)).all()
    if rows:
        conn.execute(
            sa.text("UPDATE feeds SET host = :host WHERE id = :id"),
            [{"id": feed_id, "host": _host_key(url)} for feed_id, url in rows],
        )


def downgrade() -> None:
    with op.batch_alter_table("feeds", schema=None) as batch_op:
        batch_op.drop_index("ix_feeds_next_check_at")
        batch_op.drop_index(batch_op.f("ix_feeds_lease_until"))
        batch_op.drop_index(batch_op.f("ix_feeds_host"))
        batch_op.drop_column("lease_until")
        batch_op.drop_column("lease_owner")
        batch_op.drop_column("host")
