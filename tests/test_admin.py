"""The admin console through the real Application and the Bot API emulator: refusals to
non-admins, /push and /broadcast previews with their buttons, /addfeed against a local HTTP
server (direct feed and autodiscovery), /removefeed. (/feedstatus and /stats: test_stats_cmds.py)"""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func, update
from sqlmodel import Session, col, select

from bot.chat.admin import ADMIN_COMMANDS, COMMANDS
from bot.ingest.html_text import html_to_text
from storage import chats as chat_queries
from storage.articles import NewArticle, insert_articles
from storage.models import Article, Delivery, Feed, OutboxItem, Story, Subscription, utcnow
from tests.support.botapi import BotAPIEmulator, SentMessage
from tests.support.botharness import (
    ADMIN,
    GROUP,
    USER,
    BotHarness,
    wait_for,
)
from tests.support.corpus import feed_entries
from tests.support.feedserver import FeedServer

REFUSAL = "Sorry, this is for the bot's administrators only."
READERS = (600_001, 600_002)  # chats that receive pushes and broadcasts
COWBOY = "cowboyprogrammer-hugo-en-snapshot-a.rss"
RSC = "research-rsc-en-2019.atom"
VERGE_PAGE = "/2019/11/19/20973355/noah-hawley-star-trek-4-chris-pine-write-direct-jj-abrams"

Post = tuple[str, str]  # (title, plain text)


@pytest.fixture(scope="session")
def posts(corpus_dir: Path) -> dict[str, list[Post]]:
    return {
        name: [(title, html_to_text(body)) for title, body in feed_entries(corpus_dir, name)]
        for name in (COWBOY, RSC)
    }


# --- seeding -----------------------------------------------------------------------------------


def add_feed(engine: Engine, url: str, title: str | None = None, **state: Any) -> int:
    with Session(engine) as session:
        feed = Feed(url=url, url_key=url.split("://", 1)[1], title=title, **state)
        session.add(feed)
        session.commit()
        assert feed.id is not None
        return feed.id


def add_stories(engine: Engine, feed_id: int, posts: list[Post]) -> list[int]:
    """One story per post, already announced (as if stored before the chats subscribed), so
    only a /push can owe them."""
    items = [
        NewArticle(
            {
                "feed_id": feed_id,
                "guid": f"{feed_id}-{n}",
                "url": f"https://example.com/{feed_id}/{n}",
                "url_key": f"example.com/{feed_id}/{n}",
                "title": title,
                "text": text,
                "content_hash": hashlib.sha256(f"{feed_id}{n}{text}".encode()).hexdigest(),
                "published_at": utcnow() - timedelta(hours=n),
                "language": "en",
            }
        )
        for n, (title, text) in enumerate(posts)
    ]
    with Session(engine) as session:
        story_ids = [story for _, story in insert_articles(session, items)]
        session.execute(
            update(Story).where(col(Story.id).in_(story_ids)).values(announced_at=utcnow())
        )
        session.commit()
    return story_ids


def add_chat(
    engine: Engine, chat_id: int, *, feed_id: int | None = None, subscribed: bool = True
) -> None:
    with Session(engine) as session:
        chat_queries.register_chat(session, chat_queries.ChatInfo(chat_id, "private", "r", "en"))
        if subscribed:
            chat_queries.subscribe(session, chat_id, feed_id=feed_id)
        session.commit()


def outbox_rows(engine: Engine) -> list[OutboxItem]:
    with Session(engine) as session:
        return list(session.exec(select(OutboxItem).order_by(col(OutboxItem.id))).all())


def feed_urls(engine: Engine) -> list[str]:
    with Session(engine) as session:
        return list(session.exec(select(Feed.url).order_by(col(Feed.id))).all())


def buttons(message: SentMessage) -> list[str]:
    markup = message.reply_markup or {}
    return [b["callback_data"] for row in markup.get("inline_keyboard", []) for b in row]


def in_chat(chat: str) -> tuple[int, dict[str, Any]]:
    """Where the admin types: their private chat, or a group (with their user id)."""
    if chat == "private":
        return ADMIN, {}
    return GROUP, {"user_id": ADMIN, "chat_type": "group"}


async def edited(message: SentMessage) -> str:
    await wait_for(lambda: message.edits > 0)
    return message.plain_text or ""


# --- refusals ----------------------------------------------------------------------------------


