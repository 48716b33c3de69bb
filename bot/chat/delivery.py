"""The delivery worker: sends what the outbox owes, paced to Telegram's limits, never dropping.

One asyncio task claims due outbox rows (oldest first; only a chat's oldest pending row, one
at a time, so a chat's messages keep their order even when one of them is retried later),
re-reads each just before sending (the claim may be stale), renders it (briefs are composed in
a worker thread), books a slot with the :class:`~bot.chat.pacing.Pacer` and sends it. At most
``delivery_concurrency`` rows are in flight; a row is marked sent only after Telegram
answered, so after a crash only those few can be sent twice. Telegram's answers decide what
happens next:

- 429 retry_after: every send waits that long (plus a margin), then the row is sent again;
- 403 (blocked, deactivated, kicked): the chat is marked inactive and its rows skipped;
- 400 migrate_to_chat_id: the chat, its subscriptions and its rows move to the new id;
- 400 chat not found: retried, and the chat made inactive after a few in a row (a send that
  goes through resets the count);
- 400 can't parse entities: sent once more as plain text, and logged (rendering is tested,
  so this is a bug to report, not a message to lose);
- network errors, timeouts and 5xx: retried with exponential backoff; the row stays owed.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import warnings
from dataclasses import dataclass
from datetime import timedelta

from sqlmodel import Session
from telegram import Bot, LinkPreviewOptions, Message
from telegram.error import BadRequest, ChatMigrated, Forbidden, RetryAfter, TelegramError
from telegram.warnings import PTBDeprecationWarning

from bot.briefs.render import (
    BRIEF_DISABLE_LINK_PREVIEW,
    DIGEST_DISABLE_LINK_PREVIEW,
    plain_text,
    render_brief,
    render_digest,
)
from bot.chat.digests import zone
from bot.chat.i18n import tn
from bot.chat.pacing import Pacer
from bot.chat.runtime import Runtime
from bot.observe.counters import DeliveryCounters
from storage import chats as chat_queries
from storage import outbox
from storage.models import utcnow

log = logging.getLogger(__name__)
RETRY_MARGIN = 0.5  # seconds added to Telegram's retry_after
NOT_FOUND_LIMIT = 3  # "chat not found" answers in a row before a chat is made inactive
MAX_BACKOFF = 3600.0


@dataclass(frozen=True, slots=True)
class Outgoing:
    text: str
    preview: bool


def render_item(runtime: Runtime, session: Session, item: outbox.DueItem) -> list[Outgoing]:
    """The messages an outbox row stands for, in the chat's time zone and language."""
    if item.kind == "broadcast":
        return [Outgoing(str(item.payload.get("html", "")), preview=False)]
    ids = [int(i) for i in item.payload.get("stories", [])]
    views = [view for _, view in runtime.briefs.many(session, ids)]
    if not views:
        return []
    tz = zone(item.timezone)
    if item.kind == "brief" and len(views) == 1:
        return [Outgoing(render_brief(views[0], tz=tz), not BRIEF_DISABLE_LINK_PREVIEW)]
    count = len(views)
    header = (
        tn(item.language, "Latest news: {count} story", "Latest news: {count} stories", count)
        if item.kind == "push"
        else tn(item.language, "Your digest: {count} story", "Your digest: {count} stories", count)
    )
    return [
        Outgoing(text, not DIGEST_DISABLE_LINK_PREVIEW)
        for text in render_digest(views, header=header, tz=tz)
    ]


def _retry_after(exc: RetryAfter) -> float:
    # PTB 22 warns on reading retry_after as seconds unless PTB_TIMEDELTA is set; both work.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PTBDeprecationWarning)
        value = exc.retry_after
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


class _Stopped(Exception):
    """The worker is stopping while this row waited for its slot: leave the row owed."""


@dataclass(slots=True)
class _Row:
    """One row as it stands right before sending (the claimed DueItem may be stale: a
    migration can move it, /stop can deactivate its chat, a restart can resume it)."""

    item: outbox.DueItem
    messages: list[Outgoing]
    part: int
    failures: int  # the chat's "chat not found" answers in a row
    chat_id: int  # where it goes now (a migration changes it mid-row)


