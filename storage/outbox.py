"""Outbox and delivery queries: what is owed to whom, what is due, and what happened.

Idempotency lives in the ``deliveries`` primary key (chat, topic, story): owed stories are
inserted with ON CONFLICT DO NOTHING and RETURNING, so only rows this transaction really added
become messages. A restart, a repeated /push or two overlapping ticks cannot owe a story twice.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, and_, delete, func, tuple_, update
from sqlalchemy import select as sa_select
from sqlalchemy.orm import aliased
from sqlmodel import Session, col, select

from storage.db import dialect_insert
from storage.models import Article, Chat, Delivery, OutboxItem, Story, utcnow

PENDING, SENT, FAILED, SKIPPED = "pending", "sent", "failed", "skipped"


@dataclass(frozen=True, slots=True)
class StoryFacts:
    """What fan-out needs to match a story against subscriptions: its feeds and its text."""

    id: int
    feed_ids: frozenset[int]
    text: str  # titles and texts of its articles, for keyword alerts and filters


def unannounced_stories(session: Session, limit: int = 500) -> list[int]:
    """Stories no chat has been matched against yet, oldest first.

    On PostgreSQL the rows are locked with SKIP LOCKED, so two processes fanning out at once
    split the work instead of both owing the same stories.
    """
    query: Select[Any] = (
        sa_select(col(Story.id))
        .where(col(Story.announced_at).is_(None))
        .order_by(col(Story.id))
        .limit(limit)
    )
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    return [int(i) for i in session.execute(query).scalars().all()]


def story_facts(session: Session, story_ids: Sequence[int]) -> list[StoryFacts]:
    feeds: dict[int, set[int]] = {i: set() for i in story_ids}
    texts: dict[int, list[str]] = {i: [] for i in story_ids}
    for start in range(0, len(story_ids), 500):
        chunk = list(story_ids[start : start + 500])
        rows = session.execute(
            select(Article.story_id, Article.feed_id, Article.title, Article.text).where(
                col(Article.story_id).in_(chunk)
            )
        ).all()
        for story_id, feed_id, title, text in rows:
            feeds[story_id].add(feed_id)
            texts[story_id].append(f"{title}\n{text}")
    return [StoryFacts(i, frozenset(feeds[i]), "\n".join(texts[i])) for i in story_ids]


def mark_announced(session: Session, story_ids: Iterable[int], when: datetime) -> None:
    ids = list(story_ids)
    for start in range(0, len(ids), 500):
        session.execute(
            update(Story)
            .where(col(Story.id).in_(ids[start : start + 500]))
            .values(announced_at=when)
        )


def recent_story_ids(session: Session, *, limit: int, feed_id: int | None = None) -> list[int]:
    """The newest stories (by last update), optionally only those with an article of one feed."""
    query = select(Story.id).order_by(col(Story.updated_at).desc(), col(Story.id).desc())
    if feed_id is not None:
        query = query.where(
            col(Story.id).in_(select(Article.story_id).where(Article.feed_id == feed_id))
        )
    return [int(i) for i in session.exec(query.limit(limit)).all() if i is not None]


def delivered_stories(session: Session, story_ids: Sequence[int]) -> set[tuple[int, int, int]]:
    """(chat, topic, story) already owed or delivered, among these stories."""
    if not story_ids:
        return set()
    rows = session.execute(
        select(Delivery.chat_id, Delivery.topic_id, Delivery.story_id).where(
            col(Delivery.story_id).in_(list(story_ids))
        )
    ).all()
    return {(int(c), int(t), int(s)) for c, t, s in rows}


def owe(session: Session, pairs: Sequence[tuple[int, int, int]]) -> list[tuple[int, int, int]]:
    """Record (chat, topic, story) as owed; returns only the ones that were not owed before."""
    if not pairs:
        return []
    now = utcnow()
    rows = [{"chat_id": c, "topic_id": t, "story_id": s, "created_at": now} for c, t, s in pairs]
    # One statement executed with many parameter sets: SQLAlchemy compiles it once and sends
    # it in multi-row batches ("insertmanyvalues"). Building ``.values(rows)`` instead compiled
    # a new 500-row statement per chunk: 60,000 owed pairs (500 stories × 120 chats) took
    # 9 s of Python inside the write transaction, and on SQLite every other writer (commands,
    # the sender, the fetcher) waited behind it until "database is locked".
    # Core, not the ORM's bulk path: nothing here needs objects.
    table = Delivery.__table__  # type: ignore[attr-defined]
    statement = (
        dialect_insert(session, table)
        .on_conflict_do_nothing()
        .returning(table.c.chat_id, table.c.topic_id, table.c.story_id)
    )
    found = session.connection().execute(statement, rows).all()
    return [(int(c), int(t), int(s)) for c, t, s in found]


def enqueue(
    session: Session,
    chat_id: int,
    topic_id: int,
    kind: str,
    payload: dict[str, Any],
    story_ids: Sequence[int] = (),
) -> int:
    """One outbox row; the owed stories it carries point at it. Returns the row id."""
    item = OutboxItem(
        chat_id=chat_id,
        topic_id=topic_id,
        kind=kind,
        payload=json.dumps(payload, ensure_ascii=False),
    )
    session.add(item)
    session.flush()
    assert item.id is not None
    if story_ids:
        session.execute(
            update(Delivery)
            .where(
                col(Delivery.chat_id) == chat_id,
                col(Delivery.topic_id) == topic_id,
                col(Delivery.story_id).in_(list(story_ids)),
            )
            .values(outbox_id=item.id)
        )
    return item.id


def waiting_stories(session: Session, chat_id: int, topic_id: int) -> list[int]:
    """Stories owed to this chat topic that wait for its next digest, oldest first."""
    rows = session.exec(
        select(Delivery.story_id)
        .where(
            Delivery.chat_id == chat_id,
            Delivery.topic_id == topic_id,
            col(Delivery.outbox_id).is_(None),
        )
        .order_by(col(Delivery.created_at), col(Delivery.story_id))
    ).all()
    return [int(s) for s in rows]


def chats_with_waiting(session: Session) -> list[tuple[int, int]]:
    rows = session.execute(
        select(Delivery.chat_id, Delivery.topic_id)
        .where(col(Delivery.outbox_id).is_(None))
        .distinct()
    ).all()
    return [(int(c), int(t)) for c, t in rows]


# -- the delivery worker's side ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DueItem:
    id: int
    chat_id: int
    topic_id: int
    kind: str
    payload: dict[str, Any]
    attempts: int
    chat_type: str
    timezone: str
    language: str | None
    chat_active: bool
    chat_failures: int = 0  # "chat not found" answers in a row
    state: str = PENDING


def _items_query() -> Select[Any]:
    query: Select[Any] = sa_select(  # type: ignore[assignment]
        OutboxItem,
        col(Chat.type),
        col(Chat.timezone),
        # The chat's /language choice wins over the language of the user who started it.
        func.coalesce(col(Chat.chosen_language), col(Chat.language)),
        col(Chat.active),
        col(Chat.failures),
    ).join(Chat, col(Chat.id) == col(OutboxItem.chat_id), isouter=True)
    return query


def _due_item(row: Any) -> DueItem:
    item, chat_type, timezone, language, active, failures = row
    assert item.id is not None
    return DueItem(
        id=item.id,
        chat_id=item.chat_id,
        topic_id=item.topic_id,
        kind=item.kind,
        payload=json.loads(item.payload),
        attempts=item.attempts,
        # A channel has no chats row unless someone talked to the bot from it.
        chat_type=chat_type or ("channel" if item.chat_id < 0 else "private"),
        timezone=timezone or "UTC",
        language=language,
        chat_active=True if active is None else bool(active),
        chat_failures=int(failures or 0),
        state=item.state,
    )


def _due_query(now: datetime, limit: int, skip_chats: Iterable[int]) -> Select[Any]:
    query = (
        _items_query()
        .where(col(OutboxItem.state) == PENDING, col(OutboxItem.next_attempt_at) <= now)
        .order_by(col(OutboxItem.id))
        .limit(limit)
    )
    skip = list(skip_chats)
    return query.where(col(OutboxItem.chat_id).not_in(skip)) if skip else query


def due_items(
    session: Session, now: datetime, *, limit: int, skip_chats: Iterable[int] = ()
) -> list[DueItem]:
    """Pending rows whose time has come, oldest first."""
    return [_due_item(row) for row in session.execute(_due_query(now, limit, skip_chats)).all()]


def due_heads(
    session: Session, now: datetime, *, limit: int, busy: Iterable[int] = ()
) -> list[DueItem]:
    """Due rows that are the oldest pending row of their chat.

    A chat's later rows wait while an earlier one backs off, so each chat reads its messages
    in the order they were queued. One query: the rows held behind an earlier pending row are
    filtered in SQL, so however many chats are held, every other chat's due rows still come.
    """
    query = _due_query(now, limit, busy).where(_is_head())
    return [_due_item(row) for row in session.execute(query).all()]


def _is_head() -> Any:
    """The row is its chat's oldest pending row: no earlier pending row holds it back."""
    earlier = aliased(OutboxItem)
    held = sa_select(col(earlier.id)).where(
        col(earlier.chat_id) == col(OutboxItem.chat_id),
        col(earlier.state) == PENDING,
        col(earlier.id) < col(OutboxItem.id),
    )
    return ~held.exists()


