"""When the next message may go out, under Telegram's limits. Pure: the clock is passed in.

Telegram's FAQ: about 30 messages a second overall, one a second to the same chat, 20 a minute
to the same group or channel; beyond that, 429 with retry_after. PTB's AIORateLimiter covers
the overall and group limits but does not space messages to one private chat, and a broadcast
to thousands of users is exactly that case. So the sender books a slot here before each send:
slots are spread evenly (1/30 s apart overall, 1 s per private chat, 3 s per group), and a 429
pushes every slot past the time Telegram asked for.
"""

from __future__ import annotations

import bisect
import time
from collections.abc import Callable

GROUP_TYPES = frozenset({"group", "supergroup", "channel"})
_EPSILON = 1e-9  # float slack, so slots exactly one gap apart do not count as too close


class Pacer:
    """Books send times. Overall slots are kept as a sorted list rather than one cursor: a
    chat whose own spacing puts its message seconds ahead (a group's second message) books a
    slot there without pushing every other chat's messages behind it."""

    def __init__(
        self,
        *,
        per_second: float = 30.0,
        private_interval: float = 1.0,
        group_per_minute: float = 20.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._global_interval = 1.0 / per_second
        self._private_interval = private_interval
        self._group_interval = 60.0 / group_per_minute
        self._clock = clock
        self._booked: list[float] = []  # overall slots, sorted; the past ones are dropped
        self._next_chat: dict[int, float] = {}
        self._paused_until = 0.0

    def reserve(self, chat_id: int, chat_type: str) -> float:
        """Book the earliest slot for a message to this chat; the seconds to wait for it."""
        now = self._clock()
        gap = self._global_interval
        del self._booked[: bisect.bisect_left(self._booked, now - gap)]
        slot = max(now, self._next_chat.get(chat_id, 0.0), self._paused_until)
        # The earliest time at least one gap away from every booked slot.
        index = bisect.bisect_right(self._booked, slot - gap + _EPSILON)
        while index < len(self._booked) and self._booked[index] < slot + gap - _EPSILON:
            slot = self._booked[index] + gap
            index += 1
        self._booked.insert(index, slot)
        interval = self._group_interval if chat_type in GROUP_TYPES else self._private_interval
        self._next_chat[chat_id] = slot + interval
        if len(self._next_chat) > 50_000:  # forget chats whose spacing no longer matters
            self._next_chat = {c: t for c, t in self._next_chat.items() if t > now}
        return slot - now

    def pause(self, seconds: float) -> None:
        """Telegram said 429 retry_after=seconds: nothing at all goes out before then.

        Slots booked inside the pause are given up (their senders book again when they see
        the pause), so they do not crowd the first free slots after it."""
        until = max(self._paused_until, self._clock() + seconds)
        self._paused_until = until
        now = self._clock()
        keep = [t for t in self._booked if t <= now or t >= until]
        self._booked = keep

    def paused_for(self) -> float:
        return max(0.0, self._paused_until - self._clock())
