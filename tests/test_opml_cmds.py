"""OPML in the chat, through the real Application and the Bot API emulator: an admin sends an
OPML file (the bot downloads it with getFile) and its feeds are added; /export answers with a
document that imports back to the same feeds; everyone else is refused, and files that are too
big or not OPML are answered with why. On both databases."""

from __future__ import annotations

from sqlalchemy import Engine
from sqlmodel import Session

from bot.chat.opml_cmds import ADMIN_COMMANDS, COMMANDS, MAX_OPML_BYTES
from bot.ingest.opml import parse_opml
from bot.ingest.urls import canonical_url, url_key
from storage import feeds as feed_queries
from storage.models import Feed
from tests.support.botapi import BotAPIEmulator, SentMessage
from tests.support.botharness import ADMIN, FORUM, GROUP, TOPIC, USER, BotHarness

REFUSAL = "Sorry, this is for the bot's administrators only."
INVALID = [
    "javascript:alert('<b>x</b>')",
    "mailto:news@example.org",
    "ftp://example.org/feed.xml",
    "feed.xml",
    "data:text/xml,<rss/>",
    "file:///etc/passwd",
    "about:blank",
]


def outline(url: str, title: str | None = None) -> str:
    from xml.sax.saxutils import quoteattr

    text = f" text={quoteattr(title)}" if title else ""
    return f'<outline type="rss"{text} xmlUrl={quoteattr(url)}/>'


def opml(*outlines: str) -> bytes:
    body = "\n".join(outlines)
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n<opml version="2.0"><head><title>reader'
        f"</title></head><body>\n{body}\n</body></opml>"
    ).encode()


READER_FILE = opml(
    '<outline text="News">',
    outline("https://www.lemonde.fr/rss/une.xml", "Le Monde & co <à la une>"),
    outline("https://meduza.io/rss/all", "Медуза"),
    "</outline>",
    outline("https://www.heise.de/rss/heise-atom.xml", "heise online"),
    outline("http://heise.de/rss/heise-atom.xml/?utm_source=reader", "heise, again"),
    *(outline(url, "broken") for url in INVALID),
)
ADDED = {
    "https://www.lemonde.fr/rss/une.xml": "Le Monde & co <à la une>",
    "https://meduza.io/rss/all": "Медуза",
    "https://www.heise.de/rss/heise-atom.xml": "heise online",
}


def stored(engine: Engine) -> dict[str, str | None]:
    with Session(engine) as session:
        return {f.url: f.title for f in feed_queries.list_feeds(session)}


def add(engine: Engine, url: str, title: str | None = None, site_url: str | None = None) -> None:
    """A feed as the fetcher leaves it: a canonical URL, its title and its site."""
    canonical = canonical_url(url)
    assert canonical is not None
    feed = Feed(url=canonical, url_key=url_key(canonical), title=title, site_url=site_url)
    with Session(engine) as session:
        session.add(feed)
        session.commit()


async def ask_export(bot: BotHarness, chat_id: int = ADMIN, **kwargs: object) -> SentMessage:
    return await bot.ask(chat_id, "/export", user_id=ADMIN, **kwargs)


def test_import_and_export_are_admin_commands() -> None:
    assert COMMANDS == []
    assert [name for name, _ in ADMIN_COMMANDS] == ["import", "export"]


async def test_an_admin_sends_an_opml_file_and_its_feeds_are_added_with_a_summary(
    bot: BotHarness, emu: BotAPIEmulator
) -> None:
    answer = await bot.upload(ADMIN, ADMIN, "Subscriptions.OPML", READER_FILE)

    assert stored(bot.engine) == ADDED
    assert answer.parse_mode == "HTML"  # and the emulator accepted it: everything escaped
    assert answer.plain_text is not None
    lines = answer.plain_text.splitlines()
    assert lines[:4] == [
        "Imported Subscriptions.OPML",
        "Added: 3",
        "Already there: 1",
        "Invalid: 7",
    ]
    assert lines[4:] == [
        *(f"• {url}: not an http(s) web address" for url in INVALID[:5]),
        "…and 2 more.",
    ]
    assert len(emu.downloads) == 1

    # The same file again adds nothing and says so.
    again = await bot.upload(ADMIN, ADMIN, "Subscriptions.OPML", READER_FILE)
    assert again.plain_text is not None and "Added: 0\nAlready there: 4" in again.plain_text
    assert stored(bot.engine) == ADDED