def delivery_backlog(session: Session, now: datetime) -> tuple[int, int, datetime | None]:
    """Pending rows, those due now, and the oldest due time among chats' heads (the rows
    the sender can send now: only those say whether delivery is stuck), for /healthz."""
    pending = col(OutboxItem.state) == PENDING
    due = col(OutboxItem.next_attempt_at) <= now
    count, due_count = session.execute(
        sa_select(func.count(), func.count().filter(due)).where(pending)
    ).one()
    oldest = None
    if due_count:
        oldest = session.execute(
            sa_select(func.min(OutboxItem.next_attempt_at)).where(pending, due, _is_head())
        ).scalar()
    return int(count), int(due_count), oldest


def current_item(session: Session, item_id: int) -> DueItem | None:
    """One row as it stands now (a migration may have moved it, a 403 skipped it)."""
    row = session.execute(_items_query().where(col(OutboxItem.id) == item_id)).first()
    return _due_item(row) if row is not None else None


def next_due_at(session: Session) -> datetime | None:
    found = session.exec(
        select(func.min(OutboxItem.next_attempt_at)).where(OutboxItem.state == PENDING)
    ).one()
    return found


def set_progress(session: Session, item_id: int, payload: dict[str, Any]) -> None:
    """A multi-message row records each part sent, so a restart resumes after it."""
    session.execute(
        update(OutboxItem)
        .where(col(OutboxItem.id) == item_id)
        .values(payload=json.dumps(payload, ensure_ascii=False))
    )