def test_admin_commands_are_only_in_the_admin_menu() -> None:
    assert COMMANDS == []
    names = {name for name, _ in ADMIN_COMMANDS}
    assert names == {"push", "broadcast", "addfeed", "removefeed"}


@pytest.mark.parametrize("chat_type", ["private", "group"])
async def test_every_admin_command_is_refused_to_a_non_admin_with_no_effect(
    bot: BotHarness,
    engine: Engine,
    server: FeedServer,
    posts: dict[str, list[Post]],
    chat_type: str,
) -> None:
    feed_id = add_feed(engine, "https://example.com/feed", "Example")
    add_stories(engine, feed_id, posts[COWBOY][:3])
    add_chat(engine, READERS[0])
    chat, extra = (USER, {}) if chat_type == "private" else (GROUP, {"chat_type": "group"})
    commands = [
        "/push",
        f"/push {feed_id}",
        "/broadcast Hello everyone",
        f"/addfeed {server.url('feeds/' + COWBOY)}",
        f"/removefeed {feed_id}",
        "/feedstatus",
        "/stats",
    ]
    for command in commands:
        answer = await bot.ask(chat, command, user_id=USER, **extra)
        assert answer.plain_text == REFUSAL, command
        assert not buttons(answer)
    assert feed_urls(engine) == ["https://example.com/feed"]
    assert server.hits == {}
    assert outbox_rows(engine) == []
    assert bot.runtime.pending == {}


async def test_confirm_buttons_are_refused_to_a_non_admin_and_stay_valid_for_the_admin(
    bot: BotHarness, emu: BotAPIEmulator, engine: Engine, posts: dict[str, list[Post]]
) -> None:
    feed_id = add_feed(engine, "https://example.com/feed", "Example")
    add_stories(engine, feed_id, posts[COWBOY][:2])
    add_chat(engine, READERS[0])
    group = {"user_id": ADMIN, "chat_type": "group"}
    push = await bot.ask(GROUP, "/push", **group)
    broadcast = await bot.ask(GROUP, "/broadcast Maintenance tonight", **group)
    for preview in (push, broadcast):
        confirm, cancel = buttons(preview)
        for data in (confirm, cancel):
            answer = await bot.press(GROUP, data, preview.message_id, user_id=USER)
            assert answer["text"] == REFUSAL and answer["show_alert"] is True
        assert preview.edits == 0
    assert outbox_rows(engine) == []
    # The refusal took nothing away from the admin: the same buttons still work for them.
    await bot.press(GROUP, buttons(push)[0], push.message_id, user_id=ADMIN)
    await bot.press(GROUP, buttons(broadcast)[0], broadcast.message_id, user_id=ADMIN)
    assert await edited(push) == "Push queued for 1 chat."
    assert await edited(broadcast) == "Broadcast queued for 1 chat."
    assert sorted(row.kind for row in outbox_rows(engine)) == ["broadcast", "push"]


# --- /push -------------------------------------------------------------------------------------


@pytest.mark.parametrize("chat_type", ["private", "group"])
async def test_push_previews_then_queues_on_confirm_and_the_chats_receive_it(
    bot: BotHarness,
    emu: BotAPIEmulator,
    engine: Engine,
    posts: dict[str, list[Post]],
    chat_type: str,
) -> None:
    chat, extra = in_chat(chat_type)
    feed_id = add_feed(engine, "https://cowboyprogrammer.org/index.xml", "Cowboy Programmer")
    shown = posts[COWBOY][:5]
    story_ids = add_stories(engine, feed_id, shown)
    add_chat(engine, READERS[0])
    add_chat(engine, READERS[1], feed_id=feed_id)
    add_chat(engine, 600_003, subscribed=False)  # owed nothing: not counted

    preview = await bot.ask(chat, "/push", **extra)
    text = preview.plain_text or ""
    assert text.startswith("Push preview. Stories: 5. Chats: 2.")
    # The newest three stories are previewed (same update time: highest id first).
    title_of = dict(zip(story_ids, (title for title, _ in shown), strict=True))
    newest = sorted(story_ids, reverse=True)
    assert all(title_of[s] in text for s in newest[:3])
    assert not any(title_of[s] in text for s in newest[3:])
    confirm, cancel = buttons(preview)
    assert confirm.startswith("push:ok:") and cancel.startswith("push:no:")
    assert outbox_rows(engine) == []

    answer = await bot.press(chat, confirm, preview.message_id, user_id=ADMIN)
    assert answer["text"] == "Queued."
    assert await edited(preview) == "Push queued for 2 chats."
    assert not buttons(preview)
    rows = outbox_rows(engine)
    assert sorted(r.chat_id for r in rows) == sorted(READERS) and {r.kind for r in rows} == {"push"}
    assert all(sorted(json.loads(r.payload)["stories"]) == sorted(story_ids) for r in rows)

    def delivered() -> bool:
        return all(
            any(title_of[newest[0]] in (m.plain_text or "") for m in emu.sent_to(reader))
            for reader in READERS
        )

    await wait_for(delivered, timeout=20)
    assert emu.sent_to(600_003) == []

    # The same Confirm again is stale: nothing more is queued.
    again = await bot.press(chat, confirm, preview.message_id, user_id=ADMIN)
    assert again["text"] == "This preview has expired, send /push again."
    assert len(outbox_rows(engine)) == 2
    # Everything owed has been pushed: a new /push has nothing to offer.
    nothing = await bot.ask(chat, "/push", **extra)
    assert nothing.plain_text == "Nothing to push: no chat is owed a story right now."
    assert not buttons(nothing)


