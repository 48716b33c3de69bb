"""A local Telegram Bot API emulator over real HTTP on 127.0.0.1, for end-to-end bot tests.

Why an emulator and not PTB's offline ``BaseRequest`` stubs: the bugs that matter in delivery
live between our code and the server (HTML Telegram refuses, 429 back-off, blocked users, group
migrations, long polling and offsets), and only a real HTTP peer that answers like Telegram
exercises PTB's own request, error-mapping and polling code. Telegram itself is unreachable here.

Point PTB at it with ``ApplicationBuilder().token(emu.token).base_url(emu.bot_base_url)
.base_file_url(emu.file_base_url)``. Tests inject updates with ``push_*`` and faults with
``fail_next``/``block_chat``/``migrate_chat``/``chat_not_found``, then read ``sent``/``calls``.
The HTML check is deliberately a little stricter than Telegram: a bare ``&`` that starts no
known entity is refused (Telegram passes it through), so unescaped text fails here first.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import re
import threading
import time
from collections import defaultdict, deque
from dataclasses import dataclass, field
from email.parser import BytesParser
from email.policy import HTTP
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from tests.support.httpserver import LocalHTTPServer, TrackedHandler
from tests.support.telegram_html import ApiError, parse_html, utf16_len

DEFAULT_TOKEN = "123456789:AAE-local-emulator-token_0123456789ab"
MAX_TEXT = 4096  # UTF-16 code units after entity parsing
MAX_CAPTION = 1024
SEND_METHODS = {"sendmessage", "senddocument", "sendphoto"}
# Form/multipart values arrive as strings; these stay strings, the rest are JSON-decoded
# (PTB JSON-encodes every non-string parameter: ids, booleans, reply_markup, ...).
STRING_PARAMS = {"text", "caption", "parse_mode", "callback_query_id", "url", "language_code"}
_UNIQUE = itertools.count(1)


@dataclass(slots=True)
class FilePart:
    """An uploaded multipart file (sendDocument/sendPhoto), kept so tests can read the bytes."""

    filename: str
    data: bytes
    content_type: str


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


class BotAPIEmulator(LocalHTTPServer):
    """Answer the Bot API methods a newsbrief bot uses, over real HTTP, on an ephemeral port.

    Use as a context manager. All state is guarded by one lock; ``_updates_cv`` wakes long
    polls when a test pushes an update or the emulator closes.
    """

    def __init__(self, token: str = DEFAULT_TOKEN, *, username: str = "newsbrief_test_bot"):
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
        self._faults: defaultdict[str, deque[ApiError]] = defaultdict(deque)
        self._blocked: set[int | str] = set()
        self._migrated: dict[int | str, int] = {}
        self._missing: set[int | str] = set()

    def _wake(self) -> None:
        # Long polls wait on this condition; they must return before the server shuts down.
        with self._updates_cv:
            self._updates_cv.notify_all()

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
        user = self._user(user_id if user_id is not None else chat_id, language_code)
        with self._lock:
            msg = self._message(chat_id, _chat(chat_id, chat_type), user)
        msg["text"] = text
        if thread_id is not None:
            msg |= {"message_thread_id": thread_id, "is_topic_message": True}
        if m := re.match(r"/[A-Za-z0-9_]+(?:@\w+)?", text):
            msg["entities"] = [{"type": "bot_command", "offset": 0, "length": utf16_len(m[0])}]
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
                "chat": _chat(chat_id),
                "from": self.bot_user,
                "text": "",
            }
        )
        query = {
            "id": str(next(_UNIQUE)),
            "from": self._user(user_id or chat_id, "en"),
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
        extra = extras.get(status, _ADMIN_RIGHTS if status == "administrator" else {})
        if status not in {"member", "left", "kicked", "administrator"}:
            raise ValueError(f"unsupported status {status!r}")
        old = "left" if status in {"member", "administrator"} else "member"
        update = {
            "chat": _chat(chat_id, chat_type),
            "from": self._user(user_id or chat_id, "en"),
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
    ) -> None:
        """Answer the next ``times`` calls of ``method`` with an error (429, 500, 502, ...)."""
        params = {"retry_after": retry_after} if status == 429 else None
        text = description or {
            429: f"Too Many Requests: retry after {retry_after}",
            409: "Conflict: terminated by other getUpdates request",
            502: "Bad Gateway",
        }.get(status, "Internal Server Error")
        with self._lock:
            self._faults[method.lower()].extend(
                ApiError(status, text, params) for _ in range(times)
            )

    def block_chat(self, chat_id: int) -> None:
        with self._lock:
            self._blocked.add(chat_id)

    def migrate_chat(self, old_id: int, new_id: int) -> None:
        with self._lock:
            self._migrated[old_id] = new_id

    def chat_not_found(self, chat_id: int) -> None:
        with self._lock:
            self._missing.add(chat_id)

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

    # -- internals ------------------------------------------------------------------------
    def _user(self, user_id: int, language_code: str) -> dict[str, Any]:
        return {
            "id": user_id,
            "is_bot": False,
            "first_name": "Test",
            "username": f"user{user_id}",
            "language_code": language_code,
        }

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

    def _call(self, method: str, params: dict[str, Any]) -> Any:
        """Run one authorised method: faults first, then the method's own checks."""
        key = method.lower()
        with self._lock:
            self._calls.append((method, params))
            if self._faults[key]:
                raise self._faults[key].popleft()
        if key == "getupdates":
            return self._get_updates(params)
        action = _METHODS.get(key)
        if action is None:
            raise ApiError(404, "Not Found")
        with self._lock:
            return action(self, params)

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
        _check_markup(params.get("reply_markup"))
        file = params.get("document") or params.get("photo")
        key = "text" if method == "sendMessage" else "caption"
        plain, entities = _checked_text(params.get(key), params.get("parse_mode"), key)
        msg = self._message(chat_id, _chat(chat_id), self.bot_user)
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
            fid = f"FILE{next(_UNIQUE)}"
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
        _check_markup(markup)
        new_text = params.get("text") if text else sent.text
        if new_text == sent.text and markup == sent.reply_markup:
            raise ApiError(
                400,
                "Bad Request: message is not modified: specified new message "
                "content and reply markup are exactly the same as a current content "
                "and reply markup of the message",
            )
        if text:
            plain, entities = _checked_text(new_text, params.get("parse_mode"), "text")
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

    def _get_chat(self, params: dict[str, Any]) -> dict[str, Any]:
        chat_id = self._chat_of(params, sending=False)
        # ChatFullInfo: PTB requires these two beyond the Chat fields.
        return _chat(chat_id) | {"accent_color_id": 0, "max_reaction_count": 11}


