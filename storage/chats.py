"""Chat, subscription and filter queries: what each chat (and forum topic) has asked for.

A subscription row means one of three things: ``feed_id`` set (one feed), ``keywords`` set
(a keyword alert over every feed), or neither (all feeds). NULL feed ids are distinct in the
unique constraint, so rows without a feed have a partial unique index of their own (migration
0005); inserts rely on both (``ON CONFLICT DO NOTHING``) rather than on a check that two
commands running at once would both pass.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import delete, update
from sqlalchemy import select as sa_select
from sqlalchemy.orm import aliased
from sqlmodel import Session, col, select

from storage.db import dialect_insert
from storage.models import Chat, ChatFilter, Feed, Subscription, utcnow


@dataclass(frozen=True, slots=True)
class ChatInfo:
    """What Telegram tells us about a chat when one of its members talks to the bot."""

    id: int
    type: str = "private"
    title: str | None = None
    language: str | None = None


def register_chat(session: Session, info: ChatInfo) -> tuple[Chat, bool]:
    """Create the chat or reactivate it (a user who blocked the bot and sent /start again).

    Returns the chat and whether it was new. The chat's language is set once, from the user
    who started it; later users of a group do not change it. Safe when a new chat's first
    commands run at once: the insert that loses does nothing and both update the one row.
    """
    new = Chat(id=info.id, type=info.type, title=info.title, language=info.language)
    inserted = session.execute(
        dialect_insert(session, Chat)
        .values(**new.model_dump())
        .on_conflict_do_nothing(index_elements=["id"])
        .returning(col(Chat.id))
    ).first()
    chat = session.get(Chat, info.id, populate_existing=True)
    assert chat is not None
    created = inserted is not None
    chat.active = True
    chat.failures = 0
    chat.type = info.type
    chat.title = info.title or chat.title
    session.add(chat)
    session.flush()
    return chat, created


def get_chat(session: Session, chat_id: int) -> Chat | None:
    return session.get(Chat, chat_id)


def chosen_language(session: Session, chat_id: int) -> str | None:
    """The language this chat picked with /language; None when it follows each user's own."""
    found = session.exec(select(Chat.chosen_language).where(Chat.id == chat_id)).first()
    return found or None


def set_chosen_language(session: Session, chat_id: int, language: str | None) -> None:
    """Record the chat's /language choice (None: back to each user's Telegram language)."""
    session.execute(
        update(Chat).where(col(Chat.id) == chat_id).values(chosen_language=language or None)
    )


def set_active(session: Session, chat_id: int, active: bool) -> None:
    session.execute(update(Chat).where(col(Chat.id) == chat_id).values(active=active))


def active_chat_ids(session: Session) -> list[int]:
    return [int(i) for i in session.exec(select(Chat.id).where(Chat.active == True)).all()]  # noqa: E712


def migrate_chat(session: Session, old_id: int, new_id: int) -> None:
    """A group became a supergroup: its settings, subscriptions and filters move to the new id."""
    old = session.get(Chat, old_id)
    if old is None:
        return
    if session.get(Chat, new_id) is None:
        session.add(
            Chat(
                id=new_id,
                type="supergroup",
                title=old.title,
                language=old.language,
                chosen_language=old.chosen_language,
                timezone=old.timezone,
                mode=old.mode,
                digest_times=old.digest_times,
                last_digest_at=old.last_digest_at,
            )
        )
        session.flush()
    _drop_clashes(session, old_id, new_id)
    for model in (Subscription, ChatFilter):
        session.execute(update(model).where(col(model.chat_id) == old_id).values(chat_id=new_id))
    old.active = False
    session.add(old)


def _drop_clashes(session: Session, old_id: int, new_id: int) -> None:
    """The supergroup may already hold some of the group's rows (a member subscribed there
    before the migration reached us): the group's copies go, or moving them breaks a unique
    constraint and the whole migration is rolled back."""
    theirs = aliased(Subscription)
    same_subscription = sa_select(col(theirs.id)).where(
        col(theirs.chat_id) == new_id,
        col(theirs.topic_id) == col(Subscription.topic_id),
        col(theirs.keywords) == col(Subscription.keywords),
        # "All feeds" rows have no feed id, and NULL = NULL is not true.
        col(theirs.feed_id).is_not_distinct_from(col(Subscription.feed_id)),
    )
    session.execute(
        delete(Subscription).where(col(Subscription.chat_id) == old_id, same_subscription.exists())
    )
    words = select(ChatFilter.word).where(ChatFilter.chat_id == new_id)
    session.execute(
        delete(ChatFilter).where(col(ChatFilter.chat_id) == old_id, col(ChatFilter.word).in_(words))
    )


# -- subscriptions --------------------------------------------------------------------------


def subscriptions(session: Session, chat_id: int, topic_id: int = 0) -> Sequence[Subscription]:
    return session.exec(
        select(Subscription)
        .where(Subscription.chat_id == chat_id, Subscription.topic_id == topic_id)
        .order_by(col(Subscription.id))
    ).all()


def all_subscriptions(session: Session) -> Sequence[Subscription]:
    """Every subscription of every active chat (the fan-out reads them once per batch)."""
    return session.exec(
        select(Subscription)
        .join(Chat, col(Chat.id) == col(Subscription.chat_id))
        .where(Chat.active == True)  # noqa: E712
        .order_by(col(Subscription.id))
    ).all()