def mark_sent(session: Session, item_id: int, message_id: int | None) -> None:
    session.execute(
        update(OutboxItem)
        .where(col(OutboxItem.id) == item_id)
        .values(state=SENT, message_id=message_id, sent_at=utcnow(), last_error=None)
    )


def reschedule(session: Session, item_id: int, when: datetime, error: str) -> None:
    session.execute(
        update(OutboxItem)
        .where(col(OutboxItem.id) == item_id)
        .values(next_attempt_at=when, last_error=error[:1000], attempts=OutboxItem.attempts + 1)
    )


def finish(session: Session, item_id: int, state: str, error: str) -> None:
    """A row that will not be sent (failed for good, or skipped: the chat is gone)."""
    session.execute(
        update(OutboxItem)
        .where(col(OutboxItem.id) == item_id)
        .values(state=state, last_error=error[:1000], attempts=OutboxItem.attempts + 1)
    )


def skip_chat(session: Session, chat_id: int, error: str) -> int:
    """Every pending row of a chat that can no longer be reached."""
    result = session.execute(
        update(OutboxItem)
        .where(and_(col(OutboxItem.chat_id) == chat_id, col(OutboxItem.state) == PENDING))
        .values(state=SKIPPED, last_error=error[:1000])
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def move_chat(session: Session, old_id: int, new_id: int) -> None:
    """A group became a supergroup: its pending rows and owed stories follow it."""
    session.execute(
        update(OutboxItem)
        .where(col(OutboxItem.chat_id) == old_id, col(OutboxItem.state) == PENDING)
        .values(chat_id=new_id)
    )
    # A story the supergroup is already owed stays owed once: drop the old group's copy.
    clash = sa_select(Delivery.topic_id, Delivery.story_id).where(  # type: ignore[call-overload]
        col(Delivery.chat_id) == new_id
    )
    session.execute(
        delete(Delivery).where(
            col(Delivery.chat_id) == old_id,
            tuple_(col(Delivery.topic_id), col(Delivery.story_id)).in_(clash),
        )
    )
    session.execute(update(Delivery).where(col(Delivery.chat_id) == old_id).values(chat_id=new_id))


def outbox_counts(session: Session, since: datetime) -> dict[str, int]:
    """Pending rows now; rows sent since ``since``; rows queued since then that failed for good."""
    pending = session.exec(
        select(func.count()).select_from(OutboxItem).where(OutboxItem.state == PENDING)
    ).one()
    sent = session.exec(
        select(func.count())
        .select_from(OutboxItem)
        .where(OutboxItem.state == SENT, col(OutboxItem.sent_at) >= since)
    ).one()
    failed = session.exec(
        select(func.count())
        .select_from(OutboxItem)
        .where(OutboxItem.state == FAILED, col(OutboxItem.created_at) >= since)
    ).one()
    return {"pending": int(pending), "sent": int(sent), "failed": int(failed)}