async def test_export_returns_a_document_that_imports_back_to_the_same_feeds(
    bot: BotHarness,
) -> None:
    add(bot.engine, "https://www.lemonde.fr/rss/une.xml", "Le Monde", "https://www.lemonde.fr/")
    add(bot.engine, "https://example.org/a&b.xml?x=1&y=<2>", 'Quotes " & <tags>')
    add(bot.engine, "https://meduza.io/rss/all")
    before = stored(bot.engine)

    exported = await ask_export(bot)

    assert exported.method == "sendDocument" and exported.file is not None
    assert exported.file.filename == "newsbrief-feeds.opml"
    assert exported.plain_text == "3 feeds, as OPML."
    assert parse_opml(exported.file.data) == list(before.items())

    with Session(bot.engine) as session:  # a fresh catalogue, then the export sent back
        for feed in feed_queries.list_feeds(session):
            session.delete(feed)
        session.commit()
    answer = await bot.upload(ADMIN, ADMIN, exported.file.filename, exported.file.data)
    assert answer.plain_text is not None and "Added: 3" in answer.plain_text
    assert stored(bot.engine) == before
    again = await ask_export(bot)
    assert again.file is not None
    assert parse_opml(again.file.data) == parse_opml(exported.file.data)


async def test_export_of_an_empty_catalogue_says_there_are_no_feeds(bot: BotHarness) -> None:
    answer = await ask_export(bot)
    assert answer.method == "sendMessage"
    assert answer.plain_text == "No feeds yet: add one with /addfeed URL."


async def test_non_admins_are_refused_and_their_file_is_never_downloaded(
    bot: BotHarness, emu: BotAPIEmulator
) -> None:
    add(bot.engine, "https://meduza.io/rss/all")
    private = await bot.upload(USER, USER, "feeds.opml", READER_FILE)
    group = await bot.upload(
        GROUP, USER, "feeds.opml", READER_FILE, caption="/import", chat_type="group"
    )
    export = await bot.ask(USER, "/export")
    usage = await bot.ask(USER, "/import")

    assert [m.plain_text for m in (private, group, export, usage)] == [REFUSAL] * 4
    assert emu.downloads == []
    assert not any(method == "getFile" for method, _ in emu.calls)
    assert stored(bot.engine) == {"https://meduza.io/rss/all": None}


async def test_in_a_group_only_a_file_captioned_import_for_this_bot_is_imported(
    bot: BotHarness, emu: BotAPIEmulator
) -> None:
    group = {"chat_type": "group"}
    other = opml(outline("https://other.example/rss", "Other"))
    # Files shared in a group, and /import addressed to another bot, are not for us.
    bot.send_document(GROUP, ADMIN, "shared.opml", other, **group)
    bot.send_document(GROUP, ADMIN, "other.opml", other, caption="/import@some_bot", **group)
    answer = await bot.upload(
        GROUP, ADMIN, "feeds.opml", READER_FILE, caption="/import@newsbrief_test_bot", **group
    )

    assert answer.plain_text is not None and "Added: 3" in answer.plain_text
    assert len(emu.sent_to(GROUP)) == 1  # nothing said about the other two files
    assert stored(bot.engine) == ADDED
    plain = await bot.upload(GROUP, ADMIN, "more.opml", other, caption="/import", **group)
    assert plain.plain_text is not None and "Added: 1" in plain.plain_text


