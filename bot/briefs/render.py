"""Telegram HTML for briefs and digests. Pure: plain values in, strings out.

Telegram's HTML mode is strict (FIELD-NOTES): a handful of tags, four named entities, and a
400 "can't parse entities" for anything else. So nothing from a feed is ever forwarded as
markup: every feed-derived string is sanitised and escaped as text, and the only tags are the
ones written here (b, i, a href). Links are made only for http(s) URLs.

Lengths are Telegram's: the visible text after entity parsing, in UTF-16 code units (an
emoji outside the BMP counts 2). A message is at most 4096 of them. Anything too long is
shortened as plain text (at a sentence, else a word, boundary) BEFORE markup is added; HTML
is never sliced.

Delivery note: send with ``parse_mode=PARSE_MODE``; send digests with link previews off
(``LinkPreviewOptions(is_disabled=DIGEST_DISABLE_LINK_PREVIEW)``), since a digest has one
link per brief and the preview would show an arbitrary one. A single brief may keep its
preview (it shows the article).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from html import escape
from html.parser import HTMLParser
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from bot.briefs.tokenize import normalize_language

__all__ = [
    "BRIEF_DISABLE_LINK_PREVIEW",
    "DIGEST_DISABLE_LINK_PREVIEW",
    "PARSE_MODE",
    "TELEGRAM_LIMIT",
    "BriefView",
    "html_link",
    "plain_text",
    "published_label",
    "render_brief",
    "render_digest",
    "safe_href",
    "shorten_text",
    "telegram_length",
]

PARSE_MODE = "HTML"
TELEGRAM_LIMIT = 4096
DIGEST_DISABLE_LINK_PREVIEW = True
BRIEF_DISABLE_LINK_PREVIEW = False

ELLIPSIS = "…"
_MAX_URL = 2048  # longer "URLs" are junk or tracking blobs, not worth a link
_MAX_TITLE = 300  # UTF-16 units; a headline longer than this is scraped junk
_MAX_SOURCE = 80
_MAX_ALSO = 5
_MAX_KEYWORDS = 5
_MAX_TAG = 40
_MIN_LIMIT = 32
_SEPARATOR = "\n\n"  # between briefs of a digest

# The few fixed words of a brief, per language (gettext comes with the chat layer).
_ALSO = {
    "en": "also:",
    "fr": "voir aussi :",
    "de": "siehe auch:",
    "es": "ver también:",
    "ru": "также:",
}


def _twelve(names: str) -> tuple[str, ...]:
    months = tuple(names.split())
    assert len(months) == 12, names
    return months


_MONTHS = {
    "en": _twelve("Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec"),
    "fr": _twelve("janv. févr. mars avr. mai juin juil. août sept. oct. nov. déc."),
    "de": _twelve("Jan. Feb. März Apr. Mai Juni Juli Aug. Sept. Okt. Nov. Dez."),
    "es": _twelve("ene. feb. mar. abr. may. jun. jul. ago. sept. oct. nov. dic."),
    "ru": _twelve("янв. февр. мар. апр. мая июн. июл. авг. сент. окт. нояб. дек."),
}


@dataclass(frozen=True, slots=True)
class BriefView:
    """Everything a rendered brief shows, as plain text (feed strings, unescaped)."""

    title: str
    url: str
    summary: str
    source: str
    published: datetime | None
    also: Sequence[tuple[str, str]] = ()  # (source name, url) of other publishers
    language: str | None = None
    keywords: Sequence[str] = field(default_factory=tuple)


# --- text ------------------------------------------------------------------------------------


def _utf16(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def _clean(text: str, *, single_line: bool) -> str:
    """Drop control characters and lone surrogates (Telegram rejects or mangles them);
    keep format characters (RTL marks, zero-width joiners in emoji)."""
    kept = []
    for ch in text:
        category = unicodedata.category(ch)
        if ch == "\n" and not single_line:
            kept.append(ch)
        elif category in ("Cc", "Cs") or ch in "\u2028\u2029":
            kept.append(" ")
        else:
            kept.append(ch)
    out = "".join(kept)
    if single_line:
        return " ".join(out.split())
    # No blank lines: "\n\n" separates the briefs of a digest and nothing else.
    return "\n".join(" ".join(line.split()) for line in out.split("\n") if line.strip())


def _prefix(text: str, units: int) -> str:
    """The longest prefix of ``text`` within ``units`` UTF-16 code units."""
    total = 0
    for index, ch in enumerate(text):
        total += 2 if ord(ch) > 0xFFFF else 1
        if total > units:
            return text[:index]
    return text


_SENTENCE_END = re.compile(r"[.!?。！？…](?=[\"'»”’)\]]*(?:\s|$))")


def shorten_text(text: str, units: int) -> str:
    """``text`` within ``units`` UTF-16 units: whole sentences if that keeps at least half of
    the room, else cut at a word boundary with "…" (hard cut for unspaced scripts)."""
    text = text.strip()
    if _utf16(text) <= units:
        return text
    if units <= 1:
        return ELLIPSIS if units == 1 else ""
    head = _prefix(text, units - 1)
    ends = [m.end() for m in _SENTENCE_END.finditer(text[: len(head) + 1])]
    ends = [e for e in ends if e <= len(head)]
    if ends and _utf16(head[: ends[-1]]) >= units // 2:
        return head[: ends[-1]].rstrip()
    space = head.rfind(" ")
    at_boundary = text[len(head)].isspace()  # the head already ends with a whole word
    if not at_boundary and space >= len(head) // 2:
        head = head[:space]
    head = head.rstrip(" ,;:–—-\u200d\ufe0f")
    return (head + ELLIPSIS) if head else ELLIPSIS


def safe_href(url: str | None) -> str | None:
    """``url`` if it may be linked: http(s), a host, no spaces or controls, sane length."""
    if not url:
        return None
    url = url.strip()
    if len(url) > _MAX_URL or any(ch.isspace() or unicodedata.category(ch)[0] == "C" for ch in url):
        return None
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError:  # e.g. an unbalanced IPv6 bracket
        return None
    if parts.scheme.lower() not in ("http", "https") or not host:
        return None
    return url


def _text(value: str) -> str:
    return escape(value, quote=False)


def _attr(value: str) -> str:
    # Not escape(quote=True): it also emits &#x27;. Attributes are double-quoted, so &quot;
    # is all they need, and we stay with the four named entities Telegram documents.
    return escape(value, quote=False).replace('"', "&quot;")


def html_link(label: str, url: str | None) -> str:
    """``label`` escaped, linked to ``url`` when it may be linked (see :func:`safe_href`)."""
    href = safe_href(url)
    return f'<a href="{_attr(href)}">{_text(label)}</a>' if href else _text(label)


def plain_text(html: str) -> str:
    """The text Telegram shows for ``html``: tags removed, entities read. Also the fallback
    message when Telegram refuses our markup (it should never, but nothing is dropped)."""
    parser = _TextCollector()
    parser.feed(html)
    parser.close()
    return "".join(parser.parts)


def telegram_length(html: str) -> int:
    """UTF-16 length of the text Telegram shows for ``html`` (tags removed, entities read)."""
    return _utf16(plain_text(html))


class _TextCollector(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


# --- briefs ----------------------------------------------------------------------------------


def _lang(language: str | None) -> str:
    lang = normalize_language(language) or "en"
    return lang if lang in _ALSO else "en"


def _when(published: datetime, tz: ZoneInfo | None, language: str | None) -> str:
    moment = published if published.tzinfo else published.replace(tzinfo=UTC)
    moment = moment.astimezone(tz or UTC)
    month = _MONTHS[_lang(language)][moment.month - 1]
    # Without the chat's zone the reader must be told which clock this is.
    suffix = "" if tz else " UTC"
    return f"{moment.day} {month} {moment.year} {moment:%H:%M}{suffix}"


def published_label(published: datetime, tz: ZoneInfo | None, language: str | None) -> str:
    """A publication time as briefs show it ("7 janv. 2017 14:05", in the chat's zone)."""
    return _when(published, tz, language)


def _hashtag(keyword: str) -> str | None:
    tag = re.sub(r"\W+", "_", keyword).strip("_")
    return f"#{tag}" if tag and not tag.isdigit() else None


@dataclass(frozen=True, slots=True)
class _Parts:
    """A brief's plain-text pieces, sanitised; markup is added only in :meth:`html`."""

    title: str
    url: str
    summary: str
    meta: str
    also_label: str
    also: tuple[tuple[str, str], ...]
    tags: tuple[str, ...]

    def html(self) -> str:
        lines = []
        if self.title:
            lines.append(f"<b>{html_link(self.title, self.url)}</b>")
        if self.summary:
            lines.append(_text(self.summary))
        if self.meta:
            lines.append(f"<i>{_text(self.meta)}</i>")
        if self.also:
            links = ", ".join(html_link(name, url) for name, url in self.also)
            lines.append(f"{_text(self.also_label)} {links}")
        if self.tags:
            lines.append(_text(" ".join(self.tags)))
        return "\n".join(lines)


def _parts(brief: BriefView, tz: ZoneInfo | None) -> _Parts:
    title = shorten_text(_clean(brief.title, single_line=True), _MAX_TITLE)
    source = shorten_text(_clean(brief.source, single_line=True), _MAX_SOURCE)
    when = _when(brief.published, tz, brief.language) if brief.published else ""
    also = []
    for name, url in brief.also[:_MAX_ALSO]:
        label = shorten_text(_clean(name, single_line=True), _MAX_SOURCE)
        if label:
            also.append((label, url))
    # A hashtag cannot be shortened (the "…" would end it), so long ones are dropped.
    tags = [_hashtag(_clean(k, single_line=True)) for k in brief.keywords[:_MAX_KEYWORDS]]
    return _Parts(
        # A headline-less entry with a link still needs something to click; without a link
        # (a pasted text) a placeholder title would only be noise, so the line is left out.
        title=title
        or source
        or (ELLIPSIS if safe_href(brief.url) or not brief.summary.strip() else ""),
        url=brief.url,
        summary=_clean(brief.summary, single_line=False),
        meta=" · ".join(p for p in (source, when) if p),
        also_label=_ALSO[_lang(brief.language)],
        also=tuple(also),
        tags=tuple(t for t in tags if t and len(t) <= _MAX_TAG),
    )


def _fit(parts: _Parts, limit: int) -> str:
    """The fullest rendering within ``limit``: shorten the summary first, then drop tags,
    "also" links and the source line, and as a last resort shorten the title."""
    candidates = [
        parts,
        replace(parts, tags=()),
        replace(parts, tags=(), also=()),
        replace(parts, tags=(), also=(), meta=""),
    ]
    for candidate in candidates:
        html = candidate.html()
        if telegram_length(html) <= limit:
            return html
        if candidate.summary:
            room = limit - telegram_length(replace(candidate, summary="").html()) - 1
            if room >= min(80, limit // 4):
                html = replace(candidate, summary=shorten_text(candidate.summary, room)).html()
                if telegram_length(html) <= limit:
                    return html
    bare = replace(candidates[-1], summary="")
    return replace(bare, title=shorten_text(bare.title, limit)).html()


def render_brief(
    brief: BriefView, *, tz: ZoneInfo | None = None, limit: int = TELEGRAM_LIMIT
) -> str:
    """One brief as Telegram HTML, within ``limit`` UTF-16 units of visible text.

    Layout: bold linked title; summary; italic "source · date"; the localised "also:" line
    with linked source names; hashtags from keywords. Times are shown in ``tz`` (the chat's
    zone) or in UTC, marked so.
    """
    if limit < _MIN_LIMIT:
        raise ValueError(f"limit must be at least {_MIN_LIMIT}")
    return _fit(_parts(brief, tz), limit)


def render_digest(
    briefs: Sequence[BriefView],
    *,
    header: str | None = None,
    limit: int = TELEGRAM_LIMIT,
    tz: ZoneInfo | None = None,
) -> list[str]:
    """Several briefs as one or more messages, each within ``limit``, split between briefs.

    The header (plain text, shown bold) opens the first message. Briefs keep their order;
    one that alone exceeds the limit is shortened by :func:`render_brief`. No briefs, no
    messages.
    """
    if limit < _MIN_LIMIT:
        raise ValueError(f"limit must be at least {_MIN_LIMIT}")
    if not briefs:
        return []
    messages: list[str] = []
    current: list[str] = []
    used = 0
    heading = _clean(header or "", single_line=True)
    if heading:
        current.append(f"<b>{_text(shorten_text(heading, limit))}</b>")
        used = telegram_length(current[0])
    sep = _utf16(_SEPARATOR)
    for brief in briefs:
        block = render_brief(brief, tz=tz, limit=limit)
        size = telegram_length(block)
        if current and used + sep + size > limit:
            messages.append(_SEPARATOR.join(current))
            current, used = [], 0
        used += (sep if current else 0) + size
        current.append(block)
    messages.append(_SEPARATOR.join(current))
    return messages