async def test_push_of_one_feed_only_offers_and_queues_that_feeds_stories(
    bot: BotHarness, engine: Engine, posts: dict[str, list[Post]]
) -> None:
    cowboy = add_feed(engine, "https://cowboyprogrammer.org/index.xml", "Cowboy")
    rsc = add_feed(engine, "https://research.swtch.com/feed.atom", "research!rsc")
    add_stories(engine, cowboy, posts[COWBOY][:4])
    rsc_stories = add_stories(engine, rsc, posts[RSC][:2])
    add_chat(engine, READERS[0])
    add_chat(engine, READERS[1], feed_id=cowboy)  # wants nothing of rsc

    preview = await bot.ask(ADMIN, f"/push {rsc}")
    assert (preview.plain_text or "").startswith("Push preview. Stories: 2. Chats: 1.")
    assert posts[RSC][0][0] in (preview.plain_text or "")
    assert posts[COWBOY][0][0] not in (preview.plain_text or "")
    await bot.press(ADMIN, buttons(preview)[0], preview.message_id)
    assert await edited(preview) == "Push queued for 1 chat."
    rows = outbox_rows(engine)
    assert [(r.chat_id, sorted(json.loads(r.payload)["stories"])) for r in rows] == [
        (READERS[0], sorted(rsc_stories))
    ]
    with Session(engine) as session:
        owed = session.exec(select(Delivery.chat_id, Delivery.story_id)).all()
    assert sorted(owed) == sorted((READERS[0], s) for s in rsc_stories)


async def test_push_answers_unknown_feeds_bad_ids_and_nothing_owed(
    bot: BotHarness, engine: Engine, posts: dict[str, list[Post]]
) -> None:
    feed_id = add_feed(engine, "https://example.com/feed", "Example")
    missing = await bot.ask(ADMIN, f"/push {feed_id + 40}")
    assert missing.plain_text == f"There is no feed #{feed_id + 40} (see /feedstatus)."
    usage = await bot.ask(ADMIN, "/push latest")
    assert (usage.plain_text or "").startswith("Usage: /push [FEED_ID]")
    add_stories(engine, feed_id, posts[COWBOY][:2])  # but no chat subscribes
    add_chat(engine, READERS[0], subscribed=False)
    nothing = await bot.ask(ADMIN, f"/push #{feed_id}")
    assert nothing.plain_text == "Nothing to push: no chat is owed a story right now."
    assert not buttons(missing) and not buttons(usage) and not buttons(nothing)
    assert bot.runtime.pending == {}


