"""What every handler and job needs, built once in ``app.build_application`` and kept in
``application.bot_data``: settings, the engine, the brief cache and the delivery wake-up.

Database work is synchronous (SQLModel); handlers run it in a worker thread through
:meth:`Runtime.db` so one slow query or summary never stalls polling for everyone else.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy import Engine
from sqlmodel import Session
from telegram.ext import ContextTypes

from bot.chat.briefcache import BriefCache
from bot.observe.metrics import Metrics
from bot.settings import Settings
from storage import chats as chat_queries

if TYPE_CHECKING:
    from bot.chat.delivery import Deliverer
    from bot.ingest.pipeline import Ingestor
    from bot.observe.server import ObserveServer

T = TypeVar("T")
RUNTIME_KEY = "newsbrief"
CONFIRM_TTL = 600.0  # seconds an admin has to confirm a /push or /broadcast preview


@dataclass(slots=True)
class Pending:
    """An action shown to an admin for confirmation (a /push or a /broadcast)."""

    kind: str
    admin_id: int
    chat_id: int
    args: dict[str, Any]
    created: float = field(default_factory=time.monotonic)


@dataclass(slots=True)
class Runtime:
    settings: Settings
    engine: Engine
    briefs: BriefCache
    # Set when new outbox rows exist, so the sender does not wait for its next poll.
    outbox_ready: asyncio.Event = field(default_factory=asyncio.Event)
    pending: dict[str, Pending] = field(default_factory=dict)
    # Set by the jobs while the Application runs.
    fetching: bool = True
    deliverer: Deliverer | None = None
    ingestor: Ingestor | None = None
    # Always counted (cheap); served on NEWSBRIEF_METRICS_PORT by ``observer`` when it is set.
    metrics: Metrics = field(default_factory=Metrics)
    observer: ObserveServer | None = None
    exit_stack: contextlib.AsyncExitStack = field(default_factory=contextlib.AsyncExitStack)
    # Each chat's /language choice (None: automatic), read from the database the first time
    # the chat is seen after a start; /language writes the database, then this.
    chat_languages: dict[int, str | None] = field(default_factory=dict)

    def is_admin(self, user_id: int | None) -> bool:
        return user_id is not None and user_id in self.settings.admin_ids

    async def chat_language(self, chat_id: int) -> str | None:
        """The chat's chosen language: one database read per chat and process, then memory.

        Only /language changes a choice, in this process (the one that owns the token), and
        it calls :meth:`remember_language`; so the memory never goes stale. A chat first seen
        under a new id (a group upgraded to a supergroup) is simply read again.
        """
        if chat_id in self.chat_languages:
            return self.chat_languages[chat_id]
        found = await self.db(lambda s: chat_queries.chosen_language(s, chat_id))
        # setdefault: a /language that committed while this read was in flight wins.
        return self.chat_languages.setdefault(chat_id, found)

    def remember_language(self, chat_id: int, language: str | None) -> None:
        self.chat_languages[chat_id] = language

    async def db(self, work: Callable[[Session], T]) -> T:
        """Run ``work(session)`` in a thread and commit; the result comes back to the loop."""

        def run() -> T:
            with Session(self.engine, expire_on_commit=False) as session:
                result = work(session)
                session.commit()
                return result

        return await asyncio.to_thread(run)

    def hold(self, kind: str, admin_id: int, chat_id: int, **args: Any) -> str:
        """Remember an action awaiting confirmation; the token goes in the button's data.

        Tokens live in memory only: after a restart every old Confirm button is stale and
        refused, which is what an admin expects of a preview they have not seen again.
        """
        now = time.monotonic()
        for token in [k for k, p in self.pending.items() if now - p.created > CONFIRM_TTL]:
            del self.pending[token]
        token = secrets.token_urlsafe(6)
        self.pending[token] = Pending(kind, admin_id, chat_id, args)
        return token

    def take(self, token: str, kind: str, admin_id: int) -> Pending | None:
        """The held action if it is fresh, of this kind and held for this admin (once)."""
        pending = self.pending.get(token)
        if pending is None or pending.kind != kind or pending.admin_id != admin_id:
            return None
        del self.pending[token]
        if time.monotonic() - pending.created > CONFIRM_TTL:
            return None
        return pending


def get_runtime(context: ContextTypes.DEFAULT_TYPE) -> Runtime:
    runtime = context.bot_data[RUNTIME_KEY]
    assert isinstance(runtime, Runtime)
    return runtime
