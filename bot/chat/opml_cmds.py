"""OPML from the chat: an admin sends an OPML file to import its feeds, and /export answers
with the catalogue as one.

A document is taken as an import in the admin's private chat, or in a group when its caption
is /import (other files in groups are none of the bot's business). The file is checked by its
name and type before it is downloaded, and by its size before and after: it is untrusted input,
read with the same defusedxml parser and added through the same services.import_feeds as
``newsbrief feeds import``, so both count and refuse alike.
"""

from __future__ import annotations

import asyncio
import math
import re

from telegram import Document, Message, Update
from telegram.error import TelegramError
from telegram.ext import BaseHandler, CommandHandler, ContextTypes, MessageHandler, filters

from bot import services
from bot.chat.common import admin_only, html, reply, where
from bot.chat.i18n import N_, t, tn
from bot.chat.runtime import get_runtime
from bot.ingest.opml import OPMLError, parse_opml, write_opml
from storage import feeds as feed_queries

COMMANDS: list[tuple[str, str]] = []
ADMIN_COMMANDS: list[tuple[str, str]] = [
    ("import", N_("Import feeds from an OPML file (send the file, or /import as its caption)")),
    ("export", N_("The feed list as an OPML file")),
]

MAX_OPML_BYTES = 1_000_000  # a reader's export of thousands of feeds is far below this
EXPORT_NAME = "newsbrief-feeds.opml"
EXPORT_TITLE = "newsbrief feeds"
OPML_SUFFIXES = (".opml", ".xml")
OPML_TYPES = {
    "text/x-opml",
    "text/x-opml+xml",
    "application/x-opml",
    "application/opml+xml",
    "text/xml",
    "application/xml",
}
SHOWN_PROBLEMS = 5  # invalid entries named in the summary; the rest are counted
CAPTION_COMMAND = re.compile(r"/import(?:@(\w+))?(?:\s|$)", re.IGNORECASE)


class _ImportCaption(filters.MessageFilter):
    """A caption that is /import, or /import@this_bot (not another bot's command)."""

    def filter(self, message: Message) -> bool:
        m = CAPTION_COMMAND.match(message.caption or "")
        if m is None:
            return False
        return m[1] is None or m[1].lower() == (message.get_bot().username or "").lower()


def looks_like_opml(document: Document) -> bool:
    """By name or type only: whether the content really is OPML, the parser says."""
    name = (document.file_name or "").lower()
    mime = (document.mime_type or "").split(";")[0].strip().lower()
    return name.endswith(OPML_SUFFIXES) or mime in OPML_TYPES


def _size(lang: str, size: int) -> str:
    # Rounded up: a file just over the cap must not read as the cap itself.
    return t(lang, "{size} KB", size=max(1, math.ceil(size / 1000)))


def _too_big(lang: str, name: str, size: int) -> str:
    return t(
        lang,
        "{name} is too big ({size}): an OPML file can be at most {limit}.",
        name=html(name),
        size=_size(lang, size),
        limit=_size(lang, MAX_OPML_BYTES),
    )


def import_summary(lang: str, name: str, result: services.ImportResult) -> str:
    """The reply to an import: the three counts, then the first few invalid entries."""
    lines = [
        "<b>" + html(t(lang, "Imported {name}", name=name)) + "</b>",
        t(lang, "Added: {count}", count=len(result.added)),
        t(lang, "Already there: {count}", count=len(result.present)),
        t(lang, "Invalid: {count}", count=len(result.invalid)),
    ]
    for url, _reason in result.invalid[:SHOWN_PROBLEMS]:
        lines.append("• " + t(lang, "{url}: not an http(s) web address", url=html(url)))
    hidden = len(result.invalid) - SHOWN_PROBLEMS
    if hidden > 0:
        lines.append(tn(lang, "…and {count} more.", "…and {count} more.", hidden))
    return "\n".join(lines)


@admin_only
async def document_received(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    runtime, here = get_runtime(context), where(update)
    message = update.effective_message
    assert message is not None and message.document is not None
    document = message.document
    name = document.file_name or "file"
    if not looks_like_opml(document):
        not_opml = t(
            here.lang,
            "{name} is not an OPML file. Send the .opml (or .xml) file your feed reader "
            "exports, as a file.",
            name=html(name),
        )
        await reply(update, not_opml)
        return
    # Telegram gives the size with the document: a big file is refused without a download.
    if (document.file_size or 0) > MAX_OPML_BYTES:
        await reply(update, _too_big(here.lang, name, document.file_size or 0))
        return
    try:
        file = await document.get_file()
        data = bytes(await file.download_as_bytearray())
    except TelegramError as exc:
        failed = t(
            here.lang, "Could not download {name}: {reason}", name=html(name), reason=html(exc)
        )
        await reply(update, failed)
        return
    if len(data) > MAX_OPML_BYTES:  # the size given was missing or wrong
        await reply(update, _too_big(here.lang, name, len(data)))
        return
    try:
        entries = parse_opml(data)
    except OPMLError as exc:
        unreadable = t(
            here.lang, "Could not read {name} as OPML: {reason}", name=html(name), reason=html(exc)
        )
        await reply(update, unreadable)
        return
    if not entries:
        await reply(
            update,
            t(here.lang, "{name} names no feeds (no outline has an xmlUrl).", name=html(name)),
        )
        return
    result = await asyncio.to_thread(services.import_feeds, runtime.engine, entries)
    await reply(update, import_summary(here.lang, name, result))


@admin_only
async def import_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    here = where(update)
    usage = t(
        here.lang,
        "Send me an OPML file (the .opml file a feed reader exports) as a file and I add its "
        "feeds. In a group, write /import as the file's caption.",
    )
    await reply(update, usage)


@admin_only
async def export_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    runtime, here = get_runtime(context), where(update)
    feeds = await runtime.db(lambda s: list(feed_queries.list_feeds(s)))
    if not feeds:
        await reply(update, t(here.lang, "No feeds yet: add one with /addfeed URL."))
        return
    document = write_opml(feeds, title=EXPORT_TITLE)
    message = update.effective_message
    assert message is not None
    caption = tn(here.lang, "{count} feed, as OPML.", "{count} feeds, as OPML.", len(feeds))
    await message.reply_document(
        document=document, filename=EXPORT_NAME, caption=caption, do_quote=False
    )


def handlers() -> list[BaseHandler]:
    fresh = filters.UpdateType.MESSAGE  # an edited old message must not import again
    documents = filters.Document.ALL & fresh & (filters.ChatType.PRIVATE | _ImportCaption())
    return [
        MessageHandler(documents, document_received),
        CommandHandler("import", import_command, filters=fresh),
        CommandHandler("export", export_command, filters=fresh),
    ]
