"""bench/broadcast: a push to 2,000 private chats through a Bot API that enforces Telegram's
flood limits (30 messages/s overall, 1/s per private chat, 20/min per group; 429 beyond).

The real Application and delivery worker run against the local emulator with
``enforce_limits=True``; the push is queued exactly as an admin's confirmed /push queues it
(``fanout.plan_push`` + ``enqueue_push``). Measured: messages per second between the first
and last send, 429 answers, and chats that never got their message.

Run: .venv/bin/python -m bench.broadcast [--chats 2000] [--database-url URL]
Target: ≥ 28 messages/s, 0 × 429, 0 lost.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

from sqlalchemy import func
from sqlmodel import Session, select

from bench.report import write_section
from bot.chat import fanout
from storage import outbox
from storage.db import make_engine
from storage.migrate import upgrade
from storage.models import OutboxItem, utcnow
from tests.support.botapi import BotAPIEmulator
from tests.support.botharness import bot_settings, running_bot
from tests.support.seed import add_chat, add_feed, add_story

FIRST_CHAT = 50_000_000


def seed(database_url: str, chats: int) -> None:
    engine = make_engine(database_url)
    upgrade(engine)
    with Session(engine) as session:
        feed = add_feed(session, "wire")
        stories = [
            add_story(session, feed, f"Bench story {n}", f"Text of bench story {n}. " * 5)
            for n in range(3)
        ]
        outbox.mark_announced(session, stories, utcnow())
        session.commit()
        for n in range(chats):
            add_chat(session, FIRST_CHAT + n)
    engine.dispose()


async def run(database_url: str, chats: int) -> dict[str, float]:
    engine = make_engine(database_url)
    with BotAPIEmulator(enforce_limits=True) as emu:
        settings = bot_settings(emu, database_url)
        async with running_bot(emu, settings, engine) as bot:
            queued = await bot.runtime.db(lambda s: fanout.enqueue_push(s, fanout.plan_push(s)))
            bot.runtime.outbox_ready.set()
            started = time.monotonic()
            deadline = started + chats / 10 + 60  # far beyond the target; a stall shows as lost

            def delivered() -> int:
                return len({m.chat_id for m in emu.sent if int(m.chat_id) >= FIRST_CHAT})

            while delivered() < chats and time.monotonic() < deadline:
                await asyncio.sleep(0.2)
            deliverer = bot.runtime.deliverer
            assert deliverer is not None
            rate_limited = deliverer.counters.rate_limited
        sends = [c for c in emu.call_log if c.method.lower() == "sendmessage" and c.status == 200]
        span = max(c.at for c in sends) - min(c.at for c in sends) if len(sends) > 1 else 0.0
        with Session(engine) as session:
            pending = session.exec(
                select(func.count()).select_from(OutboxItem).where(OutboxItem.state != "sent")
            ).one()
        result = {
            "chats": chats,
            "queued": queued,
            "sent": len(sends),
            "seconds": span,
            "per_second": (len(sends) - 1) / span if span else 0.0,
            "http_429": emu.limit_hits,
            "rate_limited_seen": rate_limited,
            "lost": chats - delivered(),
            "not_sent_rows": int(pending),
        }
    engine.dispose()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--chats", type=int, default=2000)
    parser.add_argument("--database-url", default=None, help="default: a temporary SQLite file")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or f"sqlite:///{Path(tmp) / 'broadcast.db'}"
        seed(url, args.chats)
        result = asyncio.run(run(url, args.chats))
    backend = url.split(":", 1)[0]
    print(result)
    ok = result["per_second"] >= 28 and result["http_429"] == 0 and result["lost"] == 0
    verdict = "met" if ok else "NOT met"
    command = f".venv/bin/python -m bench.broadcast --chats {args.chats}"
    if args.database_url:
        command += " --database-url postgresql://…"
    row = (
        f"| {result['sent']:,.0f} | {result['seconds']:.1f} s | **{result['per_second']:.1f}** "
        f"| {result['http_429']:.0f} | {result['lost']:.0f} | ≥ 28/s, 0 × 429, 0 lost: {verdict} |"
    )
    body = f"""## Broadcast: a push to {args.chats:,} private chats ({backend})

`{command}`: the real Application and
delivery worker against the local Bot API emulator enforcing Telegram's flood limits (429 above
30 messages/s overall, 1/s per private chat, 20/min per group).

| messages sent | time (first to last send) | messages/s | 429 answers | lost | target |
|---|---|---|---|---|---|
{row}
"""
    write_section(f"broadcast-{backend}", body)


if __name__ == "__main__":
    main()
