"""Telegram's HTML parse mode, checked the way the Bot API checks it (for the test emulator).

Only b/strong, i/em, u/ins, s/strike/del, tg-spoiler, a href, code, pre, blockquote and
tg-emoji; balanced; only &lt; &gt; &amp; &quot; and numeric entities; lengths in UTF-16 code
units after the markup is removed. Errors carry Telegram's wording and byte offsets.
"""

from __future__ import annotations

import html
import re
from typing import Any


class ApiError(Exception):
    """A Telegram error answer: ``{"ok": false, "error_code": status, "description": ...}``."""

    def __init__(self, status: int, description: str, parameters: dict[str, Any] | None = None):
        super().__init__(description)
        self.status, self.description, self.parameters = status, description, parameters


# -- HTML parse mode --------------------------------------------------------------------------
_TAGS = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "ins": "underline",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "tg-spoiler": "spoiler",
    "span": "spoiler",
    "a": "text_link",
    "code": "code",
    "pre": "pre",
    "blockquote": "blockquote",
    "tg-emoji": "custom_emoji",
}
_VALUE = r"""(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'>]+)))?"""
_ATTR_RE = re.compile(r"([A-Za-z][\w-]*)" + _VALUE)
_TAG_RE = re.compile(r"<(/?)([A-Za-z][\w-]*)((?:\s+[A-Za-z][\w-]*" + _VALUE + r")*)\s*>")
_ENTITY_RE = re.compile(r"&(?:(lt|gt|amp|quot)|#(\d{1,8})|#[xX]([0-9a-fA-F]{1,6}));")
_NAMED = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}


def utf16_len(text: str) -> int:
    """Length in UTF-16 code units, the unit of every Telegram limit and entity offset."""
    return len(text.encode("utf-16-le")) // 2


def parse_html(text: str) -> tuple[str, list[dict[str, Any]]]:
    """Parse Telegram HTML into (plain text, entities), raising ApiError 400 like Telegram."""

    def fail(reason: str) -> ApiError:
        return ApiError(400, f"Bad Request: can't parse entities: {reason}")

    def offset(pos: int) -> int:
        return len(text[:pos].encode())

    out: list[str] = []
    entities: list[dict[str, Any]] = []
    stack: list[tuple[str, int, dict[str, str]]] = []  # (tag, utf16 start, attributes)
    pos = 0
    while pos < len(text):
        ch = text[pos]
        if ch == "&":
            m = _ENTITY_RE.match(text, pos)
            code = int(m[2] or m[3] or "0", 10 if m[2] else 16) if m and not m[1] else 0
            if m is None or (not m[1] and not 0 < code <= 0x10FFFF):
                raise fail(f"Unsupported HTML entity at byte offset {offset(pos)}")
            out.append(_NAMED[m[1]] if m[1] else chr(code))
            pos = m.end()
        elif ch == "<":
            m = _TAG_RE.match(text, pos)
            if m is None:
                raise fail(f"Unclosed start tag at byte offset {offset(pos)}")
            closing, name = m[1] == "/", m[2].lower()
            at = utf16_len("".join(out))
            if not closing:
                if name not in _TAGS:
                    raise fail(f'Unsupported start tag "{name}" at byte offset {offset(pos)}')
                attrs = {
                    a[1].lower(): html.unescape(a[2] or a[3] or a[4] or "")
                    for a in _ATTR_RE.finditer(m[3])
                }
                if name == "span" and attrs.get("class") != "tg-spoiler":
                    raise fail(
                        f'Tag "span" must have class "tg-spoiler" at byte offset {offset(pos)}'
                    )
                stack.append((name, at, attrs))
            else:
                if not stack:
                    raise fail(f"Unexpected end tag at byte offset {offset(pos)}")
                if stack[-1][0] != name:
                    expected = f'expected "</{stack[-1][0]}>", found "</{name}>"'
                    raise fail(f"Unmatched end tag at byte offset {offset(pos)}, {expected}")
                tag, start, attrs = stack.pop()
                entities.append(_entity(tag, start, at - start, attrs))
            pos = m.end()
        else:
            out.append(ch)
            pos += 1
    if stack:
        raise fail(f'Can\'t find end tag corresponding to start tag "{stack[-1][0]}"')
    entities.sort(key=lambda e: (e["offset"], -e["length"]))
    return "".join(out), [e for e in entities if e["length"] > 0]


def _entity(tag: str, start: int, length: int, attrs: dict[str, str]) -> dict[str, Any]:
    kind = _TAGS[tag]
    if tag == "blockquote" and "expandable" in attrs:
        kind = "expandable_blockquote"
    entity: dict[str, Any] = {"type": kind, "offset": start, "length": length}
    if tag == "a":
        entity["url"] = attrs.get("href", "")
    elif tag == "tg-emoji":
        entity["custom_emoji_id"] = attrs.get("emoji-id", "")
    return entity


# -- the emulator -----------------------------------------------------------------------------
