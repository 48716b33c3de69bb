"""Outbox and delivery queries: owed once, due in order, moved with a migrated group."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import Engine
from sqlmodel import Session, select

from storage import outbox
from storage.models import Delivery, OutboxItem, utcnow
from tests.support.seed import add_chat, add_feed, add_story


def test_owe_returns_only_pairs_that_were_not_owed_before(engine: Engine) -> None:
    with Session(engine) as session:
        feed = add_feed(session, "a")
        one, two = add_story(session, feed, "One", "x"), add_story(session, feed, "Two", "y")
        assert outbox.owe(session, [(1, 0, one), (1, 0, two)]) == [(1, 0, one), (1, 0, two)]
        assert outbox.owe(session, [(1, 0, one), (2, 0, one), (1, 5, one)]) == [
            (2, 0, one),
            (1, 5, one),
        ]
        session.commit()
        assert len(session.exec(select(Delivery)).all()) == 4


def test_enqueue_links_the_owed_stories_to_their_message(engine: Engine) -> None:
    with Session(engine) as session:
        feed = add_feed(session, "a")
        story = add_story(session, feed, "One", "x")
        outbox.owe(session, [(1, 0, story)])
        assert outbox.waiting_stories(session, 1, 0) == [story]
        assert outbox.chats_with_waiting(session) == [(1, 0)]
        row = outbox.enqueue(session, 1, 0, "brief", {"stories": [story]}, [story])
        session.commit()
        assert outbox.waiting_stories(session, 1, 0) == []
        [owed] = session.exec(select(Delivery)).all()
        assert owed.outbox_id == row


def test_due_items_are_oldest_first_skip_busy_chats_and_wait_for_their_time(
    engine: Engine,
) -> None:
    with Session(engine) as session:
        add_chat(session, 1)
        add_chat(session, -100500, chat_type="supergroup")
        first = outbox.enqueue(session, 1, 0, "broadcast", {"html": "a"})
        second = outbox.enqueue(session, -100500, 3, "broadcast", {"html": "b"})
        later = outbox.enqueue(session, 1, 0, "broadcast", {"html": "c"})
        outbox.reschedule(session, later, utcnow() + timedelta(hours=1), "503")
        session.commit()
        due = outbox.due_items(session, utcnow(), limit=10)
        assert [(d.id, d.chat_type, d.topic_id) for d in due] == [
            (first, "private", 0),
            (second, "supergroup", 3),
        ]
        assert [d.id for d in outbox.due_items(session, utcnow(), limit=10, skip_chats=[1])] == [
            second
        ]
        assert outbox.next_due_at(session) is not None


def test_due_heads_hold_a_chats_later_rows_behind_one_backing_off_however_many_chats_wait(
    engine: Engine,
) -> None:
    with Session(engine) as session:
        soon = utcnow() + timedelta(hours=1)
        # 30 chats whose first row backs off, each with a due row queued behind it: more held
        # chats than one page of `limit` rows, so a paging search would have given up.
        for chat in range(1, 31):
            add_chat(session, chat)
            outbox.reschedule(session, outbox.enqueue(session, chat, 0, "broadcast", {}), soon, "5")
            outbox.enqueue(session, chat, 0, "broadcast", {})
        add_chat(session, 99)
        free = outbox.enqueue(session, 99, 0, "broadcast", {"html": "go"})
        then = outbox.enqueue(session, 99, 0, "broadcast", {"html": "later"})
        session.commit()
        assert [d.id for d in outbox.due_heads(session, utcnow(), limit=1)] == [free]
        assert outbox.due_heads(session, utcnow(), limit=1, busy=[99]) == []
        outbox.mark_sent(session, free, 1)
        session.commit()
        assert [d.id for d in outbox.due_heads(session, utcnow(), limit=1)] == [then]


def test_sent_rows_leave_the_queue_and_are_counted(engine: Engine) -> None:
    with Session(engine) as session:
        add_chat(session, 1)
        row = outbox.enqueue(session, 1, 0, "broadcast", {"html": "a"})
        failed = outbox.enqueue(session, 1, 0, "broadcast", {"html": "b"})
        outbox.mark_sent(session, row, 777)
        outbox.finish(session, failed, outbox.FAILED, "Bad Request: message is too long")
        session.commit()
        assert outbox.due_items(session, utcnow(), limit=10) == []
        counts = outbox.outbox_counts(session, utcnow() - timedelta(hours=1))
        assert counts == {"pending": 0, "sent": 1, "failed": 1}
        sent = session.get(OutboxItem, row)
        assert sent is not None and sent.message_id == 777 and sent.sent_at is not None


def test_a_gone_chat_has_its_pending_rows_skipped(engine: Engine) -> None:
    with Session(engine) as session:
        add_chat(session, 1)
        for text in "abc":
            outbox.enqueue(session, 1, 0, "broadcast", {"html": text})
        assert outbox.skip_chat(session, 1, "Forbidden: bot was blocked by the user") == 3
        session.commit()
        assert {r.state for r in session.exec(select(OutboxItem)).all()} == {outbox.SKIPPED}


def test_moving_a_chat_moves_pending_rows_and_owed_stories(engine: Engine) -> None:
    with Session(engine) as session:
        feed = add_feed(session, "a")
        story = add_story(session, feed, "One", "x")
        outbox.owe(session, [(-42, 0, story)])
        row = outbox.enqueue(session, -42, 0, "brief", {"stories": [story]}, [story])
        outbox.move_chat(session, -42, -10042)
        session.commit()
        moved = session.get(OutboxItem, row)
        assert moved is not None and moved.chat_id == -10042
        assert [d.chat_id for d in session.exec(select(Delivery)).all()] == [-10042]


def test_progress_of_a_multi_message_row_is_kept(engine: Engine) -> None:
    with Session(engine) as session:
        add_chat(session, 1)
        row = outbox.enqueue(session, 1, 0, "digest", {"stories": [1, 2], "part": 0})
        outbox.set_progress(session, row, {"stories": [1, 2], "part": 1})
        session.commit()
        [due] = outbox.due_items(session, utcnow(), limit=1)
        assert due.payload["part"] == 1


def test_unannounced_stories_are_found_until_marked(engine: Engine) -> None:
    with Session(engine) as session:
        feed = add_feed(session, "a")
        ids = [add_story(session, feed, f"S{n}", "x") for n in range(3)]
        assert outbox.unannounced_stories(session) == ids
        outbox.mark_announced(session, ids[:2], utcnow())
        session.commit()
        assert outbox.unannounced_stories(session) == ids[2:]
        [facts] = outbox.story_facts(session, ids[2:])
        assert facts.feed_ids == frozenset({feed}) and "S2" in facts.text


def test_moving_a_chat_onto_one_already_owed_the_story_keeps_it_owed_once(engine: Engine) -> None:
    with Session(engine) as session:
        feed = add_feed(session, "a")
        story = add_story(session, feed, "One", "x")
        outbox.owe(session, [(-42, 0, story), (-10042, 0, story)])
        outbox.move_chat(session, -42, -10042)
        session.commit()
        assert [(d.chat_id, d.story_id) for d in session.exec(select(Delivery)).all()] == [
            (-10042, story)
        ]


def test_current_item_reads_the_row_and_its_chat_as_they_are_now(engine: Engine) -> None:
    with Session(engine) as session:
        add_chat(session, 1)
        row = outbox.enqueue(session, 1, 0, "broadcast", {"html": "a"})
        outbox.mark_sent(session, row, 5)
        session.commit()
        current = outbox.current_item(session, row)
        assert current is not None and current.state == outbox.SENT and current.chat_active
        assert outbox.current_item(session, row + 1000) is None