async def test_a_file_over_the_size_cap_is_refused_before_it_is_downloaded(
    bot: BotHarness, emu: BotAPIEmulator
) -> None:
    padding = "<!-- " + "x" * MAX_OPML_BYTES + " -->"
    big = opml(outline("https://meduza.io/rss/all", "Медуза"), padding)

    answer = await bot.upload(ADMIN, ADMIN, "huge.opml", big)

    assert MAX_OPML_BYTES < len(big) <= MAX_OPML_BYTES + 1000
    assert answer.plain_text == (
        "huge.opml is too big (1001 KB): an OPML file can be at most 1000 KB."
    )
    assert emu.downloads == [] and stored(bot.engine) == {}


async def test_files_that_are_not_opml_get_a_clear_error(
    bot: BotHarness, emu: BotAPIEmulator
) -> None:
    photo = await bot.upload(ADMIN, ADMIN, "cat.jpg", b"\xff\xd8\xff\xe0", mime_type="image/jpeg")
    rss = await bot.upload(
        ADMIN, ADMIN, "feed.xml", b"<rss version='2.0'><channel/></rss>", mime_type="text/xml"
    )
    broken = await bot.upload(ADMIN, ADMIN, "feeds.opml", READER_FILE[:200])
    bomb = await bot.upload(
        ADMIN,
        ADMIN,
        "bomb.opml",
        b'<!DOCTYPE opml [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;&a;">]><opml>&b;</opml>',
    )
    empty = await bot.upload(ADMIN, ADMIN, "empty.opml", opml('<outline text="Folder"/>'))

    assert photo.plain_text == (
        "cat.jpg is not an OPML file. Send the .opml (or .xml) file your feed reader exports, "
        "as a file."
    )
    assert rss.plain_text is not None
    assert rss.plain_text.startswith("Could not read feed.xml as OPML: not an OPML document")
    assert "root element <rss>" in rss.plain_text
    for answer in (broken, bomb):
        assert answer.plain_text is not None
        assert "as OPML: not a readable OPML document" in answer.plain_text
    assert empty.plain_text == "empty.opml names no feeds (no outline has an xmlUrl)."
    assert len(emu.downloads) == 4  # the photo was never fetched
    assert stored(bot.engine) == {}


async def test_a_file_telegram_will_not_hand_over_is_answered_with_the_reason(
    bot: BotHarness, emu: BotAPIEmulator
) -> None:
    emu.fail_next("getFile", 400, description="Bad Request: file is too big")
    answer = await bot.upload(ADMIN, ADMIN, "feeds.opml", READER_FILE)
    assert answer.plain_text == "Could not download feeds.opml: File is too big"
    assert emu.downloads == [] and stored(bot.engine) == {}


async def test_a_file_typed_as_opml_needs_no_opml_name_and_replies_follow_the_language(
    bot: BotHarness,
) -> None:
    answer = await bot.upload(
        ADMIN,
        ADMIN,
        "export",
        opml(outline("https://meduza.io/rss/all", "Медуза")),
        mime_type="text/x-opml",
        language_code="fr",
    )
    assert answer.plain_text is not None and answer.plain_text.startswith("Import")
    assert "Added" not in answer.plain_text  # in French
    assert stored(bot.engine) == {"https://meduza.io/rss/all": "Медуза"}


async def test_import_command_explains_how_to_send_the_file(bot: BotHarness) -> None:
    answer = await bot.ask(ADMIN, "/import")
    assert answer.plain_text is not None
    assert "OPML file" in answer.plain_text and "caption" in answer.plain_text


async def test_an_export_in_a_forum_topic_is_sent_to_that_topic(bot: BotHarness) -> None:
    add(bot.engine, "https://meduza.io/rss/all")
    answer = await bot.ask(FORUM, "/export", user_id=ADMIN, chat_type="supergroup", thread_id=TOPIC)
    assert answer.file is not None and answer.message_thread_id == TOPIC
