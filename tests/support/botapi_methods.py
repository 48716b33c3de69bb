"""The Telegram side of the Bot API emulator: its state and the methods it answers.

Part of tests/support/botapi.py, where BotAPIEmulator adds what tests call (injecting updates
and faults, reading what was sent) on top of this class. A send is checked in one fixed order:
injected faults, then the chat (missing, migrated, blocked), then flood limits, then markup
and text, so a test that sets up two faults knows which one the bot sees.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections import defaultdict, deque
from dataclasses import dataclass, field
from typing import Any

from tests.support import botapi_wire as wire
from tests.support.botapi_limits import CallRecord, FloodLimits
from tests.support.botapi_wire import BotAPIHandler, FilePart
from tests.support.httpserver import LocalHTTPServer
from tests.support.telegram_html import ApiError

DEFAULT_TOKEN = "123456789:AAE-local-emulator-token_0123456789ab"
SEND_METHODS = {"sendmessage", "senddocument", "sendphoto"}
UNIQUE = itertools.count(1)  # callback query and file ids, unique across the whole run
MAX_DOWNLOAD = 20 * 1024 * 1024  # the largest file getFile hands out on Telegram's servers


@dataclass(slots=True)
class SentMessage:
    """One message the bot sent; edits update it in place, deleteMessage sets ``deleted``."""

    method: str
    chat_id: int | str
    message_id: int
    text: str | None = None  # as sent (markup included)
    plain_text: str | None = None  # after entity parsing: what the user sees
    parse_mode: str | None = None
    reply_markup: dict[str, Any] | None = None
    link_preview_options: dict[str, Any] | None = None
    message_thread_id: int | None = None
    file: FilePart | None = None
    edits: int = 0
    deleted: bool = False
    payload: dict[str, Any] = field(default_factory=dict)  # the Message object returned


class BotAPIMethods(LocalHTTPServer):
    """State and Bot API methods, answered over real HTTP by BotAPIHandler.

    All state is guarded by one lock; ``_updates_cv`` wakes long polls when a test pushes an
    update or the emulator closes.
    """

    handler = BotAPIHandler
    owner_attr = "emulator"

    def __init__(
        self,
        token: str = DEFAULT_TOKEN,
        *,
        username: str = "newsbrief_test_bot",
        enforce_limits: bool = False,
    ):
        super().__init__()
        self.token = token
        self.bot_user = {
            "id": int(token.split(":")[0]),
            "is_bot": True,
            "first_name": "Newsbrief Test",
            "username": username,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
        }
        self._updates_cv = threading.Condition(self._lock)
        self._updates: list[dict[str, Any]] = []
        self._next_update_id = 100_000
        self._poll_generation = 0
        self._message_ids: defaultdict[int | str, int] = defaultdict(int)
        self._calls: list[tuple[str, dict[str, Any]]] = []
        self._sent: list[SentMessage] = []
        self._answered: list[dict[str, Any]] = []
        self._commands: dict[tuple[str, str], list[dict[str, Any]]] = {}
        # None lets one call through (``fail_next(after=...)``).
        self._faults: defaultdict[str, deque[ApiError | None]] = defaultdict(deque)
        self._blocked: set[int | str] = set()
        self._migrated: dict[int | str, int] = {}
        self._missing: set[int | str] = set()
        self._refused: list[str] = []
        self._log: list[CallRecord] = []
        self._send_delay = 0.0
        self._sends_in_flight = 0
        self._max_sends_in_flight = 0
        self._enforce_limits = enforce_limits
        self._limits = FloodLimits()
        # Files users sent (push_document), by file_id, and where getFile put them.
        self._files: dict[str, FilePart] = {}
        self._file_paths: dict[str, str] = {}
        self._downloads: list[str] = []

    def _wake(self) -> None:
        # Long polls wait on this condition; they must return before the server shuts down.
        with self._updates_cv:
            self._updates_cv.notify_all()

    def _message(self, chat_id: int | str, chat: dict[str, Any], sender: dict[str, Any]) -> Any:
        self._message_ids[chat_id] += 1  # ids are per chat, shared by both directions
        return {
            "message_id": self._message_ids[chat_id],
            "date": int(time.time()),
            "chat": chat,
            "from": sender,
        }

    def _push(self, body: dict[str, Any]) -> dict[str, Any]:
        with self._updates_cv:
            self._next_update_id += 1
            update = {"update_id": self._next_update_id, **body}
            self._updates.append(update)
            self._updates_cv.notify_all()
        return update

    def call(self, method: str, params: dict[str, Any]) -> Any:
        """Run one authorised method, recording when it came and how it was answered (the
        handler's entry point, once the token has been checked)."""
        record = CallRecord(method, params, time.monotonic())
        with self._lock:
            self._calls.append((method, params))
            self._log.append(record)
        try:
            result = self._answer_call(method, params)
        except ApiError as err:
            record.status = err.status
            raise
        finally:
            record.done_at = time.monotonic()
        record.status = 200
        return result

    def _answer_call(self, method: str, params: dict[str, Any]) -> Any:
        """Faults first, then the method's own checks."""
        key = method.lower()
        with self._lock:
            fault = self._faults[key].popleft() if self._faults[key] else None
            if fault is not None:
                raise fault
        if key == "getupdates":
            return self._get_updates(params)
        action = _METHODS.get(key)
        if action is None:
            raise ApiError(404, "Not Found")
        if key not in SEND_METHODS:
            with self._lock:
                return action(self, params)
        with self._lock:
            self._sends_in_flight += 1
            self._max_sends_in_flight = max(self._max_sends_in_flight, self._sends_in_flight)
            delay = self._send_delay
        try:
            if delay:
                time.sleep(delay)  # outside the lock: other sends overlap this one
            with self._lock:
                return action(self, params)
        finally:
            with self._lock:
                self._sends_in_flight -= 1

    def _get_updates(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        offset, limit = int(params.get("offset") or 0), int(params.get("limit") or 100)
        deadline = time.monotonic() + min(float(params.get("timeout") or 0), 50.0)
        allowed = params.get("allowed_updates") or []
        with self._updates_cv:
            self._poll_generation += 1
            generation = self._poll_generation
            self._updates_cv.notify_all()  # an older poll now answers 409, as on Telegram
            if offset > 0:  # confirms every update before it
                self._updates = [u for u in self._updates if u["update_id"] >= offset]
            while True:
                ready = [u for u in self._updates if not allowed or set(u) & set(allowed)]
                remaining = deadline - time.monotonic()
                if ready or remaining <= 0 or self._stopping.is_set():
                    return ready[: max(1, min(limit, 100))]
                if generation != self._poll_generation:
                    raise ApiError(
                        409,
                        "Conflict: terminated by other getUpdates request; "
                        "make sure that only one bot instance is running",
                    )
                self._updates_cv.wait(remaining)

    def _chat_of(self, params: dict[str, Any], *, sending: bool) -> int | str:
        chat_id = params.get("chat_id")
        if chat_id in (None, "") or chat_id in self._missing:
            raise ApiError(400, "Bad Request: chat not found")
        if chat_id in self._migrated:
            raise ApiError(
                400,
                "Bad Request: group chat was upgraded to a supergroup chat",
                {"migrate_to_chat_id": self._migrated[chat_id]},
            )
        if sending and chat_id in self._blocked:
            raise ApiError(403, "Forbidden: bot was blocked by the user")
        return chat_id

    def _find(self, params: dict[str, Any]) -> SentMessage:
        chat_id = self._chat_of(params, sending=True)
        for sent in self._sent:
            same = sent.chat_id == chat_id and sent.message_id == params.get("message_id")
            if same and not sent.deleted:
                return sent
        raise ApiError(400, "Bad Request: message to edit not found")

    def _send(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        chat_id = self._chat_of(params, sending=True)
        if self._enforce_limits:
            self._limits.charge(chat_id)
        wire.check_markup(params.get("reply_markup"))
        file = params.get("document") or params.get("photo")
        key = "text" if method == "sendMessage" else "caption"
        html_mode = str(params.get("parse_mode")).upper() == "HTML"
        if html_mode and any(m in str(params.get(key) or "") for m in self._refused):
            raise ApiError(
                400,
                "Bad Request: can't parse entities: unsupported start tag "
                '"refused" at byte offset 0',
            )
        plain, entities = wire.checked_text(params.get(key), params.get("parse_mode"), key)
        msg = self._message(chat_id, wire.chat(chat_id), self.bot_user)
        record = SentMessage(
            method,
            chat_id,
            msg["message_id"],
            params.get(key),
            plain,
            params.get("parse_mode"),
            params.get("reply_markup"),
            params.get("link_preview_options"),
            params.get("message_thread_id"),
            file if isinstance(file, FilePart) else None,
            payload=msg,
        )
        if record.message_thread_id is not None:
            msg |= {"message_thread_id": record.message_thread_id, "is_topic_message": True}
        if plain is not None:
            msg[key] = plain
            if entities:
                msg["entities" if key == "text" else "caption_entities"] = entities
        if record.reply_markup:
            msg["reply_markup"] = record.reply_markup
        if file is not None:
            fid = f"FILE{next(UNIQUE)}"
            size = len(record.file.data) if record.file else 0
            if method == "sendPhoto":
                msg["photo"] = [
                    {
                        "file_id": fid,
                        "file_unique_id": fid,
                        "width": 1,
                        "height": 1,
                        "file_size": size,
                    }
                ]
            else:
                name = record.file.filename if record.file else "file"
                msg["document"] = {
                    "file_id": fid,
                    "file_unique_id": fid,
                    "file_name": name,
                    "file_size": size,
                }
        self._sent.append(record)
        return msg

    def _edit(self, params: dict[str, Any], *, text: bool) -> dict[str, Any]:
        sent = self._find(params)
        markup = params.get("reply_markup")
        wire.check_markup(markup)
        new_text = params.get("text") if text else sent.text
        if new_text == sent.text and markup == sent.reply_markup:
            raise ApiError(
                400,
                "Bad Request: message is not modified: specified new message "
                "content and reply markup are exactly the same as a current content "
                "and reply markup of the message",
            )
        if text:
            plain, entities = wire.checked_text(new_text, params.get("parse_mode"), "text")
            sent.text, sent.plain_text, sent.parse_mode = new_text, plain, params.get("parse_mode")
            sent.payload |= {"text": plain, "entities": entities}
            sent.link_preview_options = params.get("link_preview_options")
        sent.reply_markup = markup
        sent.payload["reply_markup"] = markup or {"inline_keyboard": []}
        sent.edits += 1
        return sent.payload | {"edit_date": int(time.time())}

    def _delete(self, params: dict[str, Any]) -> bool:
        try:
            self._find(params).deleted = True
        except ApiError as err:
            if err.status != 400:
                raise
            raise ApiError(400, "Bad Request: message to delete not found") from None
        return True

    def _set_commands(self, params: dict[str, Any]) -> bool:
        scope = (params.get("scope") or {}).get("type", "default")
        self._commands[(scope, params.get("language_code") or "")] = list(params["commands"])
        return True

    def _answer(self, params: dict[str, Any]) -> bool:
        if len(str(params.get("text") or "")) > 200:
            raise ApiError(400, "Bad Request: MESSAGE_TOO_LONG")
        self._answered.append(params)
        return True

    def _get_file(self, params: dict[str, Any]) -> dict[str, Any]:
        """A file a user sent: its size and the path to download it from (GET
        ``/file/bot{token}/{file_path}``); like Telegram, nothing over 20 MB."""
        file_id = str(params.get("file_id") or "")
        part = self._files.get(file_id)
        if part is None:
            raise ApiError(400, "Bad Request: invalid file_id")
        if len(part.data) > MAX_DOWNLOAD:
            raise ApiError(400, "Bad Request: file is too big")
        path = next((p for p, f in self._file_paths.items() if f == file_id), None)
        if path is None:
            suffix = part.filename.rsplit(".", 1)[-1] if "." in part.filename else "bin"
            path = f"documents/file_{next(UNIQUE)}.{suffix}"
            self._file_paths[path] = file_id
        return {
            "file_id": file_id,
            "file_unique_id": file_id,
            "file_size": len(part.data),
            "file_path": path,
        }

    def file_bytes(self, token: str, path: str) -> bytes | None:
        """The bytes behind a file URL (None, so 404, for a wrong token or unknown path)."""
        with self._lock:
            file_id = self._file_paths.get(path)
            if token != self.token or file_id is None:
                return None
            self._downloads.append(path)
            return self._files[file_id].data

    def _get_chat(self, params: dict[str, Any]) -> dict[str, Any]:
        chat_id = self._chat_of(params, sending=False)
        # ChatFullInfo: PTB requires these two beyond the Chat fields.
        return wire.chat(chat_id) | {"accent_color_id": 0, "max_reaction_count": 11}


_METHODS: dict[str, Any] = {  # lower-cased, as Telegram matches method names
    "getme": lambda e, p: e.bot_user,
    "deletewebhook": lambda e, p: True,
    "setmycommands": BotAPIMethods._set_commands,
    "getmycommands": lambda e, p: e._commands.get(
        ((p.get("scope") or {}).get("type", "default"), p.get("language_code") or ""), []
    ),
    "getchat": BotAPIMethods._get_chat,
    "getfile": BotAPIMethods._get_file,
    "sendmessage": lambda e, p: e._send("sendMessage", p),
    "senddocument": lambda e, p: e._send("sendDocument", p),
    "sendphoto": lambda e, p: e._send("sendPhoto", p),
    "editmessagetext": lambda e, p: e._edit(p, text=True),
    "editmessagereplymarkup": lambda e, p: e._edit(p, text=False),
    "deletemessage": BotAPIMethods._delete,
    "answercallbackquery": BotAPIMethods._answer,
}
