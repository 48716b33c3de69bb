"""The delivery worker, run by the real Application against the Bot API emulator.

Each test queues outbox rows, lets the worker started by ``running_bot`` drain them, and
counts what happened three ways: the emulator's record of requests (``call_log``, ``sent``),
the outbox rows (state, attempts, last_error, message_id) and ``Deliverer.counters``.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import logging
import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, update
from sqlmodel import Session, col, select

from bot.chat.delivery import Deliverer, render_item
from bot.observe.counters import DeliveryCounters
from storage import chats as chat_queries
from storage import outbox
from storage.articles import NewArticle, insert_articles
from storage.feeds import add_feed
from storage.models import Chat, OutboxItem, Story, Subscription, utcnow
from tests.support.botapi import BotAPIEmulator, CallRecord
from tests.support.botharness import (
    ADMIN,
    FORUM,
    TOPIC,
    USER,
    BotHarness,
    bot_settings,
    running_bot,
    wait_for,
)

OLD_GROUP, NEW_GROUP = -4001, -1_004_001


@pytest.fixture
def limited() -> Iterator[BotAPIEmulator]:
    """An emulator that answers 429 like Telegram when the bot sends too fast."""
    with BotAPIEmulator(enforce_limits=True) as server:
        yield server


# -- helpers ----------------------------------------------------------------------------------


def add_chat(
    engine: Engine,
    chat_id: int,
    chat_type: str = "private",
    *,
    active: bool = True,
    failures: int = 0,
    subscribed: bool = False,
) -> None:
    with Session(engine) as session:
        info = chat_queries.ChatInfo(chat_id, chat_type, f"chat {chat_id}", "en")
        chat, _ = chat_queries.register_chat(session, info)
        chat.active, chat.failures = active, failures
        session.add(chat)
        if subscribed:
            chat_queries.subscribe(session, chat_id)
        session.commit()


def queue(
    engine: Engine,
    chat_id: int,
    html: str,
    *,
    topic_id: int = 0,
    kind: str = "broadcast",
    payload: dict[str, Any] | None = None,
) -> int:
    with Session(engine) as session:
        row_id = outbox.enqueue(session, chat_id, topic_id, kind, payload or {"html": html})
        session.commit()
    return row_id


def row(engine: Engine, row_id: int) -> OutboxItem:
    with Session(engine) as session:
        found = session.get(OutboxItem, row_id)
        assert found is not None
        return found


def chat(engine: Engine, chat_id: int) -> Chat:
    with Session(engine) as session:
        found = session.get(Chat, chat_id)
        assert found is not None
        return found


def make_due(bot: BotHarness, *row_ids: int) -> None:
    """Skip a row's back-off instead of waiting it out, and wake the worker."""
    with Session(bot.engine) as session:
        session.execute(
            update(OutboxItem)
            .where(col(OutboxItem.id).in_(row_ids))
            .values(next_attempt_at=utcnow() - timedelta(seconds=1))
        )
        session.commit()
    bot.runtime.outbox_ready.set()


async def settled(bot: BotHarness, *row_ids: int, timeout: float = 10.0) -> list[OutboxItem]:
    """Wait until none of the rows is pending and the worker is idle (its counters are
    updated after the row is written); the rows."""
    bot.runtime.outbox_ready.set()

    def done() -> list[OutboxItem] | None:
        if deliverer(bot).in_flight:
            return None
        rows = [row(bot.engine, i) for i in row_ids]
        return rows if all(r.state != outbox.PENDING for r in rows) else None

    result: list[OutboxItem] = await wait_for(done, timeout)
    return result


def outbox_payload(item: OutboxItem) -> Any:
    return json.loads(item.payload)


async def attempted(bot: BotHarness, row_id: int, attempts: int) -> OutboxItem:
    bot.runtime.outbox_ready.set()
    found: OutboxItem = await wait_for(
        lambda: (
            not deliverer(bot).in_flight
            and (r := row(bot.engine, row_id)).attempts >= attempts
            and r
        )
    )
    return found


def deliverer(bot: BotHarness) -> Deliverer:
    found = bot.runtime.deliverer
    assert isinstance(found, Deliverer)
    return found


def counters(bot: BotHarness) -> DeliveryCounters:
    return deliverer(bot).counters


def sends(emu: BotAPIEmulator, chat_id: int | None = None) -> list[CallRecord]:
    """sendMessage requests (answered or refused), optionally to one chat."""
    return [
        c
        for c in emu.call_log
        if c.method == "sendMessage" and (chat_id is None or c.chat_id == chat_id)
    ]


