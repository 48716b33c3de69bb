"""A local Telegram Bot API emulator over real HTTP on 127.0.0.1, for end-to-end bot tests.

Why an emulator and not PTB's offline ``BaseRequest`` stubs: the bugs that matter in delivery
live between our code and the server (HTML Telegram refuses, 429 back-off, blocked users, group
migrations, long polling and offsets), and only a real HTTP peer that answers like Telegram
exercises PTB's own request, error-mapping and polling code. Telegram itself is unreachable here.

Point PTB at it with ``ApplicationBuilder().token(emu.token).base_url(emu.bot_base_url)
.base_file_url(emu.file_base_url)``. Tests inject updates with ``push_*`` and faults with
``fail_next``/``block_chat``/``migrate_chat``/``chat_not_found``/``refuse_html``, then read
``sent``/``calls``/``call_log``. ``delay_sends`` makes sends slow enough to overlap (so
``max_concurrent_sends`` means something), and ``enforce_limits=True`` answers 429 like
Telegram when a bot sends faster than its flood limits.
The HTML check is deliberately a little stricter than Telegram: a bare ``&`` that starts no
known entity is refused (Telegram passes it through), so unescaped text fails here first.

This module is the test-facing surface (injecting updates and faults, reading what happened);
the rest lives in parts, all re-exported here so tests import from one place:
  botapi_methods.py  the Telegram side: state, the methods answered, SentMessage
  botapi_wire.py     HTTP handler, parameter decoding, Chat/User JSON, text and markup checks
  botapi_limits.py   flood-limit buckets behind ``enforce_limits``, and CallRecord
  telegram_html.py   the HTML parse mode check and ApiError
"""

from __future__ import annotations

import re
import time
from typing import Any

from tests.support import botapi_wire as wire
from tests.support.botapi_limits import GROUP_LIMIT, OVERALL_LIMIT, PRIVATE_LIMIT, CallRecord
from tests.support.botapi_methods import (
    DEFAULT_TOKEN,
    SEND_METHODS,
    UNIQUE,
    BotAPIMethods,
    SentMessage,
)
from tests.support.botapi_wire import MAX_CAPTION, MAX_TEXT, STRING_PARAMS, FilePart
from tests.support.telegram_html import ApiError, parse_html, utf16_len

__all__ = [
    "DEFAULT_TOKEN",
    "GROUP_LIMIT",
    "MAX_CAPTION",
    "MAX_TEXT",
    "OVERALL_LIMIT",
    "PRIVATE_LIMIT",
    "SEND_METHODS",
    "STRING_PARAMS",
    "ApiError",
    "BotAPIEmulator",
    "CallRecord",
    "FilePart",
    "SentMessage",
    "parse_html",
    "utf16_len",
]