async def test_cancel_queues_nothing_and_forged_or_stale_tokens_are_refused(
    bot: BotHarness, engine: Engine, posts: dict[str, list[Post]]
) -> None:
    feed_id = add_feed(engine, "https://example.com/feed", "Example")
    add_stories(engine, feed_id, posts[COWBOY][:2])
    add_chat(engine, READERS[0])
    preview = await bot.ask(ADMIN, "/push")
    confirm = buttons(preview)[0]
    token = confirm.rsplit(":", 1)[1]
    expired = "This preview has expired, send /push again."

    forged = [
        f"push:ok:{token}x",
        "push:ok:",
        "push:maybe:" + token,
        "push:ok:a:b",
        f"bc:ok:{token}",
    ]
    for data in forged:
        answer = await bot.press(ADMIN, data, preview.message_id)
        assert answer["show_alert"] is True, data
        assert answer["text"].startswith("This preview has expired"), data
    # The admin's token pressed in another chat is not this preview's.
    other = await bot.press(GROUP, confirm, 1, user_id=ADMIN)
    assert other["text"] == expired

    broadcast = await bot.ask(ADMIN, "/broadcast hi")
    bc_confirm, bc_cancel = buttons(broadcast)
    cancelled = await bot.press(ADMIN, bc_cancel, broadcast.message_id)
    assert cancelled["text"] == "Cancelled."
    assert await edited(broadcast) == "Cancelled: nothing was sent."
    assert not buttons(broadcast)
    stale = await bot.press(ADMIN, bc_confirm, broadcast.message_id)
    assert stale["text"] == "This preview has expired, send /broadcast again."
    assert outbox_rows(engine) == []


# --- /broadcast --------------------------------------------------------------------------------


@pytest.mark.parametrize("chat_type", ["private", "group"])
async def test_broadcast_previews_the_escaped_text_and_queues_it_for_every_active_chat(
    bot: BotHarness, emu: BotAPIEmulator, engine: Engine, chat_type: str
) -> None:
    chat, extra = in_chat(chat_type)
    for reader in READERS:
        add_chat(engine, reader, subscribed=False)
    add_chat(engine, 600_009)
    with Session(engine) as session:
        chat_queries.set_active(session, 600_009, False)  # blocked the bot: not a recipient
        session.commit()
    text = "New <b>server</b> & faster briefs\nSee you 1 < 2 > 0"

    preview = await bot.ask(chat, f"/broadcast {text}", **extra)
    assert preview.plain_text == f"Broadcast to 2 chats:\n\n{text}"
    confirm, cancel = buttons(preview)
    assert confirm.startswith("bc:ok:") and cancel.startswith("bc:no:")
    assert outbox_rows(engine) == []
    await bot.press(chat, confirm, preview.message_id, user_id=ADMIN)
    assert await edited(preview) == "Broadcast queued for 2 chats."
    rows = outbox_rows(engine)
    assert sorted(r.chat_id for r in rows) == sorted(READERS)
    assert {r.kind for r in rows} == {"broadcast"}

    def received() -> bool:
        return all(any(m.plain_text == text for m in emu.sent_to(r)) for r in READERS)

    await wait_for(received, timeout=20)
    assert emu.sent_to(600_009) == []
    usage = await bot.ask(chat, "/broadcast", **extra)
    assert (usage.plain_text or "").startswith("Usage: /broadcast TEXT")


async def test_broadcast_too_long_for_one_message_is_refused(bot: BotHarness) -> None:
    answer = await bot.ask(ADMIN, "/broadcast " + "word " * 900)
    assert (answer.plain_text or "").startswith("That message is too long: at most 40")
    assert not buttons(answer) and bot.runtime.pending == {}


# --- /addfeed, /removefeed ---------------------------------------------------------------------


@pytest.mark.parametrize("chat_type", ["private", "group"])
async def test_addfeed_adds_a_direct_feed_url_once(
    bot: BotHarness, engine: Engine, server: FeedServer, chat_type: str
) -> None:
    chat, extra = in_chat(chat_type)
    url = server.url("feeds/" + COWBOY)
    added = await bot.ask(chat, f"/addfeed {url}", **extra)
    with Session(engine) as session:
        feed = session.exec(select(Feed)).one()
    assert added.plain_text == f"Added feed #{feed.id}: {url}"
    assert feed.url == url
    # The same feed spelled differently (https): known by its key, so not even fetched.
    again = await bot.ask(chat, f"/addfeed {url.replace('http://', 'https://')}", **extra)
    assert again.plain_text == f"Already there as feed #{feed.id}: {url}"
    assert server.hits["/feeds/" + COWBOY] == 1
    assert feed_urls(engine) == [url]


