"""Chat, subscription and filter queries, on both databases."""

from __future__ import annotations

import threading
import time

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from storage import chats as chat_queries
from storage.chats import ChatInfo
from storage.migrate import downgrade, upgrade
from storage.models import Chat, ChatFilter, Subscription
from tests.support.seed import add_feed

CHAT = 5001


def test_register_creates_once_and_reactivates_a_chat_that_blocked_the_bot(engine: Engine) -> None:
    with Session(engine) as session:
        chat, created = chat_queries.register_chat(session, ChatInfo(CHAT, "private", "Ann", "fr"))
        assert created and chat.language == "fr"
        chat_queries.set_active(session, CHAT, False)
        session.commit()
        chat, created = chat_queries.register_chat(session, ChatInfo(CHAT, "private", None, "en"))
        session.commit()
        assert not created and chat.active and chat.language == "fr"  # first language kept


def test_all_feeds_subscription_is_not_duplicated_even_where_nulls_are_distinct(
    engine: Engine,
) -> None:
    with Session(engine) as session:
        chat_queries.register_chat(session, ChatInfo(CHAT))
        assert chat_queries.subscribe(session, CHAT)
        assert not chat_queries.subscribe(session, CHAT)
        assert chat_queries.subscribe(session, CHAT, 7)  # another forum topic is another place
        session.commit()
        assert len(session.exec(select(Subscription)).all()) == 2
        assert chat_queries.subscribed_to_all(session, CHAT)


def test_the_database_refuses_a_second_all_feeds_row_for_one_place(engine: Engine) -> None:
    with Session(engine) as session:
        session.add(Subscription(chat_id=CHAT, topic_id=0))
        session.add(Subscription(chat_id=CHAT, topic_id=0, keywords="rain"))
        session.commit()
        session.add(Subscription(chat_id=CHAT, topic_id=0))
        with pytest.raises(IntegrityError):
            session.commit()
        session.rollback()
        session.add(Subscription(chat_id=CHAT, topic_id=0, keywords="rain"))
        with pytest.raises(IntegrityError):
            session.commit()


@pytest.mark.parametrize(
    "change",
    ["all", "alert", "feed", "filter"],
)
def test_the_same_change_from_two_sessions_at_once_is_stored_once(
    engine: Engine, change: str
) -> None:
    """A double tap: the second session writes while the first has not committed yet. It
    waits for the first (SQLite's write lock, PostgreSQL's unique index) and then finds the row
    there: no error, no second row. Checking first and inserting after would store two "all
    feeds" rows (NULL feed ids never collide in a UNIQUE constraint)."""
    with Session(engine) as session:
        feed_id = add_feed(session, "news")
        chat_queries.register_chat(session, ChatInfo(CHAT))
        session.commit()

    def write(session: Session) -> bool | None:
        if change == "filter":
            chat_queries.set_filter(session, CHAT, "rain", required=True)
            return None
        keywords = "rain" if change == "alert" else ""
        return chat_queries.subscribe(
            session, CHAT, feed_id=feed_id if change == "feed" else None, keywords=keywords
        )

    second: list[bool | None] = []

    def other() -> None:
        with Session(engine) as session:
            second.append(write(session))
            session.commit()

    with Session(engine) as first:
        assert write(first) is not False
        thread = threading.Thread(target=other)
        thread.start()
        time.sleep(0.3)  # the second session is now waiting for the first
        first.commit()
    thread.join(timeout=15)
    assert second == ([None] if change == "filter" else [False])
    with Session(engine) as session:
        rows = session.exec(select(ChatFilter if change == "filter" else Subscription)).all()
    assert len(rows) == 1


def test_migration_0005_merges_all_feeds_rows_stored_twice(tmp_path) -> None:
    from storage.db import make_engine

    engine = make_engine(f"sqlite:///{tmp_path / 'old.db'}")
    upgrade(engine)
    downgrade(engine, "0004")
    with engine.begin() as conn:
        for topic, keywords in [(0, ""), (0, ""), (0, "rain"), (0, "rain"), (3, ""), (0, "")]:
            conn.execute(
                text(
                    "INSERT INTO subscriptions (chat_id, topic_id, keywords, created_at) "
                    "VALUES (:chat, :topic, :keywords, CURRENT_TIMESTAMP)"
                ),
                {"chat": CHAT, "topic": topic, "keywords": keywords},
            )
    upgrade(engine)
    with Session(engine) as session:
        kept = session.exec(select(Subscription).order_by(Subscription.id)).all()
    assert [(r.id, r.topic_id, r.keywords) for r in kept] == [
        (1, 0, ""),
        (3, 0, "rain"),
        (5, 3, ""),
    ]


def test_unsubscribing_one_feed_from_all_keeps_the_others(engine: Engine) -> None:
    with Session(engine) as session:
        feeds = [add_feed(session, name) for name in ("a", "b", "c")]
        chat_queries.register_chat(session, ChatInfo(CHAT))
        chat_queries.subscribe(session, CHAT)
        assert chat_queries.unsubscribe_feed(session, CHAT, 0, feeds[1])
        session.commit()
        kept = {s.feed_id for s in chat_queries.subscriptions(session, CHAT)}
        assert kept == {feeds[0], feeds[2]}
        assert not chat_queries.unsubscribe_feed(session, CHAT, 0, feeds[1])


