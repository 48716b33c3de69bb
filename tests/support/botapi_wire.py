"""The Bot API emulator's wire format: the HTTP handler, parameter decoding, the Chat/User
JSON it builds, and the text/markup checks Telegram applies before it accepts a message.

Part of tests/support/botapi.py (BotAPIEmulator); nothing here keeps state, so the methods
in tests/support/botapi_methods.py and the test-facing surface both build on it.
"""

from __future__ import annotations

import contextlib
import json
import re
from dataclasses import dataclass
from email.parser import BytesParser
from email.policy import HTTP
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, unquote, urlsplit

from tests.support.httpserver import TrackedHandler
from tests.support.telegram_html import ApiError, parse_html, utf16_len

if TYPE_CHECKING:
    from tests.support.botapi_methods import BotAPIMethods

MAX_TEXT = 4096  # UTF-16 code units after entity parsing
MAX_CAPTION = 1024
# Form/multipart values arrive as strings; these stay strings, the rest are JSON-decoded
# (PTB JSON-encodes every non-string parameter: ids, booleans, reply_markup, ...).
STRING_PARAMS = {"text", "caption", "parse_mode", "callback_query_id", "url", "language_code"}

ADMIN_RIGHTS = {
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


@dataclass(slots=True)
class FilePart:
    """An uploaded multipart file (sendDocument/sendPhoto), kept so tests can read the bytes."""

    filename: str
    data: bytes
    content_type: str


def chat(chat_id: int | str, chat_type: str | None = None) -> dict[str, Any]:
    """A minimal Chat; without a type, guess it from the id as Telegram numbers them."""
    if chat_type is None:
        is_int = isinstance(chat_id, int)
        chat_type = "private" if is_int and chat_id > 0 else "group"  # type: ignore[operator]
        chat_type = "supergroup" if str(chat_id).startswith(("-100", "@")) else chat_type
    if chat_type == "private":
        return {"id": chat_id, "type": "private", "first_name": "Test"}
    return {"id": chat_id, "type": chat_type, "title": f"Chat {chat_id}"}


def user(user_id: int, language_code: str) -> dict[str, Any]:
    return {
        "id": user_id,
        "is_bot": False,
        "first_name": "Test",
        "username": f"user{user_id}",
        "language_code": language_code,
    }


def checked_text(text: Any, parse_mode: Any, key: str) -> tuple[str | None, list[dict[str, Any]]]:
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


def check_markup(markup: Any) -> None:
    for row in (markup or {}).get("inline_keyboard", []):
        for button in row:
            if len(str(button.get("callback_data", "")).encode()) > 64:
                raise ApiError(400, "Bad Request: BUTTON_DATA_INVALID")


def decode(key: str, value: str) -> Any:
    if key in STRING_PARAMS:
        return value
    try:
        return json.loads(value)
    except ValueError:
        return value


class BotAPIHandler(TrackedHandler):
    emulator: BotAPIMethods

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def _serve(self) -> None:
        emu = self.emulator
        url = urlsplit(self.path)
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        # PTB percent-encodes a download's whole path, the token's ":" included.
        if f := re.fullmatch(r"/file/bot([^/]+)/(.+)", unquote(url.path)):
            self._serve_file(f[1], f[2])
            return
        m = re.fullmatch(r"/bot([^/]+)/(\w+)", url.path)
        try:
            if m is None:
                raise ApiError(404, "Not Found")
            if m[1] != emu.token:
                raise ApiError(401, "Unauthorized")
            params = {k: decode(k, v) for k, v in parse_qsl(url.query)}
            params |= self._params(body)
            result = emu.call(m[2], params)
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

    def _serve_file(self, token: str, path: str) -> None:
        """A download of a file getFile pointed to: the raw bytes, or 404 as Telegram does."""
        data = self.emulator.file_bytes(token, path)
        if data is None:
            error = {"ok": False, "error_code": 404, "description": "Not Found"}
            self._reply(404, json.dumps(error).encode())
        else:
            self._reply(200, data, "application/octet-stream")

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
                    params[str(name)] = decode(str(name), data.decode())
            return params
        return {k: decode(k, v) for k, v in parse_qsl(body.decode(), keep_blank_values=True)}

    def _reply(self, status: int, body: bytes, ctype: str = "application/json") -> None:
        with contextlib.suppress(OSError):  # the client gave up (a cancelled long poll)
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