_ADMIN_RIGHTS = {
    k: False
    for k in (
        "can_be_edited",
        "is_anonymous",
        "can_manage_chat",
        "can_delete_messages",
        "can_manage_video_chats",
        "can_restrict_members",
        "can_promote_members",
        "can_change_info",
        "can_invite_users",
        "can_post_stories",
        "can_edit_stories",
        "can_delete_stories",
    )
}

_METHODS: dict[str, Any] = {
    "getme": lambda e, p: e.bot_user,
    "deletewebhook": lambda e, p: True,
    "setmycommands": BotAPIEmulator._set_commands,
    "getmycommands": lambda e, p: e._commands.get(
        ((p.get("scope") or {}).get("type", "default"), p.get("language_code") or ""), []
    ),
    "getchat": BotAPIEmulator._get_chat,
    "sendmessage": lambda e, p: e._send("sendMessage", p),
    "senddocument": lambda e, p: e._send("sendDocument", p),
    "sendphoto": lambda e, p: e._send("sendPhoto", p),
    "editmessagetext": lambda e, p: e._edit(p, text=True),
    "editmessagereplymarkup": lambda e, p: e._edit(p, text=False),
    "deletemessage": BotAPIEmulator._delete,
    "answercallbackquery": BotAPIEmulator._answer,
}