def test_unsubscribe_all_keeps_keyword_alerts(engine: Engine) -> None:
    with Session(engine) as session:
        feed = add_feed(session, "a")
        chat_queries.register_chat(session, ChatInfo(CHAT))
        chat_queries.subscribe(session, CHAT)
        chat_queries.subscribe(session, CHAT, feed_id=feed)
        chat_queries.subscribe(session, CHAT, keywords="volcano")
        assert chat_queries.unsubscribe_feeds(session, CHAT) == 2
        session.commit()
        assert [s.keywords for s in chat_queries.subscriptions(session, CHAT)] == ["volcano"]


def test_a_subscription_is_removed_only_by_its_own_chat(engine: Engine) -> None:
    with Session(engine) as session:
        chat_queries.register_chat(session, ChatInfo(CHAT))
        chat_queries.subscribe(session, CHAT, keywords="volcano")
        [alert] = chat_queries.alerts(session, CHAT)
        assert alert.id is not None
        assert not chat_queries.remove_subscription(session, CHAT + 1, alert.id)
        assert chat_queries.remove_subscription(session, CHAT, alert.id)


def test_filters_are_set_flipped_and_cleared(engine: Engine) -> None:
    with Session(engine) as session:
        chat_queries.set_filter(session, CHAT, "sport", required=False)
        chat_queries.set_filter(session, CHAT, "europe", required=True)
        chat_queries.set_filter(session, CHAT, "sport", required=True)
        session.commit()
        assert {(f.word, f.required) for f in chat_queries.filters(session, CHAT)} == {
            ("sport", True),
            ("europe", True),
        }
        assert chat_queries.clear_filters(session, CHAT) == 2


def test_migrating_a_group_moves_settings_subscriptions_and_filters(engine: Engine) -> None:
    new_id = -1009876543210
    with Session(engine) as session:
        chat, _ = chat_queries.register_chat(session, ChatInfo(-4242, "group", "Club"))
        chat.mode, chat.timezone = "digest", "Europe/Paris"
        session.add(chat)
        chat_queries.subscribe(session, -4242)
        chat_queries.set_filter(session, -4242, "sport", required=False)
        chat_queries.migrate_chat(session, -4242, new_id)
        session.commit()
        moved = session.get(Chat, new_id)
        assert moved is not None and (moved.type, moved.mode, moved.timezone) == (
            "supergroup",
            "digest",
            "Europe/Paris",
        )
        assert chat_queries.subscribed_to_all(session, new_id)
        assert [f.chat_id for f in session.exec(select(ChatFilter)).all()] == [new_id]
        old = session.get(Chat, -4242)
        assert old is not None and not old.active
        assert chat_queries.active_chat_ids(session) == [new_id]


def test_migrating_onto_a_supergroup_that_already_has_some_rows_keeps_one_of_each(
    engine: Engine,
) -> None:
    """Someone subscribed in the new supergroup before the migration reached the bot: the
    rows both ids hold are kept once, the group's others move (was an IntegrityError that
    rolled the whole migration back)."""
    new_id = -1009876543211
    with Session(engine) as session:
        chat_queries.register_chat(session, ChatInfo(-4243, "group", "Club"))
        chat_queries.register_chat(session, ChatInfo(new_id, "supergroup", "Club"))
        feed_id = add_feed(session, "one")
        for chat_id in (-4243, new_id):
            chat_queries.subscribe(session, chat_id)
            chat_queries.subscribe(session, chat_id, feed_id=feed_id)
            chat_queries.set_filter(session, chat_id, "sport", required=False)
        chat_queries.subscribe(session, -4243, keywords="election")
        chat_queries.set_filter(session, -4243, "europe", required=True)
        session.commit()
        chat_queries.migrate_chat(session, -4243, new_id)
        session.commit()
        subs = session.exec(select(Subscription).where(Subscription.chat_id == new_id)).all()
        assert sorted((s.feed_id or 0, s.keywords) for s in subs) == sorted(
            [(0, ""), (feed_id, ""), (0, "election")]
        )
        words = session.exec(select(ChatFilter.word).where(ChatFilter.chat_id == new_id)).all()
        assert sorted(words) == ["europe", "sport"]
        assert session.exec(select(Subscription).where(Subscription.chat_id == -4243)).all() == []


def test_a_new_chat_registered_by_two_sessions_at_once_is_one_row(engine: Engine) -> None:
    """A new chat's first two commands at once: the second waits for the first's insert, then
    finds the row (not new) and only updates it; no IntegrityError for the caller to retry."""
    outcomes: list[bool] = []

    def other() -> None:
        with Session(engine) as session:
            _, created = chat_queries.register_chat(session, ChatInfo(CHAT, "group", "Club"))
            outcomes.append(created)
            session.commit()

    with Session(engine) as first:
        _, created = chat_queries.register_chat(first, ChatInfo(CHAT, "group", None, "fr"))
        assert created
        thread = threading.Thread(target=other)
        thread.start()
        time.sleep(0.3)  # the second session is now waiting for the first
        first.commit()
    thread.join(timeout=15)
    assert outcomes == [False]
    with Session(engine) as session:
        [chat] = session.exec(select(Chat)).all()
    assert (chat.title, chat.language, chat.active) == ("Club", "fr", True)