def texts(emu: BotAPIEmulator, chat_id: int) -> list[str | None]:
    return [m.plain_text for m in emu.sent_to(chat_id)]


def add_stories(engine: Engine, count: int, *, long: bool = False) -> list[int]:
    """Stored, already announced stories (one article each)."""
    with Session(engine) as session:
        feed = add_feed(session, "https://news.example/feed", "news.example/feed", title="Daily")
        assert feed.id is not None
        feed_id = feed.id
    filler = " ".join(
        f"Council member {n} argued that the budget for road repairs must grow by {n} percent."
        for n in range(12)
    )
    items = []
    for n in range(count):
        title = f"Story {n}: the city council votes on the new budget"
        if long:
            title += " after a long debate about roads, schools, parks and the harbour" * 3
        text = f"The council met on day {n}. " + (filler if long else "It voted yes.")
        items.append(
            NewArticle(
                {
                    "feed_id": feed_id,
                    "guid": f"g{n}",
                    "url": f"https://news.example/{n}",
                    "url_key": f"news.example/{n}",
                    "title": title,
                    "text": text,
                    "content_hash": hashlib.sha256(f"{n}{text}".encode()).hexdigest(),
                    "published_at": utcnow() - timedelta(minutes=n),
                    "language": "en",
                }
            )
        )
    with Session(engine) as session:
        ids = [story for _, story in insert_articles(session, items)]
        session.execute(update(Story).where(col(Story.id).in_(ids)).values(announced_at=utcnow()))
        session.commit()
    return ids


# -- sending ----------------------------------------------------------------------------------


async def test_queued_rows_are_sent_in_order_and_marked_with_telegrams_message_id(
    emu: BotAPIEmulator, engine: Engine, database_url: str
) -> None:
    add_chat(engine, FORUM, "supergroup")
    [story] = add_stories(engine, 1)
    ids = [queue(engine, USER, f"<b>News {n}</b> &amp; more") for n in range(2)]
    ids.append(queue(engine, FORUM, "<i>In the topic</i>", topic_id=TOPIC))
    ids.append(queue(engine, ADMIN, "", kind="brief", payload={"stories": [story]}))
    async with running_bot(emu, bot_settings(emu, database_url), engine) as bot:
        rows = await settled(bot, *ids)
        assert counters(bot).sent == 4
    assert {r.state for r in rows} == {outbox.SENT}
    assert texts(emu, USER) == ["News 0 & more", "News 1 & more"]
    [in_topic] = emu.sent_to(FORUM)
    assert (in_topic.plain_text, in_topic.message_thread_id) == ("In the topic", TOPIC)
    [brief] = emu.sent_to(ADMIN)
    assert brief.plain_text is not None and brief.plain_text.startswith("Story 0: the city")
    assert brief.link_preview_options == {"is_disabled": False}  # a brief shows its link
    assert in_topic.link_preview_options == {"is_disabled": True}
    sent_ids = [m.message_id for m in [*emu.sent_to(USER), in_topic, brief]]
    assert [r.message_id for r in rows] == sent_ids
    assert all(r.attempts == 0 and r.last_error is None and r.sent_at for r in rows)


async def test_a_row_with_nothing_left_to_send_is_skipped_not_marked_sent(
    emu: BotAPIEmulator, engine: Engine, database_url: str
) -> None:
    gone = queue(engine, USER, "", kind="brief", payload={"stories": [987_654]})
    after = queue(engine, USER, "still here")
    async with running_bot(emu, bot_settings(emu, database_url), engine) as bot:
        first, second = await settled(bot, gone, after)
        assert (counters(bot).skipped, counters(bot).sent) == (1, 1)
    assert (first.state, first.message_id) == (outbox.SKIPPED, None)
    assert second.state == outbox.SENT
    assert texts(emu, USER) == ["still here"]


async def test_rows_of_an_inactive_chat_are_skipped_without_a_send(
    emu: BotAPIEmulator, engine: Engine, database_url: str
) -> None:
    add_chat(engine, USER, active=False)
    ids = [queue(engine, USER, f"n{n}") for n in range(2)]
    other = queue(engine, ADMIN, "for the admin")
    async with running_bot(emu, bot_settings(emu, database_url), engine) as bot:
        rows = await settled(bot, *ids, other)
        assert (counters(bot).skipped, counters(bot).sent) == (2, 1)
    assert [r.state for r in rows] == [outbox.SKIPPED, outbox.SKIPPED, outbox.SENT]
    assert sends(emu, USER) == []