def _chat(chat_id: int | str, chat_type: str | None = None) -> dict[str, Any]:
    """A minimal Chat; without a type, guess it from the id as Telegram numbers them."""
    if chat_type is None:
        is_int = isinstance(chat_id, int)
        chat_type = "private" if is_int and chat_id > 0 else "group"  # type: ignore[operator]
        chat_type = "supergroup" if str(chat_id).startswith(("-100", "@")) else chat_type
    if chat_type == "private":
        return {"id": chat_id, "type": "private", "first_name": "Test"}
    return {"id": chat_id, "type": chat_type, "title": f"Chat {chat_id}"}


def _checked_text(text: Any, parse_mode: Any, key: str) -> tuple[str | None, list[dict[str, Any]]]:
    """Validate a text or caption as Telegram does; captions may be absent, texts may not."""
    if text is None and key == "caption":
        return None, []
    text = "" if text is None else str(text)
    plain, entities = parse_html(text) if str(parse_mode).upper() == "HTML" else (text, [])
    if not plain.strip():
        if key == "caption":
            return None, []
        raise ApiError(400, "Bad Request: message text is empty")
    if utf16_len(plain) > (MAX_TEXT if key == "text" else MAX_CAPTION):
        raise ApiError(
            400, f"Bad Request: message {'is' if key == 'text' else 'caption is'} too long"
        )
    return plain, entities


def _check_markup(markup: Any) -> None:
    for row in (markup or {}).get("inline_keyboard", []):
        for button in row:
            if len(str(button.get("callback_data", "")).encode()) > 64:
                raise ApiError(400, "Bad Request: BUTTON_DATA_INVALID")


def _decode(key: str, value: str) -> Any:
    if key in STRING_PARAMS:
        return value
    try:
        return json.loads(value)
    except ValueError:
        return value


class _Handler(TrackedHandler):
    emulator: BotAPIEmulator

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def _serve(self) -> None:
        emu = self.emulator
        url = urlsplit(self.path)
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        m = re.fullmatch(r"/bot([^/]+)/(\w+)", url.path)
        try:
            if m is None:
                raise ApiError(404, "Not Found")
            if m[1] != emu.token:
                raise ApiError(401, "Unauthorized")
            params = {k: _decode(k, v) for k, v in parse_qsl(url.query)}
            params |= self._params(body)
            result = emu._call(m[2], params)
        except ApiError as err:
            if err.status == 502:  # Telegram's front end answers 502 with nginx HTML, not JSON
                self._reply(502, b"<html><body><h1>502 Bad Gateway</h1></body></html>", "text/html")
                return
            error = {"ok": False, "error_code": err.status, "description": err.description}
            if err.parameters:
                error["parameters"] = err.parameters
            self._reply(err.status, json.dumps(error).encode())
            return
        self._reply(200, json.dumps({"ok": True, "result": result}).encode())

    def _params(self, body: bytes) -> dict[str, Any]:
        ctype = self.headers.get("Content-Type", "")
        if not body:
            return {}
        if ctype.startswith("application/json"):
            return dict(json.loads(body))
        if ctype.startswith("multipart/form-data"):
            head = f"Content-Type: {ctype}\r\n\r\n".encode()
            message = BytesParser(policy=HTTP).parsebytes(head + body)
            params: dict[str, Any] = {}
            for part in message.iter_parts():
                name = part.get_param("name", header="content-disposition")
                data = part.get_payload(decode=True)
                assert isinstance(data, bytes), "a form part is never a nested message"
                if (filename := part.get_filename()) is not None:
                    params[str(name)] = FilePart(filename, data, part.get_content_type())
                else:
                    params[str(name)] = _decode(str(name), data.decode())
            return params
        return {k: _decode(k, v) for k, v in parse_qsl(body.decode(), keep_blank_values=True)}

    def _reply(self, status: int, body: bytes, ctype: str = "application/json") -> None:
        with contextlib.suppress(OSError):  # the client gave up (a cancelled long poll)
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)


BotAPIEmulator.handler = _Handler
BotAPIEmulator.owner_attr = "emulator"
