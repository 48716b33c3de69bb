"""Fan-out: which chats are owed which stories, exactly once, on both databases."""

from __future__ import annotations

import json
from datetime import timedelta

from sqlalchemy import Engine
from sqlmodel import Session, col, select

from bot.chat.fanout import (
    Audience,
    announce_new_stories,
    digest_now,
    enqueue_broadcast,
    enqueue_push,
    plan_push,
    run_digests,
    wants,
)
from bot.chat.matching import parse_words, text_words
from storage import chats as chat_queries
from storage.models import Delivery, OutboxItem, Story, utcnow
from tests.support.seed import add_chat, add_feed, add_story

ALICE, BOB, CAROL, DAVE = 101, 102, 103, 104


def rows(session: Session) -> list[OutboxItem]:
    return list(session.exec(select(OutboxItem).order_by(col(OutboxItem.id))).all())


def stories_of(item: OutboxItem) -> list[int]:
    return [int(i) for i in json.loads(item.payload)["stories"]]


def test_wants_follows_feeds_alerts_and_filters() -> None:
    words = text_words("Élections municipales à Lyon: la gauche l'emporte")
    everything = Audience(1, 0, all_feeds=True)
    assert wants(everything, frozenset({7}), words)
    assert wants(Audience(1, 0, feed_ids=frozenset({7})), frozenset({7}), words)
    assert not wants(Audience(1, 0, feed_ids=frozenset({8})), frozenset({7}), words)
    alert = Audience(1, 0, alerts=(tuple(parse_words("election lyon")),))
    assert wants(alert, frozenset({8}), words)
    assert not wants(Audience(1, 0, alerts=(("marseille",),)), frozenset({7}), words)
    excluded = Audience(1, 0, all_feeds=True, excluded=("lyon",))
    required = Audience(1, 0, all_feeds=True, required=("sport",))
    assert not wants(excluded, frozenset({7}), words)
    assert not wants(required, frozenset({7}), words)


def test_new_story_is_owed_to_each_matching_chat_once(engine: Engine) -> None:
    with Session(engine) as session:
        world, sport = add_feed(session, "world"), add_feed(session, "sport")
        add_chat(session, ALICE)  # all feeds, instant
        add_chat(session, BOB, feed_id=sport)
        add_chat(session, CAROL, keywords="volcano")
        add_chat(session, DAVE, mode="digest")
        quake = add_story(session, world, "Volcano erupts in Iceland", "Lava reached the town.")
        match = add_story(session, sport, "Cup final tonight", "Both teams are ready.")
        result = announce_new_stories(session)
        session.commit()
        assert (result.stories, result.owed) == (2, 6)
        owed = {
            (d.chat_id, d.story_id, d.outbox_id is not None)
            for d in session.exec(select(Delivery)).all()
        }
        assert owed == {
            (ALICE, quake, True),
            (ALICE, match, True),
            (BOB, match, True),
            (CAROL, quake, True),
            (DAVE, quake, False),  # waits for the digest
            (DAVE, match, False),
        }
        assert sorted((r.chat_id, r.kind) for r in rows(session)) == [
            (ALICE, "brief"),
            (ALICE, "brief"),
            (BOB, "brief"),
            (CAROL, "brief"),
        ]
        assert all(s.announced_at is not None for s in session.exec(select(Story)).all())
        again = announce_new_stories(session)
        assert (again.stories, again.owed, len(rows(session))) == (0, 0, 4)


def test_a_story_joined_by_another_publisher_is_not_sent_again(engine: Engine) -> None:
    with Session(engine) as session:
        feed = add_feed(session, "world")
        add_chat(session, ALICE)
        story = add_story(session, feed, "Storm hits coast", "Winds of 150 km/h.")
        announce_new_stories(session)
        add_story(session, feed, "Storm batters the coast", "Gusts of 150 km/h.", story_id=story)
        assert announce_new_stories(session).owed == 0
        assert len(rows(session)) == 1


def test_a_burst_of_stories_becomes_one_digest_for_an_instant_chat(engine: Engine) -> None:
    with Session(engine) as session:
        feed = add_feed(session, "dump")
        add_chat(session, ALICE)
        ids = [add_story(session, feed, f"Item {n}", f"Body number {n}.") for n in range(8)]
        result = announce_new_stories(session, backlog=5)
        session.commit()
        [item] = rows(session)
        assert (item.kind, sorted(stories_of(item)), result.queued) == ("digest", ids, 1)


def test_inactive_chats_and_chats_without_subscriptions_get_nothing(engine: Engine) -> None:
    with Session(engine) as session:
        feed = add_feed(session, "world")
        add_chat(session, ALICE)
        add_chat(session, BOB, subscribe=False)
        chat_queries.set_active(session, ALICE, False)
        session.commit()
        add_story(session, feed, "Quiet day", "Nothing happened.")
        assert announce_new_stories(session).owed == 0