async def test_a_long_digest_sends_every_part_in_order_and_resumes_after_the_last_part_sent(
    emu: BotAPIEmulator, engine: Engine, database_url: str
) -> None:
    stories = add_stories(engine, 24, long=True)
    payload: dict[str, Any] = {"stories": stories}
    emu.fail_next("sendMessage", 500, after=1)  # the second part fails once
    digest = queue(engine, USER, "", kind="digest", payload=payload)
    async with running_bot(emu, bot_settings(emu, database_url), engine) as bot:
        due = outbox.DueItem(digest, USER, 0, "digest", payload, 0, "private", "UTC", None, True)
        with Session(engine) as session:
            parts = [m.text for m in render_item(bot.runtime, session, due)]
        assert len(parts) >= 3
        failed = await attempted(bot, digest, 1)
        assert failed.state == outbox.PENDING
        assert outbox_payload(failed) == {"stories": stories, "part": 1}  # progress recorded
        assert [m.text for m in emu.sent_to(USER)] == parts[:1]
        make_due(bot, digest)
        [done] = await settled(bot, digest)
        # A restart with progress already recorded: parts before it are not sent again.
        resumed = queue(engine, ADMIN, "", kind="digest", payload={**payload, "part": 1})
        await settled(bot, resumed)
        assert (counters(bot).sent, counters(bot).retried) == (2, 1)
    assert [m.text for m in emu.sent_to(USER)] == parts  # every part once, in order
    assert done.message_id == emu.sent_to(USER)[-1].message_id
    assert [m.text for m in emu.sent_to(ADMIN)] == parts[1:]


# -- Telegram's answers -----------------------------------------------------------------------


async def test_429_pauses_every_send_for_retry_after_then_delivers_everything(
    emu: BotAPIEmulator, engine: Engine, database_url: str
) -> None:
    targets = list(range(5001, 5009))
    emu.fail_next("sendMessage", 429, retry_after=1)
    ids = [queue(engine, chat_id, f"hello {chat_id}") for chat_id in targets]
    async with running_bot(emu, bot_settings(emu, database_url), engine) as bot:
        rows = await settled(bot, *ids)
        assert counters(bot).rate_limited == 1
    assert {r.state for r in rows} == {outbox.SENT}
    assert all(texts(emu, c) == [f"hello {c}"] for c in targets)  # nothing lost or doubled
    [refused] = [c for c in sends(emu) if c.status == 429]
    # Sends already on the wire when the 429 came back may land just after it; none later
    # until retry_after has passed, to any chat.
    inside = [c for c in sends(emu) if refused.done_at + 0.05 < c.at < refused.done_at + 1.0]
    assert inside == []
    assert sum(c.status == 200 for c in sends(emu) if c.at > refused.done_at + 1.0) >= 1


async def test_a_blocked_chat_is_made_inactive_and_its_rows_skipped_others_unaffected(
    emu: BotAPIEmulator, engine: Engine, database_url: str
) -> None:
    add_chat(engine, USER)
    add_chat(engine, ADMIN)
    emu.block_chat(USER)
    # One send at a time: later rows of the blocked chat were read before it was blocked.
    settings = bot_settings(emu, database_url, delivery_concurrency=1)
    order = [USER, ADMIN, USER, ADMIN, USER]
    ids = [queue(engine, chat_id, f"n{n}") for n, chat_id in enumerate(order)]
    async with running_bot(emu, settings, engine) as bot:
        rows = await settled(bot, *ids)
        assert (counters(bot).skipped, counters(bot).sent) == (3, 2)
        assert not chat(engine, USER).active and chat(engine, ADMIN).active
        assert [r.state for r in rows] == [outbox.SKIPPED, outbox.SENT] * 2 + [outbox.SKIPPED]
        assert all("blocked" in (r.last_error or "") for r in rows[::2])
        assert len(sends(emu, USER)) == 1  # one refusal; the rest skipped without a send
        assert texts(emu, ADMIN) == ["n1", "n3"]
        # /start again registers the chat: active, and delivered to once Telegram allows it.
        with Session(engine) as session:
            chat_queries.register_chat(session, chat_queries.ChatInfo(USER))
            session.commit()
        assert chat(engine, USER).active
        emu.push_my_chat_member(USER, "member")  # the user unblocked the bot
        [back] = await settled(bot, queue(engine, USER, "welcome back"))
    assert back.state == outbox.SENT and texts(emu, USER) == ["welcome back"]


