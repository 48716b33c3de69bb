"""The Bot API emulator, driven by the real python-telegram-bot over real HTTP.

These tests pin the emulator to what PTB actually sends and how PTB maps Telegram's answers
to exceptions, so later bot tests can trust that "works against the emulator" means "speaks
the Bot API": HTML Telegram would refuse fails here, and faults surface as PTB's own errors.
"""

from __future__ import annotations

import asyncio
import datetime as dtm
import threading
import time
from collections.abc import AsyncIterator

import httpx
import pytest
from telegram import (
    Bot,
    BotCommand,
    BotCommandScopeAllPrivateChats,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    LinkPreviewOptions,
    Update,
)
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Conflict,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
)
from telegram.ext import (
    ApplicationBuilder,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
)

from tests.support.botapi import BotAPIEmulator, parse_html, utf16_len
from tests.support.botharness import wait_for

CHAT = 4242


@pytest.fixture
async def bot(emu: BotAPIEmulator) -> AsyncIterator[Bot]:
    async with Bot(emu.token, base_url=emu.bot_base_url) as client:
        yield client


# -- requests and answers ------------------------------------------------------------------
async def test_get_me_answers_with_the_bot_of_the_token(bot: Bot, emu: BotAPIEmulator) -> None:
    me = await bot.get_me()
    assert me.is_bot and me.username == "newsbrief_test_bot"
    assert me.id == int(emu.token.split(":")[0])


async def test_unknown_token_is_unauthorized(emu: BotAPIEmulator) -> None:
    with pytest.raises(InvalidToken):
        async with Bot("999:not-the-token", base_url=emu.bot_base_url) as other:
            await other.get_me()
    assert emu.calls == []  # unauthorised requests never reach a method


async def test_valid_html_message_is_stored_with_every_delivery_option(
    bot: Bot, emu: BotAPIEmulator
) -> None:
    markup = InlineKeyboardMarkup([[InlineKeyboardButton("More", callback_data="more:1")]])
    text = '<b>Brief</b> &amp; <a href="https://e.org/?a=1&amp;b=2">link</a> &#128240;'
    message = await bot.send_message(
        CHAT,
        text,
        parse_mode="HTML",
        reply_markup=markup,
        link_preview_options=LinkPreviewOptions(is_disabled=True),
        message_thread_id=7,
    )
    [sent] = emu.sent_to(CHAT)
    assert (sent.text, sent.parse_mode, sent.message_thread_id) == (text, "HTML", 7)
    assert sent.plain_text == "Brief & link 📰"
    assert sent.link_preview_options == {"is_disabled": True}
    assert sent.reply_markup == {"inline_keyboard": [[{"text": "More", "callback_data": "more:1"}]]}
    # PTB gets back a real Message, with Telegram's plain text and entities.
    assert message.message_id == sent.message_id and message.text == "Brief & link 📰"
    assert message.entities[1].url == "https://e.org/?a=1&b=2"
    assert message.text_html.startswith("<b>Brief</b>")


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("<p>para</p>", 'unsupported start tag "p" at byte offset 0'),
        ("<b>open", 'start tag "b"'),
        ("<b><i>x</b></i>", "unmatched end tag"),
        ("caf\u00e9 <br>", "byte offset 6"),  # offsets are in UTF-8 bytes
        ("Tom &nbsp; Jerry", "unsupported html entity"),
        ("AT&T", "unsupported html entity"),
    ],
)
async def test_invalid_html_is_refused_like_telegram(
    bot: Bot, emu: BotAPIEmulator, text: str, reason: str
) -> None:
    with pytest.raises(BadRequest, match=r"(?i)can't parse entities") as caught:
        await bot.send_message(CHAT, text, parse_mode="HTML")
    assert reason in caught.value.message.lower()
    assert emu.sent == []


async def test_length_limit_counts_utf16_units_after_markup(bot: Bot, emu: BotAPIEmulator) -> None:
    await bot.send_message(CHAT, "<b>" + "a" * 4096 + "</b>", parse_mode="HTML")  # tags are free
    await bot.send_message(CHAT, "📰" * 2048)  # 4096 UTF-16 units: the limit exactly
    with pytest.raises(BadRequest, match="Message is too long"):
        await bot.send_message(CHAT, "📰" * 2048 + "a")
    with pytest.raises(BadRequest, match="Message text is empty"):
        await bot.send_message(CHAT, "<b> </b>", parse_mode="HTML")
    assert len(emu.sent_to(CHAT)) == 2