def test_the_channel_gets_every_story(engine: Engine) -> None:
    with Session(engine) as session:
        feed = add_feed(session, "world")
        story = add_story(session, feed, "Channel news", "For the channel.")
        announce_new_stories(session, channel_id=-1001234567890)
        [item] = rows(session)
        assert (item.chat_id, stories_of(item)) == (-1001234567890, [story])


def test_digest_chats_get_waiting_stories_when_their_time_passes(engine: Engine) -> None:
    with Session(engine) as session:
        feed = add_feed(session, "world")
        two_days_ago = utcnow() - timedelta(days=2)
        add_chat(session, DAVE, mode="digest", digest_times="08:00", last_digest_at=two_days_ago)
        ids = [add_story(session, feed, f"Story {n}", f"Text {n}.") for n in range(3)]
        announce_new_stories(session)
        assert rows(session) == []
        assert run_digests(session) == 1
        session.commit()
        [item] = rows(session)
        assert (item.kind, stories_of(item)) == ("digest", ids)
        assert run_digests(session) == 0  # nothing waits, and the time was consumed


def test_digest_not_due_keeps_stories_waiting_and_digest_now_sends_them(engine: Engine) -> None:
    with Session(engine) as session:
        feed = add_feed(session, "world")
        add_chat(session, DAVE, mode="digest", last_digest_at=utcnow())  # just had one
        add_story(session, feed, "Later story", "Text.")
        announce_new_stories(session)
        assert run_digests(session) == 0
        assert digest_now(session, DAVE) == 1
        assert digest_now(session, DAVE) == 0
        assert [r.kind for r in rows(session)] == ["digest"]


def test_switching_to_instant_releases_waiting_stories(engine: Engine) -> None:
    with Session(engine) as session:
        feed = add_feed(session, "world")
        add_chat(session, DAVE, mode="digest")
        story = add_story(session, feed, "Waiting story", "Text.")
        announce_new_stories(session)
        chat = chat_queries.get_chat(session, DAVE)
        assert chat is not None
        chat.mode = "instant"
        session.add(chat)
        session.commit()
        assert run_digests(session) == 1
        [item] = rows(session)
        assert (item.kind, stories_of(item)) == ("brief", [story])


def test_push_sends_what_each_chat_has_not_had_and_only_once(engine: Engine) -> None:
    with Session(engine) as session:
        world, sport = add_feed(session, "world"), add_feed(session, "sport")
        old = add_story(session, world, "Old world story", "Text.")
        add_chat(session, ALICE)
        add_chat(session, BOB, feed_id=sport)
        announce_new_stories(session)  # ALICE is owed the old story already
        session.commit()
        newer = add_story(session, sport, "Sport story", "Match report.")
        plan = plan_push(session)
        assert plan.chat_count == 2
        assert plan.owed[(BOB, 0)] == [newer]
        assert plan.owed[(ALICE, 0)] == [newer]
        assert (ALICE, 0, old) in {
            (d.chat_id, d.topic_id, d.story_id) for d in session.exec(select(Delivery)).all()
        }
        assert enqueue_push(session, plan) == 2
        session.commit()
        assert enqueue_push(session, plan) == 0  # a repeated confirm owes nothing twice
        assert plan_push(session).chat_count == 0
        assert {r.kind for r in rows(session)} >= {"push"}


def test_push_limited_to_one_feed_and_per_chat_count(engine: Engine) -> None:
    with Session(engine) as session:
        world, sport = add_feed(session, "world"), add_feed(session, "sport")
        for n in range(4):
            add_story(session, world, f"World {n}", "Text.")
        add_story(session, sport, "Sport", "Text.")
        announce_new_stories(session)
        add_chat(session, ALICE)
        plan = plan_push(session, feed_id=world, per_chat=3)
        assert len(plan.owed[(ALICE, 0)]) == 3
        assert all(sid in plan.story_ids for sid in plan.owed[(ALICE, 0)])
        session.commit()
        sport_only = plan_push(session, feed_id=sport)
        assert len(sport_only.owed[(ALICE, 0)]) == 1


def test_broadcast_reaches_every_active_chat(engine: Engine) -> None:
    with Session(engine) as session:
        add_chat(session, ALICE)
        add_chat(session, BOB, subscribe=False)
        add_chat(session, CAROL)
        chat_queries.set_active(session, CAROL, False)
        assert enqueue_broadcast(session, "<b>Maintenance</b> tonight") == 2
        session.commit()
        assert sorted(r.chat_id for r in rows(session)) == [ALICE, BOB]
