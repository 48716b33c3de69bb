"""How a chat receives its briefs: each one as it comes (instant) or bundled into digests at
set local times, in the chat's own time zone; and a digest on demand.

These settings belong to the chat as a whole, forum topics included: one group, one clock.
"""

from __future__ import annotations

import functools
from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from sqlmodel import Session
from telegram import Update
from telegram.ext import BaseHandler, CommandHandler, ContextTypes, filters

from bot.chat import fanout
from bot.chat.common import Where, args_text, ensure_chat, html, reply, where
from bot.chat.digests import MAX_TIMES, DigestTimesError, format_times, parse_times
from bot.chat.i18n import N_, t, tn
from bot.chat.runtime import Runtime, get_runtime
from storage import chats as chat_queries
from storage.models import Chat

COMMANDS: list[tuple[str, str]] = [
    ("mode", N_("Instant briefs or scheduled digests: /mode instant|digest")),
    ("digest_at", N_("Digest times, e.g. /digest_at 08:00,18:00")),
    ("timezone", N_("This chat's time zone, e.g. /timezone Europe/Paris")),
    ("digest", N_("Send this chat's digest now")),
]
ADMIN_COMMANDS: list[tuple[str, str]] = []

MODES = ("instant", "digest")
ZONE_LENGTH = 64  # Chat.timezone's column size


def parse_digest_times(text: str) -> list[str] | None:
    """ "8:00, 18:00" → ["08:00", "18:00"]: sorted, without repeats, 1 to MAX_TIMES of them;
    None when anything in it is not a time of day."""
    try:
        return format_times(parse_times(text)).split(",")
    except DigestTimesError:
        return None


@functools.cache
def _zone_names() -> dict[str, str]:
    return {name.lower(): name for name in available_timezones()}


def find_zone(text: str) -> str | None:
    """The IANA name for ``text`` ("europe/paris" → "Europe/Paris"), None if there is none."""
    name = _zone_names().get(text.strip().lower())
    if name is None or len(name) > ZONE_LENGTH:
        return None
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return None
    return name


def describe_delivery(lang: str, chat: Chat) -> str:
    """One line saying how this chat gets its briefs (for /list and the confirmations)."""
    if chat.mode == "digest":
        times = ", ".join(chat.digest_times.split(","))
        return t(
            lang, "A digest at {times} ({zone} time).", times=html(times), zone=html(chat.timezone)
        )
    return t(lang, "Instant: each brief as soon as it is ready.")


async def _setup(update: Update, context: ContextTypes.DEFAULT_TYPE) -> tuple[Runtime, Where]:
    """Settings must work before /start, so the chat row is made first."""
    runtime, here = get_runtime(context), where(update)
    await ensure_chat(runtime, here)
    return runtime, here


async def _store(runtime: Runtime, here: Where, **values: object) -> Chat:
    def work(session: Session) -> Chat:
        chat = chat_queries.get_chat(session, here.chat_id)
        assert chat is not None, "ensure_chat ran first"
        for name, value in values.items():
            setattr(chat, name, value)
        session.add(chat)
        return chat

    return await runtime.db(work)


async def mode_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    runtime, here = await _setup(update, context)
    mode = args_text(context).lower()
    if mode not in MODES:
        chat = await runtime.db(lambda s: chat_queries.get_chat(s, here.chat_id))
        assert chat is not None
        usage = t(here.lang, "Usage: /mode instant or /mode digest. Now:")
        await reply(update, f"{usage}\n{describe_delivery(here.lang, chat)}")
        return
    chat = await _store(runtime, here, mode=mode)
    text = describe_delivery(here.lang, chat)
    if mode == "digest":
        text += "\n" + t(here.lang, "Change the times with /digest_at and the zone with /timezone.")
    await reply(update, text)


async def digest_at_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    runtime, here = await _setup(update, context)
    times = parse_digest_times(args_text(context))
    if times is None:
        error = t(
            here.lang,
            "Give 1 to {max} times of day from 00:00 to 23:59, separated by commas, "
            "e.g. /digest_at 08:00,18:00",
            max=MAX_TIMES,
        )
        await reply(update, error)
        return
    chat = await _store(runtime, here, digest_times=",".join(times))
    text = t(
        here.lang,
        "Digests at {times} ({zone} time).",
        times=", ".join(times),
        zone=html(chat.timezone),
    )
    if chat.mode != "digest":
        text += "\n" + t(here.lang, "This chat gets instant briefs: send /mode digest to switch.")
    await reply(update, text)


async def timezone_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    runtime, here = await _setup(update, context)
    wanted = args_text(context)
    if not wanted:
        chat = await runtime.db(lambda s: chat_queries.get_chat(s, here.chat_id))
        assert chat is not None
        text = t(
            here.lang,
            "This chat's time zone is {zone}. Change it with e.g. /timezone Europe/Paris",
            zone=html(chat.timezone),
        )
        await reply(update, text)
        return
    zone = find_zone(wanted)
    if zone is None:
        error = t(
            here.lang,
            "Unknown time zone {zone}. Use a name such as Europe/Paris, America/New_York or UTC.",
            zone=html(wanted[:ZONE_LENGTH]),
        )
        await reply(update, error)
        return
    await _store(runtime, here, timezone=zone)
    now = datetime.now(ZoneInfo(zone)).strftime("%H:%M")
    await reply(
        update, t(here.lang, "Time zone set to {zone} (it is {now} there).", zone=zone, now=now)
    )


async def digest_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    runtime, here = await _setup(update, context)
    count = await runtime.db(lambda s: fanout.digest_now(s, here.chat_id, here.topic_id))
    if count > 0:
        runtime.outbox_ready.set()  # the sender need not wait for its next poll
        await reply(
            update,
            tn(
                here.lang,
                "Your digest is on its way ({count} story).",
                "Your digest is on its way ({count} stories).",
                count,
            ),
        )
    else:
        text = t(here.lang, "Nothing new since the last digest. /latest shows recent briefs.")
        await reply(update, text)


def handlers() -> list[BaseHandler]:
    # New messages only: an edited old command must not run (and answer) a second time.
    fresh = filters.UpdateType.MESSAGE
    return [
        CommandHandler("mode", mode_command, filters=fresh),
        CommandHandler("digest_at", digest_at_command, filters=fresh),
        CommandHandler("timezone", timezone_command, filters=fresh),
        CommandHandler("digest", digest_command, filters=fresh),
    ]