async def test_a_migrated_group_moves_with_its_subscriptions_and_later_rows(
    emu: BotAPIEmulator, engine: Engine, database_url: str
) -> None:
    add_chat(engine, OLD_GROUP, "group", subscribed=True)
    emu.migrate_chat(OLD_GROUP, NEW_GROUP)
    settings = bot_settings(emu, database_url, delivery_concurrency=1)
    first = queue(engine, OLD_GROUP, "before")
    between = queue(engine, USER, "someone else")
    later = queue(engine, OLD_GROUP, "after")
    async with running_bot(emu, settings, engine) as bot:
        rows = await settled(bot, first, between, later)
        assert counters(bot).migrated == 1
    assert {r.state for r in rows} == {outbox.SENT}
    assert len(sends(emu, OLD_GROUP)) == 1  # refused once; everything else went to the new id
    assert texts(emu, NEW_GROUP) == ["before", "after"]
    assert rows[0].chat_id == rows[2].chat_id == NEW_GROUP
    old, new = chat(engine, OLD_GROUP), chat(engine, NEW_GROUP)
    assert (old.active, new.active, new.type) == (False, True, "supergroup")
    with Session(engine) as session:
        moved = session.exec(select(Subscription.chat_id)).all()
    assert moved == [NEW_GROUP]


async def test_chat_not_found_is_retried_with_backoff_then_the_chat_is_made_inactive(
    emu: BotAPIEmulator, engine: Engine, database_url: str
) -> None:
    add_chat(engine, USER)
    emu.chat_not_found(USER)
    first = queue(engine, USER, "one")
    second = queue(engine, USER, "two")
    async with running_bot(emu, bot_settings(emu, database_url), engine) as bot:
        for attempt in (1, 2):
            found = await attempted(bot, first, attempt)
            assert found.state == outbox.PENDING and "not found" in (found.last_error or "")
            assert found.next_attempt_at > utcnow() + timedelta(seconds=attempt)
            assert chat(engine, USER).failures == attempt and chat(engine, USER).active
            make_due(bot, first)
        rows = await settled(bot, first, second)
        assert (counters(bot).retried, counters(bot).skipped) == (2, 2)
    assert [r.state for r in rows] == [outbox.SKIPPED, outbox.SKIPPED]
    assert not chat(engine, USER).active
    assert len(sends(emu, USER)) == 3  # the first row three times; the second never tried


async def test_a_successful_send_resets_the_not_found_count(
    emu: BotAPIEmulator, engine: Engine, database_url: str
) -> None:
    add_chat(engine, USER, failures=2)  # two "chat not found" earlier; the chat is back
    async with running_bot(emu, bot_settings(emu, database_url), engine) as bot:
        await settled(bot, queue(engine, USER, "hi"))
    assert (chat(engine, USER).failures, chat(engine, USER).active) == (0, True)


