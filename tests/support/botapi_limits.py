"""Timing on the Bot API emulator's clock: the call log record and Telegram's flood limits.

Part of tests/support/botapi.py (BotAPIEmulator). Both use ``time.monotonic()`` on the server
side, so tests check pacing and pauses as Telegram would see them, not as the bot believes.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any

from tests.support.telegram_html import ApiError

# Telegram's FAQ limits: ~30 messages a second overall, one a second to a private chat (a short
# burst passes), 20 a minute to a group or channel.
OVERALL_LIMIT = (30.0, 30.0)
PRIVATE_LIMIT = (3.0, 1.0)
GROUP_LIMIT = (20.0, 20.0 / 60.0)


@dataclass(slots=True)
class CallRecord:
    """One authorised request: when it arrived and ended (``time.monotonic()``) and the HTTP
    status it was answered with, so tests can check pacing and pauses on the server's clock."""

    method: str
    params: dict[str, Any]
    at: float
    status: int = 0  # 0 while the call is being answered
    done_at: float = 0.0

    @property
    def chat_id(self) -> Any:
        return self.params.get("chat_id")


@dataclass(slots=True)
class Bucket:
    """A token bucket: ``capacity`` messages at once, refilled at ``rate`` per second."""

    capacity: float
    rate: float
    tokens: float = -1.0
    updated: float = 0.0

    def wait(self, now: float) -> float:
        """Seconds until one token is available (0: now)."""
        if self.tokens < 0:
            self.tokens, self.updated = self.capacity, now
        self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        return 0.0 if self.tokens >= 1 else (1 - self.tokens) / self.rate


class FloodLimits:
    """The buckets behind ``enforce_limits``: one overall, one for each chat. Not locked
    itself; the emulator charges it under its own lock."""

    def __init__(self) -> None:
        self._buckets: dict[int | str, Bucket] = {}
        self.hits = 0  # sends answered with 429

    def charge(self, chat_id: int | str) -> None:
        """Telegram's flood control: take a token from the overall bucket and the chat's, or
        answer 429 with the whole seconds until both have one."""
        now = time.monotonic()
        private = isinstance(chat_id, int) and chat_id > 0
        if chat_id not in self._buckets:
            capacity, rate = PRIVATE_LIMIT if private else GROUP_LIMIT
            self._buckets[chat_id] = Bucket(capacity, rate)
        overall = self._buckets.setdefault("*overall*", Bucket(*OVERALL_LIMIT))
        buckets = (overall, self._buckets[chat_id])
        wait = max(bucket.wait(now) for bucket in buckets)
        if wait > 0:
            self.hits += 1
            seconds = max(1, math.ceil(wait))
            raise ApiError(
                429, f"Too Many Requests: retry after {seconds}", {"retry_after": seconds}
            )
        for bucket in buckets:
            bucket.tokens -= 1
