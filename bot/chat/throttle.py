"""A polite per-user throttle: a user firing commands (or button presses) faster than the bot
may answer them gets a short burst answered, then ONE "slow down" notice, and the rest is
dropped until their allowance refills. Everyone else is unaffected.

Why: Telegram lets a bot send about one message a second to a private chat (a short burst
passes) and answers 429 beyond that. Without a throttle, 100 commands in a few seconds from
one user would make 100 handlers run (eight at a time: ``concurrent_updates(8)``), each with
its database work and a reply; those replies would use up the bot's overall 30-a-second
budget that other users' replies and the outbox share, most of them would be refused with 429
anyway, and the other users' commands would wait behind them in PTB's update queue. A dropped
update costs a dictionary lookup instead.

The bucket is sized to Telegram's own limit: ``COMMAND_BURST`` answers plus the notice fit
Telegram's short burst to one chat, and the refill is slower than its one a second, so the
replies to a user who keeps typing never draw a 429. Button presses only edit a message and
answer the press (neither counts against the chat's message limit), so they get a larger
allowance of their own, and a dropped press is still answered (with the notice) or the
user's client would spin.

Admins (NEWSBRIEF_ADMIN_IDS) are exempt: they are few, chosen by the operator and can already
/broadcast to every chat, so throttling them protects no one, while dropping one of their
Confirm presses or /feedstatus pages would be a silent failure of the console.

State is in memory only (a restart forgets it, which is harmless) and bounded: idle users are
forgotten once ``MAX_TRACKED`` users are tracked.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from telegram import Message, Update
from telegram.constants import ChatType
from telegram.ext import ApplicationHandlerStop, ContextTypes, TypeHandler

from bot.chat.common import answer_language, load_chat_language, reply
from bot.chat.i18n import t
from bot.chat.runtime import get_runtime

COMMAND_BURST = 8.0  # commands a person may fire in a row (a menu tapped through, retries)
COMMAND_RATE = 1.0  # then one a second: Telegram's pace for messages to one chat
BUTTON_BURST = 20.0  # presses only edit a message: paging through results is quick
BUTTON_RATE = 4.0
NOTICE_EVERY = 30.0  # seconds: at most one notice per user in this window
MAX_TRACKED = 10_000  # users remembered before idle ones are forgotten
_COMMAND = re.compile(r"/[A-Za-z0-9_]+(?:@(\w+))?")


@dataclass(slots=True)
class Bucket:
    """A token bucket: ``capacity`` at once, refilled at ``rate`` a second."""

    capacity: float
    rate: float
    tokens: float
    updated: float

    def take(self, now: float) -> bool:
        """Take one token if there is one."""
        self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        if self.tokens < 1.0:
            return False
        self.tokens -= 1.0
        return True

    def idle(self, now: float) -> bool:
        """Full again: forgetting it changes nothing."""
        return self.tokens + (now - self.updated) * self.rate >= self.capacity


@dataclass(slots=True)
class Throttle:
    """The buckets of every user seen recently, and when each was last told to slow down."""

    clock: Callable[[], float] = time.monotonic
    commands: dict[int, Bucket] = field(default_factory=dict)
    buttons: dict[int, Bucket] = field(default_factory=dict)
    noticed: dict[int, float] = field(default_factory=dict)
    pruned_at: float = float("-inf")

    def allow(self, user_id: int, *, button: bool) -> bool:
        """Charge one command (or press) to the user; False when they are over their limit."""
        now = self.clock()
        buckets = self.buttons if button else self.commands
        bucket = buckets.get(user_id)
        if bucket is None:
            if len(buckets) >= MAX_TRACKED and now - self.pruned_at >= 1.0:
                self._forget_idle(buckets, now)  # at most once a second: a scan is O(users)
                self.pruned_at = now
            capacity, rate = (
                (BUTTON_BURST, BUTTON_RATE) if button else (COMMAND_BURST, COMMAND_RATE)
            )
            bucket = buckets[user_id] = Bucket(capacity, rate, capacity, now)
        return bucket.take(now)

    def should_notify(self, user_id: int) -> bool:
        """True for the first drop of a window: the user is told once, not for every drop."""
        now = self.clock()
        last = self.noticed.get(user_id)
        if last is not None and now - last < NOTICE_EVERY:
            return False
        if len(self.noticed) >= MAX_TRACKED:
            for user in [u for u, at in self.noticed.items() if now - at >= NOTICE_EVERY]:
                del self.noticed[user]
        self.noticed[user_id] = now
        return True

    @staticmethod
    def _forget_idle(buckets: dict[int, Bucket], now: float) -> None:
        for user in [u for u, bucket in buckets.items() if bucket.idle(now)]:
            del buckets[user]


def _is_our_command(message: Message) -> bool:
    """A /command addressed to this bot (not ``/cmd@other_bot``), in text or a file's caption;
    or a file sent in a private chat (an OPML import, which is answered)."""
    found = _COMMAND.match(message.text or message.caption or "")
    if found is None:
        return message.document is not None and message.chat.type == ChatType.PRIVATE
    return found[1] is None or found[1].lower() == (message.get_bot().username or "").lower()


def slow_down(lang: str) -> str:
    return t(
        lang,
        "You are sending commands faster than I can answer, so I am skipping some. "
        "Wait a few seconds, then send the one you need again.",
    )


async def _notice(update: Update, context: ContextTypes.DEFAULT_TYPE) -> str:
    """The notice in the chat's /language choice, else the user's Telegram language."""
    await load_chat_language(update, context)  # its group runs after this one
    return slow_down(answer_language(update))


def handler(
    throttle: Throttle | None = None,
) -> TypeHandler[Update, ContextTypes.DEFAULT_TYPE, None]:
    """The throttle as the first handler group: it lets an update through, or answers the
    first drop with the notice and stops every later handler (``ApplicationHandlerStop``)."""
    state = throttle or Throttle()

    async def check(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        user = update.effective_user
        query = update.callback_query
        # An edited "/search …" runs again (search handlers take edits), so edits count too.
        message = update.message or update.edited_message
        if user is None or (query is None and (message is None or not _is_our_command(message))):
            return
        if get_runtime(context).is_admin(user.id) or state.allow(user.id, button=query is not None):
            return
        notice = await _notice(update, context) if state.should_notify(user.id) else None
        if query is not None:
            await query.answer(notice)  # always answered, or the user's client spins
        elif notice is not None:
            await reply(update, notice)
        raise ApplicationHandlerStop

    return TypeHandler(Update, check)