async def test_html_telegram_refuses_is_resent_once_as_plain_text_and_logged(
    emu: BotAPIEmulator, engine: Engine, database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    emu.refuse_html("Broken")
    refused = queue(engine, USER, "<b>Broken</b> &amp; co")
    fine = queue(engine, ADMIN, "<b>Fine</b>")
    with caplog.at_level(logging.ERROR, logger="bot.chat.delivery"):
        async with running_bot(emu, bot_settings(emu, database_url), engine) as bot:
            rows = await settled(bot, refused, fine)
            assert (counters(bot).plain_fallbacks, counters(bot).sent) == (1, 2)
    assert {r.state for r in rows} == {outbox.SENT}
    [plain] = emu.sent_to(USER)
    assert (plain.text, plain.parse_mode) == ("Broken & co", None)
    assert [c.status for c in sends(emu, USER)] == [400, 200]
    assert emu.sent_to(ADMIN)[0].parse_mode == "HTML"
    logged = [r for r in caplog.records if r.name == "bot.chat.delivery"]
    assert any("can't parse entities" in r.getMessage().lower() for r in logged)


async def test_server_errors_reschedule_with_backoff_until_delivered(
    emu: BotAPIEmulator, engine: Engine, database_url: str
) -> None:
    emu.fail_next("sendMessage", 500)
    emu.fail_next("sendMessage", 502)
    row_id = queue(engine, USER, "eventually")
    async with running_bot(emu, bot_settings(emu, database_url), engine) as bot:
        first = await attempted(bot, row_id, 1)
        assert first.state == outbox.PENDING and "Internal Server Error" in str(first.last_error)
        assert first.next_attempt_at > utcnow() + timedelta(seconds=1)
        make_due(bot, row_id)
        second = await attempted(bot, row_id, 2)
        assert "Bad Gateway" in str(second.last_error)
        assert second.next_attempt_at > utcnow() + timedelta(seconds=3)  # backing off more
        make_due(bot, row_id)
        [done] = await settled(bot, row_id)
        assert (counters(bot).retried, counters(bot).sent) == (2, 1)
    assert (done.state, done.attempts, done.last_error) == (outbox.SENT, 2, None)
    assert texts(emu, USER) == ["eventually"]


async def test_a_row_waiting_to_be_retried_holds_back_its_chat_but_no_other(
    emu: BotAPIEmulator, engine: Engine, database_url: str
) -> None:
    emu.fail_next("sendMessage", 500)
    first = queue(engine, USER, "first")
    second = queue(engine, USER, "second")
    async with running_bot(emu, bot_settings(emu, database_url), engine) as bot:
        await attempted(bot, first, 1)
        [other] = await settled(bot, queue(engine, ADMIN, "meanwhile"))
        assert other.state == outbox.SENT
        assert row(engine, second).state == outbox.PENDING and texts(emu, USER) == []
        make_due(bot, first)
        await settled(bot, first, second)
    assert texts(emu, USER) == ["first", "second"]


async def test_stopping_during_a_long_pause_is_prompt_and_loses_nothing(
    emu: BotAPIEmulator, engine: Engine, database_url: str
) -> None:
    emu.fail_next("sendMessage", 429, retry_after=30)
    ids = [queue(engine, chat_id, "later") for chat_id in (5001, 5002)]
    async with running_bot(emu, bot_settings(emu, database_url), engine) as bot:
        bot.runtime.outbox_ready.set()
        await wait_for(lambda: counters(bot).rate_limited == 1)
        stopping = time.monotonic()
    assert time.monotonic() - stopping < 5
    assert [(row(engine, i).state, row(engine, i).attempts) for i in ids] == [
        (outbox.PENDING, 0),
        (outbox.PENDING, 0),
    ]
    assert emu.sent == []


# -- pacing and concurrency -------------------------------------------------------------------


async def test_messages_to_one_private_chat_are_at_least_a_second_apart(
    limited: BotAPIEmulator, engine: Engine, database_url: str
) -> None:
    ids = [queue(engine, USER, f"n{n}") for n in range(10)]
    async with running_bot(limited, bot_settings(limited, database_url), engine) as bot:
        await settled(bot, *ids, timeout=20)
    times = [c.at for c in sends(limited, USER)]
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert len(times) == 10 and min(gaps) >= 0.98
    assert times[-1] - times[0] < 12  # paced, not slowed down further
    assert texts(limited, USER) == [f"n{n}" for n in range(10)]
    assert limited.limit_hits == 0


async def test_messages_to_many_chats_go_at_about_thirty_a_second(
    limited: BotAPIEmulator, engine: Engine, database_url: str
) -> None:
    targets = list(range(6001, 6061))
    ids = [queue(engine, chat_id, "broadcast") for chat_id in targets]
    async with running_bot(limited, bot_settings(limited, database_url), engine) as bot:
        rows = await settled(bot, *ids, timeout=20)
        assert counters(bot).sent == 60
    assert {r.state for r in rows} == {outbox.SENT}
    times = sorted(c.at for c in sends(limited))
    assert len(times) == 60 and limited.limit_hits == 0
    assert 1.8 < times[-1] - times[0] < 5  # 59 gaps of 1/30 s; one a second would take 59 s


async def test_never_more_sends_in_flight_than_delivery_concurrency(
    emu: BotAPIEmulator, engine: Engine, database_url: str
) -> None:
    emu.delay_sends(0.2)  # each send takes a while, so the worker's sends overlap
    settings = bot_settings(emu, database_url, delivery_concurrency=3)
    ids = [queue(engine, chat_id, "hi") for chat_id in range(7001, 7013)]
    async with running_bot(emu, settings, engine) as bot:
        await settled(bot, *ids)
    assert emu.max_concurrent_sends == 3