class BotAPIEmulator(BotAPIMethods):
    """Answer the Bot API methods a newsbrief bot uses, over real HTTP, on an ephemeral port.

    Use as a context manager. This class is what tests call; the state it reads and the
    methods the bot's requests reach are in BotAPIMethods, guarded by the same one lock.
    """

    @property
    def base_url(self) -> str:
        assert self._httpd is not None, "emulator not started"
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    @property
    def bot_base_url(self) -> str:
        """For ``ApplicationBuilder.base_url`` / ``Bot(base_url=...)``."""
        return f"{self.base_url}/bot"

    @property
    def file_base_url(self) -> str:
        return f"{self.base_url}/file/bot"

    # -- injecting updates ----------------------------------------------------------------
    def push_message(
        self,
        chat_id: int,
        text: str,
        *,
        user_id: int | None = None,
        chat_type: str = "private",
        thread_id: int | None = None,
        language_code: str = "en",
    ) -> dict[str, Any]:
        """Queue an incoming text message; a leading /command gets a bot_command entity."""
        user = wire.user(user_id if user_id is not None else chat_id, language_code)
        with self._lock:
            msg = self._message(chat_id, wire.chat(chat_id, chat_type), user)
        msg["text"] = text
        if thread_id is not None:
            msg |= {"message_thread_id": thread_id, "is_topic_message": True}
        if m := re.match(r"/[A-Za-z0-9_]+(?:@\w+)?", text):
            msg["entities"] = [{"type": "bot_command", "offset": 0, "length": utf16_len(m[0])}]
        return self._push({"message": msg})

    def push_document(
        self,
        chat_id: int,
        filename: str,
        data: bytes,
        *,
        user_id: int | None = None,
        chat_type: str = "private",
        caption: str | None = None,
        mime_type: str | None = "application/octet-stream",
        thread_id: int | None = None,
        language_code: str = "en",
    ) -> dict[str, Any]:
        """Queue an incoming document (a file sent as a file); the bot fetches its bytes with
        getFile and a download. A leading /command in the caption gets a bot_command entity."""
        user = wire.user(user_id if user_id is not None else chat_id, language_code)
        file_id = f"DOC{next(UNIQUE)}"
        with self._lock:
            self._files[file_id] = FilePart(filename, data, mime_type or "")
            msg = self._message(chat_id, wire.chat(chat_id, chat_type), user)
        document: dict[str, Any] = {
            "file_id": file_id,
            "file_unique_id": file_id,
            "file_name": filename,
            "file_size": len(data),
        }
        if mime_type is not None:
            document["mime_type"] = mime_type
        msg["document"] = document
        if caption is not None:
            msg["caption"] = caption
            if m := re.match(r"/[A-Za-z0-9_]+(?:@\w+)?", caption):
                length = utf16_len(m[0])
                msg["caption_entities"] = [{"type": "bot_command", "offset": 0, "length": length}]
        if thread_id is not None:
            msg |= {"message_thread_id": thread_id, "is_topic_message": True}
        return self._push({"message": msg})

    def push_callback(
        self, chat_id: int, data: str, message_id: int, *, user_id: int | None = None
    ) -> dict[str, Any]:
        """Queue a button press on ``message_id`` (one of ours when it was sent here)."""
        with self._lock:
            found = [s for s in self._sent if s.chat_id == chat_id and s.message_id == message_id]
        message = (
            found[-1].payload
            if found
            else {
                "message_id": message_id,
                "date": int(time.time()),
                "chat": wire.chat(chat_id),
                "from": self.bot_user,
                "text": "",
            }
        )
        query = {
            "id": str(next(UNIQUE)),
            "from": wire.user(user_id or chat_id, "en"),
            "message": message,
            "chat_instance": str(chat_id),
            "data": data,
        }
        return self._push({"callback_query": query})

    def push_my_chat_member(
        self, chat_id: int, status: str, *, user_id: int | None = None, chat_type: str = "private"
    ) -> dict[str, Any]:
        """Queue a change of the bot's own membership; in a private chat "kicked" is a user
        blocking the bot, so later sends to it get 403 (and "member" unblocks)."""
        extras: dict[str, dict[str, Any]] = {"kicked": {"until_date": 0}}
        extra = extras.get(status, wire.ADMIN_RIGHTS if status == "administrator" else {})
        if status not in {"member", "left", "kicked", "administrator"}:
            raise ValueError(f"unsupported status {status!r}")
        old = "left" if status in {"member", "administrator"} else "member"
        update = {
            "chat": wire.chat(chat_id, chat_type),
            "from": wire.user(user_id or chat_id, "en"),
            "date": int(time.time()),
            "old_chat_member": {"user": self.bot_user, "status": old},
            "new_chat_member": {"user": self.bot_user, "status": status, **extra},
        }
        with self._lock:
            (self._blocked.add if status in {"kicked", "left"} else self._blocked.discard)(chat_id)
        return self._push({"my_chat_member": update})

    # -- faults ---------------------------------------------------------------------------
    def fail_next(
        self,
        method: str,
        status: int = 429,
        *,
        retry_after: int = 3,
        description: str | None = None,
        times: int = 1,
        after: int = 0,
    ) -> None:
        """Answer the next ``times`` calls of ``method`` with an error (429, 500, 502, ...),
        once ``after`` more calls of it have gone through normally."""
        params = {"retry_after": retry_after} if status == 429 else None
        text = description or {
            429: f"Too Many Requests: retry after {retry_after}",
            409: "Conflict: terminated by other getUpdates request",
            502: "Bad Gateway",
        }.get(status, "Internal Server Error")
        with self._lock:
            queue = self._faults[method.lower()]
            queue.extend(None for _ in range(after))
            queue.extend(ApiError(status, text, params) for _ in range(times))

    def block_chat(self, chat_id: int) -> None:
        with self._lock:
            self._blocked.add(chat_id)

    def migrate_chat(self, old_id: int, new_id: int) -> None:
        with self._lock:
            self._migrated[old_id] = new_id

    def chat_not_found(self, chat_id: int) -> None:
        with self._lock:
            self._missing.add(chat_id)

    def refuse_html(self, marker: str) -> None:
        """Refuse every HTML-mode text or caption containing ``marker`` with Telegram's
        "can't parse entities" (the same text without a parse mode goes through)."""
        with self._lock:
            self._refused.append(marker)

    def delay_sends(self, seconds: float) -> None:
        """Make each send take this long, so concurrent sends overlap on the server."""
        with self._lock:
            self._send_delay = seconds

    # -- what happened --------------------------------------------------------------------
    @property
    def calls(self) -> list[tuple[str, dict[str, Any]]]:
        """(method, params) of every authorised request in arrival order; a snapshot."""
        with self._lock:
            return list(self._calls)

    @property
    def sent(self) -> list[SentMessage]:
        with self._lock:
            return list(self._sent)

    @property
    def answered_callbacks(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._answered)

    @property
    def call_log(self) -> list[CallRecord]:
        """Every authorised request with its arrival time and answer status; a snapshot."""
        with self._lock:
            return list(self._log)

    @property
    def max_concurrent_sends(self) -> int:
        """The most send requests (sendMessage, sendDocument, ...) being answered at once."""
        with self._lock:
            return self._max_sends_in_flight

    @property
    def limit_hits(self) -> int:
        """How many sends ``enforce_limits`` answered with 429."""
        with self._lock:
            return self._limits.hits

    @property
    def downloads(self) -> list[str]:
        """The file_path of every file download served, in order."""
        with self._lock:
            return list(self._downloads)

    def sent_to(self, chat_id: int | str) -> list[SentMessage]:
        with self._lock:
            return [s for s in self._sent if s.chat_id == chat_id]

    def commands(self, scope: str = "default", language_code: str = "") -> list[dict[str, Any]]:
        """The command list set for a scope type ("default", "all_private_chats", ...)."""
        with self._lock:
            return list(self._commands.get((scope, language_code), []))

    def pending_updates(self) -> int:
        with self._lock:
            return len(self._updates)
