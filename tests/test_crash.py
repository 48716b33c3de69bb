"""Kill -9 in the middle of a push, start again: every chat gets its briefs, and no more
messages are sent twice than were in flight at the kill (NEWSBRIEF_DELIVERY_CONCURRENCY).

A real `newsbrief run` process against the local Bot API emulator, on both databases."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from sqlalchemy import Engine
from sqlmodel import Session

from storage import outbox
from storage.models import utcnow
from tests.support.botapi import BotAPIEmulator
from tests.support.seed import add_chat, add_feed, add_story

NEWSBRIEF = Path(sys.executable).with_name("newsbrief")
ADMIN = 4242
CHATS = [10_000 + n for n in range(240)]
CONCURRENCY = 4


def start(emu: BotAPIEmulator, database_url: str, cwd: Path) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSBRIEF_")}
    env.update(
        {
            "NEWSBRIEF_DATABASE_URL": database_url,
            "NEWSBRIEF_BOT_TOKEN": emu.token,
            "NEWSBRIEF_BOT_API_URL": emu.base_url,
            "NEWSBRIEF_ADMIN_IDS": str(ADMIN),
            "NEWSBRIEF_PARSE_WORKERS": "0",
            "NEWSBRIEF_DELIVERY_CONCURRENCY": str(CONCURRENCY),
        }
    )
    return subprocess.Popen(
        [str(NEWSBRIEF), "run"],
        cwd=cwd,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait(condition, process: subprocess.Popen[str], timeout: float = 90.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not condition():
        if process.poll() is not None:
            raise AssertionError(
                f"newsbrief exited: {process.stderr.read() if process.stderr else ''}"
            )
        if time.monotonic() > deadline:
            raise AssertionError("condition not met before the deadline")
        time.sleep(0.05)


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

    first = start(emu, database_url, tmp_path)
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
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=30)
    at_kill = sum(briefs_received(emu).values())
    assert at_kill < len(CHATS), "the kill came too late to test anything"

    second = start(emu, database_url, tmp_path)
    try:
        wait(lambda: set(briefs_received(emu)) == set(CHATS), second, timeout=120)
        time.sleep(1.0)  # anything still being sent by mistake would show up now
    finally:
        second.send_signal(signal.SIGTERM)
        _, err = second.communicate(timeout=60)
    assert second.returncode == 0, err

    received = briefs_received(emu)
    duplicates = sum(received.values()) - len(CHATS)
    for message in emu.sent_to(CHATS[0]):
        assert all(f"Story {n} of the day" in (message.plain_text or "") for n in range(3))
    print(f"sent before the kill: {at_kill}, sent twice: {duplicates}")
    assert 0 <= duplicates <= CONCURRENCY, f"{duplicates} messages sent twice"