def _find(
    session: Session, chat_id: int, topic_id: int, feed_id: int | None, keywords: str
) -> Subscription | None:
    query = select(Subscription).where(
        Subscription.chat_id == chat_id,
        Subscription.topic_id == topic_id,
        Subscription.keywords == keywords,
    )
    feed_clause = (
        col(Subscription.feed_id).is_(None)
        if feed_id is None
        else col(Subscription.feed_id) == feed_id
    )
    return session.exec(query.where(feed_clause)).first()


def subscribe(
    session: Session,
    chat_id: int,
    topic_id: int = 0,
    *,
    feed_id: int | None = None,
    keywords: str = "",
) -> bool:
    """Add a subscription; False when the chat already had it.

    Safe when two commands add the same one at once (a double tap): the unique constraint and,
    for "all feeds" rows, the partial unique index decide, and the loser's insert does nothing.
    """
    statement = (
        dialect_insert(session, Subscription)
        .values(
            chat_id=chat_id,
            topic_id=topic_id,
            feed_id=feed_id,
            keywords=keywords,
            created_at=utcnow(),
        )
        .on_conflict_do_nothing()
        .returning(col(Subscription.id))
    )
    # RETURNING, not rowcount: rowcount read 1 on PostgreSQL when the insert did nothing.
    return session.execute(statement).first() is not None


def subscribed_to_all(session: Session, chat_id: int, topic_id: int = 0) -> bool:
    return _find(session, chat_id, topic_id, None, "") is not None


def unsubscribe_feed(session: Session, chat_id: int, topic_id: int, feed_id: int) -> bool:
    """Stop one feed. A chat on "all feeds" keeps every other feed: its "all" becomes one
    subscription per remaining feed (what a reader means by "not this one")."""
    found = _find(session, chat_id, topic_id, feed_id, "")
    if found is not None:
        session.delete(found)
        session.flush()
        return True
    # Every "all feeds" row: before migration 0005 two /start at once could each add one, and
    # one left behind would keep sending the feed the reader just stopped.
    everything = session.exec(
        select(Subscription).where(
            Subscription.chat_id == chat_id,
            Subscription.topic_id == topic_id,
            Subscription.keywords == "",
            col(Subscription.feed_id).is_(None),
        )
    ).all()
    if not everything:
        return False
    for row in everything:
        session.delete(row)
    session.flush()
    others = session.exec(select(Feed.id).where(Feed.id != feed_id)).all()
    if others:  # two of these at once write the same rows: the second insert does nothing
        common = {"chat_id": chat_id, "topic_id": topic_id, "keywords": "", "created_at": utcnow()}
        rows = [{**common, "feed_id": other} for other in others]
        session.execute(dialect_insert(session, Subscription).on_conflict_do_nothing(), rows)
    return True


def unsubscribe_feeds(session: Session, chat_id: int, topic_id: int = 0) -> int:
    """Drop every feed subscription (one feed or all), keeping keyword alerts."""
    result = session.execute(
        delete(Subscription).where(
            col(Subscription.chat_id) == chat_id,
            col(Subscription.topic_id) == topic_id,
            col(Subscription.keywords) == "",
        )
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def subscribed_chat_count(session: Session) -> int:
    rows = session.exec(
        select(Subscription.chat_id)
        .join(Chat, col(Chat.id) == col(Subscription.chat_id))
        .where(Chat.active == True)  # noqa: E712
        .distinct()
    ).all()
    return len(rows)


# -- keyword alerts -------------------------------------------------------------------------


def alerts(session: Session, chat_id: int, topic_id: int = 0) -> Sequence[Subscription]:
    return session.exec(
        select(Subscription)
        .where(
            Subscription.chat_id == chat_id,
            Subscription.topic_id == topic_id,
            Subscription.keywords != "",
        )
        .order_by(col(Subscription.id))
    ).all()


def remove_subscription(session: Session, chat_id: int, subscription_id: int) -> bool:
    """Delete by id, but only a subscription of this chat (callback data can be forged)."""
    result = session.execute(
        delete(Subscription).where(
            col(Subscription.id) == subscription_id, col(Subscription.chat_id) == chat_id
        )
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


# -- filters --------------------------------------------------------------------------------


def filters(session: Session, chat_id: int) -> Sequence[ChatFilter]:
    # populate_existing: set_filter writes with a Core upsert, which the session's already
    # loaded rows would not show (a flipped word would read as before).
    return session.exec(
        select(ChatFilter)
        .where(ChatFilter.chat_id == chat_id)
        .order_by(col(ChatFilter.id))
        .execution_options(populate_existing=True)
    ).all()


def all_filters(session: Session) -> dict[int, list[ChatFilter]]:
    found: dict[int, list[ChatFilter]] = {}
    for row in session.exec(select(ChatFilter).order_by(col(ChatFilter.id))).all():
        found.setdefault(row.chat_id, []).append(row)
    return found


def set_filter(session: Session, chat_id: int, word: str, *, required: bool) -> None:
    """Add or flip a filter word (a word is either required or excluded, not both); the
    same word sent by two commands at once ends as one row, the later choice kept."""
    statement = (
        dialect_insert(session, ChatFilter)
        .values(chat_id=chat_id, word=word, required=required, created_at=utcnow())
        .on_conflict_do_update(index_elements=["chat_id", "word"], set_={"required": required})
    )
    session.execute(statement)


def clear_filters(session: Session, chat_id: int) -> int:
    result = session.execute(delete(ChatFilter).where(col(ChatFilter.chat_id) == chat_id))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