class Deliverer:
    """Drains the outbox until stopped. One per bot (one process owns the token)."""

    def __init__(self, runtime: Runtime, bot: Bot, *, pacer: Pacer | None = None) -> None:
        self.runtime = runtime
        self.bot = bot
        self.pacer = pacer or Pacer()
        self.counters = DeliveryCounters()
        self._slots = asyncio.Semaphore(runtime.settings.delivery_concurrency)
        self._busy_chats: set[int] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._stopping = asyncio.Event()
        self._main: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._main = asyncio.create_task(self._run(), name="newsbrief-delivery")

    async def stop(self) -> None:
        """Stop claiming rows and let the sends in flight finish; rows still waiting for a
        slot (a long 429 pause) stay owed and go after the restart."""
        self._stopping.set()
        self.runtime.outbox_ready.set()
        if self._main is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._main
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=30)

    @property
    def in_flight(self) -> int:
        return len(self._tasks)

    async def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                claimed = await self._claim()
            except Exception:  # the database may be briefly away; the rows are still owed
                log.exception("delivery: could not read the outbox")
                claimed = 0
            if claimed == 0:
                await self._idle()

    async def _idle(self) -> None:
        ready = self.runtime.outbox_ready
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(ready.wait(), timeout=1.0)
        ready.clear()

    async def _claim(self) -> int:
        await self._slots.acquire()  # claim only when a send could start
        self._slots.release()
        busy = set(self._busy_chats)
        items = await self.runtime.db(lambda s: outbox.due_heads(s, utcnow(), limit=50, busy=busy))
        started = 0
        for item in items:
            if self._stopping.is_set():
                break
            if item.chat_id in self._busy_chats:
                continue  # a migration moved rows to this chat meanwhile
            await self._slots.acquire()
            self._busy_chats.add(item.chat_id)
            task = asyncio.create_task(self._deliver(item))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
            started += 1
        return started

    async def _deliver(self, item: outbox.DueItem) -> None:
        chats = {item.chat_id}
        try:
            await self._deliver_item(item, chats)
        except _Stopped:
            pass
        except Exception:  # never lose the row: it stays pending and is retried
            log.exception("delivery: unexpected error on outbox row %s", item.id)
            with contextlib.suppress(Exception):  # the database may be what failed
                await self._retry(item, "unexpected error")
        finally:
            self._busy_chats.difference_update(chats)
            self._slots.release()
            self.runtime.outbox_ready.set()  # the chat's next row may go now

    async def _deliver_item(self, item: outbox.DueItem, chats: set[int]) -> None:
        current = await self.runtime.db(functools.partial(self._prepare, item=item))
        if current is None:
            return  # no longer pending (another worker's, or handled meanwhile)
        if isinstance(current, str):
            await self.runtime.db(lambda s: outbox.finish(s, item.id, outbox.SKIPPED, current))
            self.counters.skipped += 1
            return
        self._busy_chats.add(current.chat_id)
        chats.add(current.chat_id)
        last_id: int | None = None
        while current.part < len(current.messages):
            outcome = await self._send(current, current.messages[current.part], chats)
            if not isinstance(outcome, Message):
                return  # _send recorded what happens to the row
            last_id = outcome.message_id
            current.part += 1
            if current.part < len(current.messages):
                progress = {**current.item.payload, "part": current.part}
                await self.runtime.db(
                    functools.partial(outbox.set_progress, item_id=item.id, payload=progress)
                )
        reset = current.failures > 0
        chat_id = current.chat_id
        await self.runtime.db(
            functools.partial(
                _sent, item_id=item.id, message_id=last_id, chat_id=chat_id, reset=reset
            )
        )
        self.counters.sent += 1

    def _prepare(self, session: Session, *, item: outbox.DueItem) -> _Row | str | None:
        """The row as it is now and its messages; a reason to skip it; None if not pending."""
        fresh = outbox.current_item(session, item.id)
        if fresh is None or fresh.state != outbox.PENDING:
            return None
        if not fresh.chat_active:
            return "inactive"
        messages = render_item(self.runtime, session, fresh)
        part = int(fresh.payload.get("part", 0))
        if part >= len(messages):
            return "nothing to send"  # its stories are gone
        return _Row(fresh, messages, part, fresh.chat_failures, fresh.chat_id)

    async def _wait_for_slot(self, chat_id: int, chat_type: str) -> None:
        """Sleep until the pacer's slot; book again if a 429 paused everything meanwhile."""
        while True:
            delay = self.pacer.reserve(chat_id, chat_type)
            if delay > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), timeout=delay)
            if self._stopping.is_set():
                raise _Stopped
            if self.pacer.paused_for() <= 0:
                return

    async def _send(self, row: _Row, message: Outgoing, chats: set[int]) -> Message | None:
        """One message, retried in place on 429 and after a migration; None when the row was
        rescheduled, skipped or failed instead."""
        item, plain = row.item, False
        while True:
            await self._wait_for_slot(row.chat_id, item.chat_type)
            try:
                return await self.bot.send_message(
                    row.chat_id,
                    plain_text(message.text) if plain else message.text,
                    parse_mode=None if plain else "HTML",
                    message_thread_id=item.topic_id or None,
                    link_preview_options=LinkPreviewOptions(is_disabled=not message.preview),
                )
            except RetryAfter as exc:
                self.counters.rate_limited += 1
                wait = _retry_after(exc) + RETRY_MARGIN
                log.warning("delivery: 429 from Telegram, pausing all sends for %.1f s", wait)
                self.pacer.pause(wait)
            except ChatMigrated as exc:
                new_id = int(exc.new_chat_id)
                if new_id == row.chat_id:
                    await self._fail(item, f"migrated to itself: {exc.message}")
                    return None
                log.info("delivery: chat %s became supergroup %s", row.chat_id, new_id)
                await self.runtime.db(
                    functools.partial(_migrate, old_id=row.chat_id, new_id=new_id)
                )
                self.counters.migrated += 1
                # Rows moved to the new id wait for this one, as they did for the old id.
                self._busy_chats.add(new_id)
                chats.add(new_id)
                row.chat_id = new_id
            except Forbidden as exc:
                await self._drop_chat(item, row.chat_id, f"forbidden: {exc.message}")
                return None
            except BadRequest as exc:
                text = exc.message.lower()
                if "can't parse entities" in text and not plain:
                    log.error("delivery: Telegram refused our HTML (%s): %r", exc.message, message)
                    self.counters.plain_fallbacks += 1
                    plain = True
                    continue
                if "chat not found" in text:
                    await self._not_found(item, row.chat_id, exc.message)
                    return None
                log.error("delivery: outbox row %s refused: %s", item.id, exc.message)
                await self._fail(item, exc.message)
                return None
            except TelegramError as exc:  # timeouts, 5xx, connection errors (NetworkError)
                await self._retry(item, f"{type(exc).__name__}: {exc.message}")
                return None

    async def _fail(self, item: outbox.DueItem, error: str) -> None:
        await self.runtime.db(
            functools.partial(outbox.finish, item_id=item.id, state=outbox.FAILED, error=error)
        )
        self.counters.failed += 1

    async def _retry(self, item: outbox.DueItem, error: str) -> None:
        delay = min(MAX_BACKOFF, 2.0 * 2 ** min(item.attempts, 12))
        when = utcnow() + timedelta(seconds=delay)
        self.counters.retried += 1
        await self.runtime.db(lambda s: outbox.reschedule(s, item.id, when, error))

    async def _drop_chat(self, item: outbox.DueItem, chat_id: int, error: str) -> None:
        """The bot can no longer write here: inactive until someone sends /start again."""
        log.info("delivery: chat %s is gone (%s); marking it inactive", chat_id, error)

        def drop(session: Session) -> int:
            chat_queries.set_active(session, chat_id, False)
            outbox.finish(session, item.id, outbox.SKIPPED, error)
            return outbox.skip_chat(session, chat_id, error)

        self.counters.skipped += 1 + await self.runtime.db(drop)

    async def _not_found(self, item: outbox.DueItem, chat_id: int, error: str) -> None:
        def note(session: Session) -> bool:
            chat = chat_queries.get_chat(session, chat_id)
            # A chat with no row (a channel nobody registered) counts this row's attempts.
            failures = item.attempts + 1
            if chat is not None:
                chat.failures += 1
                failures = chat.failures
                session.add(chat)
            return failures >= NOT_FOUND_LIMIT

        if await self.runtime.db(note):
            await self._drop_chat(item, chat_id, error)
        else:
            await self._retry(item, error)


def _sent(
    session: Session, *, item_id: int, message_id: int | None, chat_id: int, reset: bool
) -> None:
    outbox.mark_sent(session, item_id, message_id)
    if reset:  # "chat not found" counts answers in a row: the chat is reachable again
        chat = chat_queries.get_chat(session, chat_id)
        if chat is not None:
            chat.failures = 0
            session.add(chat)


def _migrate(session: Session, *, old_id: int, new_id: int) -> None:
    chat_queries.migrate_chat(session, old_id, new_id)
    outbox.move_chat(session, old_id, new_id)
