"""Kill -9 in the middle of a push, start again: every chat gets its briefs, and no more
messages are sent twice than were in flight at the kill (NEWSBRIEF_DELIVERY_CONCURRENCY).

A real `newsbrief run` process against the local Bot API emulator, on both databases."""

from __future__ import annotations

import signal
import subprocess
import time
from collections import Counter
from pathlib import Path

from sqlalchemy import Engine
from sqlmodel import Session

from storage import outbox
from storage.models import utcnow
from tests.support.botapi import BotAPIEmulator
from tests.support.process import bot_api, environment, start, stop, terminate, wait
from tests.support.seed import add_chat, add_feed, add_story

ADMIN = 4242
CHATS = [10_000 + n for n in range(240)]
CONCURRENCY = 4


def start_bot(emu: BotAPIEmulator, database_url: str, cwd: Path) -> subprocess.Popen[str]:
    settings = {
        "NEWSBRIEF_DATABASE_URL": database_url,
        **bot_api(emu),
        "NEWSBRIEF_ADMIN_IDS": str(ADMIN),
        "NEWSBRIEF_PARSE_WORKERS": "0",
        "NEWSBRIEF_DELIVERY_CONCURRENCY": str(CONCURRENCY),
    }
    return start("run", cwd=cwd, env=environment(settings))


def briefs_received(emu: BotAPIEmulator) -> Counter[int | str]:
    return Counter(m.chat_id for m in emu.sent if m.chat_id in set(CHATS))


def test_sigkill_mid_push_then_restart_delivers_everything_with_bounded_duplicates(
    emu: BotAPIEmulator, engine: Engine, database_url: str, tmp_path: Path
) -> None:
    with Session(engine) as session:
        feed = add_feed(session, "world")
        stories = [
            add_story(session, feed, f"Story {n} of the day", f"What happened in part {n}.")
            for n in range(3)
        ]
        outbox.mark_announced(session, stories, utcnow())  # old news: only a push sends it
        session.commit()
        for chat_id in CHATS:
            add_chat(session, chat_id)

    first = start_bot(emu, database_url, tmp_path)
    try:
        emu.push_message(ADMIN, "/push")
        wait(lambda: any(m.reply_markup for m in emu.sent_to(ADMIN)), first)
        preview = next(m for m in emu.sent_to(ADMIN) if m.reply_markup)
        assert preview.reply_markup is not None
        confirm = next(
            b["callback_data"]
            for row in preview.reply_markup["inline_keyboard"]
            for b in row
            if b["callback_data"].startswith("push:ok:")
        )
        emu.push_callback(ADMIN, confirm, preview.message_id)
        # The kill lands in the middle of the push (one digest-style message per chat).
        wait(lambda: sum(briefs_received(emu).values()) >= len(CHATS) // 3, first)
    finally:
        stop(first, signal.SIGKILL, timeout=30)
    at_kill = sum(briefs_received(emu).values())
    assert at_kill < len(CHATS), "the kill came too late to test anything"

    second = start_bot(emu, database_url, tmp_path)
    try:
        wait(lambda: set(briefs_received(emu)) == set(CHATS), second, timeout=120)
        time.sleep(1.0)  # anything still being sent by mistake would show up now
    finally:
        _, err = terminate(second)
    assert second.returncode == 0, err

    received = briefs_received(emu)
    duplicates = sum(received.values()) - len(CHATS)
    for message in emu.sent_to(CHATS[0]):
        assert all(f"Story {n} of the day" in (message.plain_text or "") for n in range(3))
    print(f"sent before the kill: {at_kill}, sent twice: {duplicates}")
    assert 0 <= duplicates <= CONCURRENCY, f"{duplicates} messages sent twice"
