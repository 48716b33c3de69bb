"""How a chat receives its briefs: each one as it comes (instant) or bundled into digests at
set local times, in the chat's own time zone; a digest on demand; and the language the bot
speaks there (/language).

These settings belong to the chat as a whole, forum topics included: one group, one clock,
one language.
"""

from __future__ import annotations

import functools
import re
from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from babel import Locale
from sqlmodel import Session
from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.ext import BaseHandler, CallbackQueryHandler, CommandHandler, ContextTypes, filters

from bot.chat import fanout
from bot.chat.common import (
    Where,
    args_text,
    edit_pressed,
    ensure_chat,
    html,
    pressed_button,
    reply,
    where,
)
from bot.chat.digests import MAX_TIMES, DigestTimesError, format_times, parse_times
from bot.chat.i18n import N_, available_languages, t, tn
from bot.chat.runtime import Runtime, get_runtime
from storage import chats as chat_queries
from storage.models import Chat

COMMANDS: list[tuple[str, str]] = [
    ("mode", N_("Instant briefs or scheduled digests: /mode instant|digest")),
    ("digest_at", N_("Digest times, e.g. /digest_at 08:00,18:00")),
    ("timezone", N_("This chat's time zone, e.g. /timezone Europe/Paris")),
    ("digest", N_("Send this chat's digest now")),
    ("language", N_("The bot's language in this chat, e.g. /language fr")),
]
ADMIN_COMMANDS: list[tuple[str, str]] = []

MODES = ("instant", "digest")
ZONE_LENGTH = 64  # Chat.timezone's column size
AUTO = "auto"  # /language auto: back to each user's Telegram language
LANGUAGE_BUTTON = re.compile(r"lang:([a-z]{2,3}|auto)")
LANGUAGES_PER_ROW = 3
LANGUAGE_TAG = re.compile(r"([a-z]{2,3})(?:[-_][a-z0-9]{1,8})+")


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


# -- /language -------------------------------------------------------------------------------


@functools.cache
def language_name(code: str) -> str:
    """A language's name in that language ("Français", "Русский"), on every screen alike: a
    reader looks for their own language by the name they know it by (CLDR data, via Babel)."""
    name = Locale.parse(code).get_display_name(code) or code
    return name[:1].upper() + name[1:]


@functools.cache
def _language_names() -> dict[str, str]:
    names: dict[str, str] = {}
    for code in available_languages():
        english = Locale.parse(code).get_display_name("en") or code
        names |= {code: code, language_name(code).casefold(): code, english.casefold(): code}
    return names


def find_language(text: str) -> str | None:
    """The catalogue ``text`` asks for: a code ("fr", "FR", "fr-CA") or a name in the language
    itself or in English ("français", "French"); AUTO for "auto"; None when it names none."""
    wanted = text.strip().casefold()
    if wanted == AUTO:
        return AUTO
    names = _language_names()
    tag = LANGUAGE_TAG.fullmatch(wanted)  # "fr-ca": the language without its region
    return names.get(wanted) or (names.get(tag[1]) if tag else None)


def describe_language(lang: str, chosen: str | None, telegram_lang: str) -> str:
    """Which language the bot speaks in this chat (for /language), in ``lang``."""
    if chosen:
        return t(lang, "The bot speaks {language} in this chat.", language=language_name(chosen))
    return t(
        lang,
        "The bot answers in each person's Telegram language here (yours: {language}).",
        language=language_name(telegram_lang),
    )


def language_markup(lang: str, chosen: str | None) -> InlineKeyboardMarkup:
    """A button per catalogue, named in its own language, then "automatic"; ✅ marks the
    chat's setting."""

    def button(label: str, code: str, on: bool) -> InlineKeyboardButton:
        return InlineKeyboardButton(f"✅ {label}" if on else label, callback_data=f"lang:{code}")

    codes = available_languages()
    choices = [button(language_name(code), code, code == chosen) for code in codes]
    rows = [choices[n : n + LANGUAGES_PER_ROW] for n in range(0, len(choices), LANGUAGES_PER_ROW)]
    rows.append([button(t(lang, "Telegram's language (automatic)"), AUTO, chosen is None)])
    return InlineKeyboardMarkup(rows)


def _language_page(lang: str, chosen: str | None, telegram_lang: str) -> str:
    hint = t(lang, "Choose below, or send e.g. /language fr.")
    return f"{describe_language(lang, chosen, telegram_lang)}\n{hint}"


async def _choose_language(runtime: Runtime, here: Where, chosen: str | None) -> str:
    """Store the chat's choice (None: automatic) and return the language to answer in now."""
    await runtime.db(lambda s: chat_queries.set_chosen_language(s, here.chat_id, chosen))
    runtime.remember_language(here.chat_id, chosen)  # after the commit: see Runtime.chat_language
    return chosen or here.telegram_lang


def _language_set(lang: str, chosen: str | None, telegram_lang: str) -> str:
    if chosen:
        return t(
            lang,
            "Done: the bot speaks {language} in this chat now.",
            language=language_name(chosen),
        )
    return t(
        lang,
        "Done: the bot answers in each person's Telegram language here now (yours: {language}).",
        language=language_name(telegram_lang),
    )


async def language_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    runtime, here = await _setup(update, context)
    wanted = args_text(context)
    if not wanted:
        chosen = await runtime.chat_language(here.chat_id)
        page = _language_page(here.lang, chosen, here.telegram_lang)
        await reply(update, page, language_markup(here.lang, chosen))
        return
    found = find_language(wanted)
    if found is None:
        choices = ", ".join(f"{code} ({language_name(code)})" for code in available_languages())
        error = t(
            here.lang,
            "Unknown language {language}. Choose one of {choices}, or auto for each person's "
            "Telegram language.",
            language=html(wanted[:ZONE_LENGTH]),
            choices=choices,
        )
        await reply(update, error)
        return
    chosen = None if found == AUTO else found
    lang = await _choose_language(runtime, here, chosen)
    await reply(update, _language_set(lang, chosen, here.telegram_lang))


async def language_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    query = await pressed_button(update)
    if query is None:
        return
    runtime, here = get_runtime(context), where(update)
    match = LANGUAGE_BUTTON.fullmatch(query.data or "")
    if match is None or (match[1] != AUTO and match[1] not in available_languages()):
        await query.answer(t(here.lang, "This button is no longer valid."))
        return
    await ensure_chat(runtime, here)
    chosen = None if match[1] == AUTO else match[1]
    lang = await _choose_language(runtime, here, chosen)
    await query.answer(_language_set(lang, chosen, here.telegram_lang)[:200])
    page = _language_page(lang, chosen, here.telegram_lang)
    await edit_pressed(query, page, language_markup(lang, chosen))


def handlers() -> list[BaseHandler]:
    # New messages only: an edited old command must not run (and answer) a second time.
    fresh = filters.UpdateType.MESSAGE
    return [
        CommandHandler("mode", mode_command, filters=fresh),
        CommandHandler("digest_at", digest_at_command, filters=fresh),
        CommandHandler("timezone", timezone_command, filters=fresh),
        CommandHandler("digest", digest_command, filters=fresh),
        CommandHandler("language", language_command, filters=fresh),
        CallbackQueryHandler(language_button, pattern=r"^lang:"),
    ]