async def test_addfeed_discovers_the_feed_of_a_real_article_page(
    bot: BotHarness, engine: Engine, server: FeedServer, corpus_dir: Path
) -> None:
    # The Verge's article links its feed relatively: <link rel="alternate" href="/rss/index.xml">.
    server.alias(VERGE_PAGE, corpus_dir / "articles" / "theverge-com-785affa2.html")
    server.alias("/rss/index.xml", corpus_dir / "feeds" / "theverge-en-2017-01.atom")
    added = await bot.ask(ADMIN, f"/addfeed {server.url(VERGE_PAGE)}")
    feed_url = server.url("rss/index.xml")
    with Session(engine) as session:
        feed_id = session.exec(select(Feed.id)).one()
    assert added.plain_text == f"Added feed #{feed_id}: {feed_url}"
    assert feed_urls(engine) == [feed_url]
    # The same site page again finds the feed that is already there.
    again = await bot.ask(ADMIN, f"/addfeed {server.url(VERGE_PAGE)}")
    assert again.plain_text == f"Already there as feed #{feed_id}: {feed_url}"


async def test_addfeed_skips_feed_like_links_that_are_not_feeds(
    bot: BotHarness, engine: Engine, server: FeedServer
) -> None:
    page = """<html><body><a href="/share/feed?u=1">Share</a> <a href="/sitemap.xml">Map</a>
      <a href="/feeds/heise-online-de.rdf">RDF</a></body></html>"""
    server.route("/site/", body=page, headers={"Content-Type": "text/html; charset=utf-8"})
    server.route("/sitemap.xml", body="<urlset/>", headers={"Content-Type": "text/xml"})
    added = await bot.ask(ADMIN, f"/addfeed {server.url('site/')}")
    assert (added.plain_text or "").endswith(server.url("feeds/heise-online-de.rdf"))
    assert feed_urls(engine) == [server.url("feeds/heise-online-de.rdf")]


async def test_addfeed_explains_each_failure_and_adds_nothing(
    bot: BotHarness, engine: Engine, server: FeedServer
) -> None:
    server.route("/plain/", body="<html><head><title>x</title></head><body>hi</body></html>")
    server.route("/broken/", body='<link rel="alternate" type="application/rss+xml" href="/gone">')
    cases = {
        "/addfeed not-a-url": "That is not a web address: not-a-url.",
        f"/addfeed {server.url('missing.rss')}": (
            f"Could not fetch {server.url('missing.rss')}: HTTP 404 Not Found"
        ),
        f"/addfeed {server.url('plain/')}": f"No feed found on this page: {server.url('plain/')}",
        f"/addfeed {server.url('broken/')}": (
            f"No feed found on this page: it links to {server.url('gone')}, "
            "which failed (HTTP 404 Not Found)."
        ),
        "/addfeed": "Usage: /addfeed URL",
    }
    for command, expected in cases.items():
        answer = await bot.ask(ADMIN, command)
        assert (answer.plain_text or "").startswith(expected), command
    assert feed_urls(engine) == []


@pytest.mark.parametrize("chat_type", ["private", "group"])
async def test_removefeed_removes_the_feed_with_its_articles_only(
    bot: BotHarness, engine: Engine, posts: dict[str, list[Post]], chat_type: str
) -> None:
    chat, extra = in_chat(chat_type)
    gone = add_feed(engine, "https://cowboyprogrammer.org/index.xml", "Cowboy <Programmer>")
    kept = add_feed(engine, "https://research.swtch.com/feed.atom", "research!rsc")
    add_stories(engine, gone, posts[COWBOY][:3])
    add_stories(engine, kept, posts[RSC][:2])
    add_chat(engine, READERS[0], feed_id=gone)

    answer = await bot.ask(chat, f"/removefeed {gone}", **extra)
    assert answer.plain_text == f"Removed feed #{gone} (Cowboy <Programmer>) and its 3 articles."
    with Session(engine) as session:
        assert session.exec(select(Feed.id)).all() == [kept]
        assert set(session.exec(select(Article.feed_id)).all()) == {kept}
        assert session.exec(select(func.count()).select_from(Article)).one() == 2
        assert session.exec(select(Subscription)).all() == []
    again = await bot.ask(chat, f"/removefeed {gone}", **extra)
    assert again.plain_text == f"There is no feed {gone} (see /feedstatus)."
    usage = await bot.ask(chat, "/removefeed", **extra)
    assert (usage.plain_text or "").startswith("Usage: /removefeed FEED_ID")