# -- faults ----------------------------------------------------------------------------------
async def test_429_raises_retry_after_then_the_next_call_succeeds(
    bot: Bot, emu: BotAPIEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PTB_TIMEDELTA", "true")  # PTB 22's non-deprecated retry_after type
    emu.fail_next("sendMessage", status=429, retry_after=3)
    with pytest.raises(RetryAfter) as caught:
        await bot.send_message(CHAT, "hi")
    assert caught.value.retry_after == dtm.timedelta(seconds=3)
    await bot.send_message(CHAT, "hi again")
    assert [s.text for s in emu.sent] == ["hi again"]
    assert [m for m, _ in emu.calls if m != "getMe"] == ["sendMessage", "sendMessage"]


async def test_blocked_chat_is_forbidden_and_a_kick_update_blocks_too(
    bot: Bot, emu: BotAPIEmulator
) -> None:
    emu.block_chat(CHAT)
    with pytest.raises(Forbidden, match="bot was blocked by the user"):
        await bot.send_message(CHAT, "hi")
    emu.push_my_chat_member(CHAT + 1, "kicked")
    with pytest.raises(Forbidden):
        await bot.send_message(CHAT + 1, "hi")
    emu.push_my_chat_member(CHAT + 1, "member")
    await bot.send_message(CHAT + 1, "welcome back")
    [update] = await bot.get_updates(offset=0, limit=1)
    assert update.my_chat_member is not None
    assert update.my_chat_member.new_chat_member.status == "kicked"


async def test_migrated_group_raises_chat_migrated_with_the_new_id(
    bot: Bot, emu: BotAPIEmulator
) -> None:
    emu.migrate_chat(-4001, -1004001)
    with pytest.raises(ChatMigrated) as caught:
        await bot.send_message(-4001, "hi")
    assert caught.value.new_chat_id == -1004001
    await bot.send_message(-1004001, "hi")
    assert emu.sent_to(-1004001)[0].payload["chat"]["type"] == "supergroup"


async def test_missing_chat_and_server_errors_map_to_ptb_errors(
    bot: Bot, emu: BotAPIEmulator
) -> None:
    emu.chat_not_found(CHAT)
    with pytest.raises(BadRequest, match="Chat not found"):
        await bot.send_message(CHAT, "hi")
    emu.fail_next("getMe", status=500)
    with pytest.raises(NetworkError, match="Internal Server Error"):
        await bot.get_me()
    emu.fail_next("getMe", status=502)  # an nginx HTML page, as Telegram's front end sends
    with pytest.raises(NetworkError, match=r"Bad Gateway \(502\)"):
        await bot.get_me()
    assert (await bot.get_me()).is_bot


# -- other methods --------------------------------------------------------------------------
async def test_documents_and_photos_arrive_as_multipart_bytes(
    bot: Bot, emu: BotAPIEmulator
) -> None:
    data = b"%PDF-1.4 digest\x00\xff" * 100
    message = await bot.send_document(
        CHAT, data, filename="brief.pdf", caption="<i>Weekly</i>", parse_mode="HTML"
    )
    await bot.send_photo(CHAT, b"\x89PNG\r\n\x1a\n" + bytes(50), caption="chart")
    doc, photo = emu.sent_to(CHAT)
    assert doc.file is not None and doc.file.data == data and doc.file.filename == "brief.pdf"
    assert message.document is not None and message.document.file_size == len(data)
    assert message.caption == "Weekly" and doc.plain_text == "Weekly"
    assert photo.file is not None and photo.file.data.startswith(b"\x89PNG")
    with pytest.raises(BadRequest, match="caption is too long"):
        await bot.send_document(CHAT, data, filename="x.pdf", caption="c" * 1025)


async def test_a_document_a_user_sends_is_fetched_with_get_file_and_a_download(
    emu: BotAPIEmulator,
) -> None:
    data = '<?xml version="1.0"?><opml version="2.0"><body/></opml> ✓'.encode()
    emu.push_document(
        CHAT, "my feeds.opml", data, caption="/import@newsbrief_test_bot", mime_type="text/x-opml"
    )
    emu.push_document(CHAT, "big.bin", bytes(20 * 1024 * 1024 + 1), user_id=7, chat_type="group")
    async with Bot(emu.token, base_url=emu.bot_base_url, base_file_url=emu.file_base_url) as client:
        opml, big = [u.message for u in await client.get_updates()]
        assert opml is not None and opml.document is not None
        assert (opml.document.file_name, opml.document.mime_type) == (
            "my feeds.opml",
            "text/x-opml",
        )
        assert opml.document.file_size == len(data)
        assert opml.caption_entities[0].type == "bot_command"
        assert opml.caption_entities[0].length == len("/import@newsbrief_test_bot")
        file = await opml.document.get_file()
        assert file.file_size == len(data) and file.file_path is not None
        assert file.file_path.startswith(f"{emu.file_base_url}{emu.token}/documents/")
        assert bytes(await file.download_as_bytearray()) == data
        path = file.file_path.removeprefix(f"{emu.file_base_url}{emu.token}/")
        assert emu.downloads == [path]

        assert big is not None and big.document is not None and big.from_user is not None
        assert big.chat.type == "group" and big.from_user.id == 7
        with pytest.raises(BadRequest, match="File is too big"):
            await big.document.get_file()
        with pytest.raises(BadRequest, match="Invalid file_id"):
            await client.get_file("no-such-file")
    # Files are served to the token's owner only, and only where getFile put them.
    async with httpx.AsyncClient() as http:
        assert (await http.get(f"{emu.file_base_url}{emu.token}/{path}")).content == data
        assert (await http.get(f"{emu.file_base_url}1:wrong/{path}")).status_code == 404
        assert (await http.get(f"{emu.file_base_url}{emu.token}/documents/x")).status_code == 404


async def test_edit_and_delete_change_the_stored_message(bot: Bot, emu: BotAPIEmulator) -> None:
    message = await bot.send_message(CHAT, "draft")
    await bot.edit_message_text("<b>final</b>", CHAT, message.message_id, parse_mode="HTML")
    with pytest.raises(BadRequest, match="not modified"):
        await bot.edit_message_text("<b>final</b>", CHAT, message.message_id, parse_mode="HTML")
    markup = InlineKeyboardMarkup([[InlineKeyboardButton("Go", url="https://e.org/")]])
    await bot.edit_message_reply_markup(CHAT, message.message_id, reply_markup=markup)
    [sent] = emu.sent
    assert (sent.plain_text, sent.edits) == ("final", 2)
    assert sent.reply_markup == markup.to_dict()
    assert await bot.delete_message(CHAT, message.message_id)
    assert sent.deleted
    with pytest.raises(BadRequest, match="Message to delete not found"):
        await bot.delete_message(CHAT, message.message_id)


async def test_commands_are_kept_per_scope_and_language(bot: Bot, emu: BotAPIEmulator) -> None:
    await bot.set_my_commands([BotCommand("start", "Start")])
    await bot.set_my_commands(
        [BotCommand("digest", "Digest")], scope=BotCommandScopeAllPrivateChats(), language_code="fr"
    )
    assert emu.commands() == [{"command": "start", "description": "Start"}]
    assert emu.commands("all_private_chats", "fr")[0]["command"] == "digest"
    assert [c.command for c in await bot.get_my_commands()] == ["start"]
    assert (await bot.get_chat(CHAT)).type == "private"


async def test_callback_data_over_64_bytes_is_refused(bot: Bot) -> None:
    markup = InlineKeyboardMarkup([[InlineKeyboardButton("x", callback_data="é" * 33)]])
    with pytest.raises(BadRequest, match="Button_data_invalid"):
        await bot.send_message(CHAT, "hi", reply_markup=markup)


# -- getUpdates -------------------------------------------------------------------------------
async def test_get_updates_honours_offset_and_limit(bot: Bot, emu: BotAPIEmulator) -> None:
    ids = [emu.push_message(CHAT, f"m{i}")["update_id"] for i in range(3)]
    first = await bot.get_updates(limit=2)
    assert [u.update_id for u in first] == ids[:2]
    assert [u.update_id for u in await bot.get_updates(limit=2)] == ids[:2]  # not yet confirmed
    rest = await bot.get_updates(offset=ids[1] + 1)
    assert [u.message.text for u in rest if u.message] == ["m2"]
    assert emu.pending_updates() == 1


async def test_long_poll_returns_as_soon_as_an_update_is_pushed(
    bot: Bot, emu: BotAPIEmulator
) -> None:
    threading.Timer(0.2, emu.push_message, args=(CHAT, "/start@newsbrief_test_bot")).start()
    started = time.monotonic()
    [update] = await bot.get_updates(timeout=5)
    assert 0.1 < time.monotonic() - started < 2
    assert update.message is not None and update.message.text == "/start@newsbrief_test_bot"
    assert update.message.entities[0].type == "bot_command"
    assert update.message.entities[0].length == len("/start@newsbrief_test_bot")
    started = time.monotonic()
    assert (
        await bot.get_updates(offset=update.update_id + 1, timeout=dtm.timedelta(seconds=0.3)) == ()
    )
    assert time.monotonic() - started >= 0.25  # an empty long poll waits out its timeout


async def test_a_second_poller_ends_the_first_with_conflict(emu: BotAPIEmulator) -> None:
    async with (
        Bot(emu.token, base_url=emu.bot_base_url) as one,
        Bot(emu.token, base_url=emu.bot_base_url) as two,
    ):
        first = asyncio.create_task(one.get_updates(timeout=3))
        await wait_for(lambda: any(m == "getUpdates" for m, _ in emu.calls))
        second = asyncio.create_task(two.get_updates(timeout=dtm.timedelta(seconds=0.2)))
        with pytest.raises(Conflict, match="terminated by other getUpdates"):
            await first
        assert await second == ()


def test_parse_html_reports_entities_in_utf16_offsets() -> None:
    plain, entities = parse_html("📰 <b>news</b> <tg-spoiler>x</tg-spoiler>")
    assert plain == "📰 news x"
    assert entities == [
        {"type": "bold", "offset": 3, "length": 4},
        {"type": "spoiler", "offset": 8, "length": 1},
    ]
    assert utf16_len("📰") == 2


# -- a real Application ----------------------------------------------------------------------
async def test_application_answers_start_and_callbacks_over_polling(emu: BotAPIEmulator) -> None:
    async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.effective_message is not None
        markup = InlineKeyboardMarkup([[InlineKeyboardButton("Subscribe", callback_data="sub")]])
        await update.effective_message.reply_html("<b>Welcome</b>", reply_markup=markup)

    async def button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.callback_query is not None
        await update.callback_query.answer("Subscribed")
        await update.callback_query.edit_message_text("Subscribed ✓")

    app = (
        ApplicationBuilder()
        .token(emu.token)
        .base_url(emu.bot_base_url)
        .base_file_url(emu.file_base_url)
        .build()
    )
    app.add_handler(CommandHandler("start", start))
    app.add_handler(CallbackQueryHandler(button))
    async with app:
        await app.start()
        assert app.updater is not None
        await app.updater.start_polling(poll_interval=0.05, timeout=1)
        try:
            emu.push_message(CHAT, "/start", thread_id=None)
            [reply] = await wait_for(lambda: emu.sent_to(CHAT))
            assert (reply.plain_text, reply.parse_mode) == ("Welcome", "HTML")
            emu.push_callback(CHAT, "sub", reply.message_id)
            await wait_for(lambda: emu.answered_callbacks and emu.sent[0].edits)
            assert emu.answered_callbacks[0]["text"] == "Subscribed"
            assert emu.sent[0].plain_text == "Subscribed ✓"
        finally:
            await app.updater.stop()
            await app.stop()
    methods = [m for m, _ in emu.calls]
    assert {"getMe", "deleteWebhook", "getUpdates"} <= set(methods)
    assert emu.pending_updates() == 0  # stopping confirmed every handled update
