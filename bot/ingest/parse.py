"""Feed bytes → ParsedFeed: feedparser on bytes we fetched, mapped to plain RawEntry records.

feedparser does the hard part (RSS 0.9x/1.0/2.0 and Atom, encoding sniffing, entity
recovery, relative links, HTML sanitising). This module decides policy around it:

- feedparser never fetches: it gets a file object over our bytes. Given a bare ``bytes`` it
  would try ``open(body)`` first, so a server answering "/dev/zero" would hang the worker;
- ``bozo`` is a warning, not a failure: real feeds with a stray ``&`` or ``&nbsp;`` still
  carry readable entries, and we keep every one;
- only a document that is not a feed at all (HTML page, JSON, image, empty body) raises
  FeedParseError, with a reason a feed owner understands; so does one whose broken markup
  crashes feedparser even after libxml2 has rebuilt it (``_salvaged``);
- feedparser gets the document decoded by its own rules and defused (``defuse.py``): entity
  declarations that could expand or read files are disabled, character references it would
  crash on dropped, a few bad bytes in UTF-8 replaced rather than the whole document re-read
  in another charset;
- every entry gets a guid as the feed wrote it (id, else link, else a hash), a plain-text
  title, an absolute http(s) link and a timezone-aware UTC date or None; every field is
  bounded and free of control characters, so one hostile entry cannot break the write of a
  whole feed (PostgreSQL refuses NUL and index keys over ~2.7 KB, ``feeds.language`` is 16
  characters).

``parse_feed`` is CPU-bound (about 800 entries/s, 2.4 MB/s on one core over the corpus):
callers run it in a worker thread (``await asyncio.to_thread(parse_feed, body, url=...,
content_type=...)``) so the event loop keeps serving other fetches and the bot. It reads no
clock unless ``now`` is omitted.
"""

from __future__ import annotations

import calendar
import hashlib
import html
import io
import re
import time
import unicodedata
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from typing import Any
from urllib.parse import urljoin, urlsplit

import feedparser
from feedparser.urls import resolve_relative_uris
from lxml import etree

from bot.briefs.tokenize import cut_at_word
from bot.ingest.defuse import UTF8_HEADERS, defused_utf8
from bot.ingest.records import ParsedFeed, RawEntry
from bot.ingest.urls import MAX_URL_LENGTH

__all__ = ["FeedParseError", "parse_feed"]

HTML_TYPES = frozenset({"text/html", "application/xhtml+xml"})
_TAG = re.compile(r"<[^>]*>")
_HTML_MARKERS = re.compile(rb"<(?:!doctype\s+html|html[\s>]|head[\s>]|body[\s>])", re.I)
_HTML_TITLE = re.compile(rb"<title[^>]*>(.*?)</title", re.I | re.S)
_ROOT_TAG = re.compile(rb"<([A-Za-z_][\w:.-]*)")
# "2020/1/10 14:33:00" (Dvbbs and other Chinese CMSs): feedparser misreads it as 1 Nov 2020.
_SLASH_DATE = re.compile(r"^(\d{4})/(\d{1,2})/(\d{1,2})(?:[ T](\d{1,2}):(\d{2})(?::(\d{2}))?)?$")
# RFC 822 with localised names, e.g. "Seg, 24 Set 2018 19:42:40 -0300" (UOL, Portuguese).
_LOCAL_RFC822 = re.compile(
    r"^(?:[^\W\d]+\.?,?\s+)?(\d{1,2})\.?\s+([^\W\d]+)\.?\s+(\d{4})"
    r"(?:\s+(\d{1,2}):(\d{2})(?::(\d{2}))?)?\s*(Z|GMT|UTC?|[+-]\d{2}:?\d{2})?$",
    re.I,
)
# First three letters (accents removed) of month names in en, fr, de, es, pt, it, nl.
_MONTHS = {
    **dict.fromkeys(("jan", "ene", "gen"), 1),
    **dict.fromkeys(("feb", "fev"), 2),
    **dict.fromkeys(("mar", "maa"), 3),
    **dict.fromkeys(("apr", "abr", "avr"), 4),
    **dict.fromkeys(("may", "mai", "mag", "mei"), 5),
    **dict.fromkeys(("jun", "giu"), 6),
    **dict.fromkeys(("jul", "lug"), 7),
    **dict.fromkeys(("aug", "ago", "aou"), 8),
    **dict.fromkeys(("sep", "set"), 9),
    **dict.fromkeys(("oct", "okt", "out", "ott"), 10),
    "nov": 11,
    **dict.fromkeys(("dec", "dez", "dic"), 12),
}
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

# Past these lengths a field is junk or an attack, not news (headlines run to ~300 chars).
MAX_TITLE_CHARS = 1000
MAX_AUTHOR_CHARS = 200
MAX_GUID_CHARS = 512  # longer ids are replaced by their digest: still stable, indexable
MAX_URL_CHARS = MAX_URL_LENGTH  # as for canonical links
_LANGUAGE_TAG = re.compile(r"[a-z0-9]{1,8}(?:-[a-z0-9]{1,8})*")
_MAX_LANGUAGE_CHARS = 16  # feeds.language is VARCHAR(16)
# C0 controls other than whitespace, and lone surrogates: never text, and PostgreSQL refuses
# NUL while no encoder takes a surrogate. (C1 stays: mojibake repair reads it.)
_JUNK_CHARS = re.compile("[\x00-\x08\x0e-\x1f\ud800-\udfff]")


class FeedParseError(ValueError):
    """The document is not a feed at all; ``str()`` says what it looks like instead."""


def parse_feed(
    body: bytes, *, url: str, content_type: str | None, now: datetime | None = None
) -> ParsedFeed:
    """Parse a fetched feed document. Pure apart from the clock (pass ``now`` in tests).

    ``url`` is the final URL (it resolves relative links); ``content_type`` is the response
    header, used for the charset when there is one. Raises FeedParseError only when the body
    is not a feed; a feed with a version and zero entries is a valid empty feed.
    """
    if not body.strip():
        raise FeedParseError("empty body")
    now = now or datetime.now(UTC)
    headers = {"content-type": _for_feedparser(content_type)} if content_type else {}
    data, decoding_warning, defused = defused_utf8(body, headers)
    try:
        doc = _feedparser(data)
    except Exception as exc:  # feedparser's fallback parser trips on some broken markup
        doc = _salvaged(data, exc)
        defused.append(f"markup repaired after the parser failed ({type(exc).__name__})")
    if not doc.get("version") and not doc.entries:
        raise FeedParseError(_not_a_feed_reason(body, content_type))
    # As feedparser itself reports: the parser's complaint, else the decoding's.
    warnings = [str(doc.bozo_exception)] if doc.get("bozo") else []
    warnings = (warnings or ([decoding_warning] if decoding_warning else [])) + defused

    feed = doc.feed
    language = _language(feed.get("language")) or _language(
        feed.get("title_detail", {}).get("language")
    )
    return ParsedFeed(
        title=_plain(feed.get("title"), feed.get("title_detail")) or None,
        site_url=_http_url(feed.get("link"), url),
        language=language,
        ttl_minutes=_ttl(feed.get("ttl")),
        entries=[_entry(raw, url, language, now) for raw in doc.entries],
        warning="; ".join(warnings) or None,
    )


def _feedparser(data: bytes) -> Any:
    # A file object, never bytes or str: feedparser opens paths and fetches URLs it is given.
    # No Content-Location and no URI resolution: feedparser would resolve guids too, so a
    # relative guid ("item-17") would change whenever the feed URL does. We resolve links and
    # the chosen body against ``url`` ourselves, honouring each part's xml:base.
    return feedparser.parse(
        io.BytesIO(data), response_headers=UTF8_HEADERS, resolve_relative_uris=False
    )


def _salvaged(data: bytes, failure: Exception) -> Any:
    """feedparser on ``data`` as libxml2's recovering parser rebuilds it, for documents whose
    broken markup crashes feedparser's own fallback parser (an end tag it never saw open
    raises KeyError or TypeError in it). FeedParseError when that fails too."""
    reason = f"unreadable feed: its broken markup crashed the parser ({type(failure).__name__})"
    parser = etree.XMLParser(recover=True, resolve_entities=False, no_network=True)
    try:
        root = etree.fromstring(data, parser)
        if root is None:
            raise FeedParseError(reason)
        return _feedparser(etree.tostring(root, encoding="utf-8", xml_declaration=True))
    except FeedParseError:
        raise
    except Exception as exc:
        raise FeedParseError(reason) from exc


def _for_feedparser(content_type: str) -> str:
    """Map ``text/xml`` without charset to ``application/xml``.

    feedparser follows RFC 3023, where text/xml without a charset means US-ASCII, so every
    non-ASCII feed served that way "fails" and gets a spurious warning. RFC 7303 replaced
    that rule: without a charset, the BOM or the XML declaration decides, as for application/.
    """
    media, _, params = content_type.partition(";")
    if media.strip().lower() == "text/xml" and "charset" not in params.lower():
        return "application/xml"
    return content_type


def _not_a_feed_reason(body: bytes, content_type: str | None) -> str:
    head = body[:8192].lstrip(b"\xef\xbb\xbf \t\r\n")
    if _HTML_MARKERS.search(head):
        match = _HTML_TITLE.search(head)
        if match:
            title = " ".join(match.group(1).decode("utf-8", "replace").split())[:80]
            return f"not a feed: looks like an HTML page (<title>{title}</title>)"
        return "not a feed: looks like an HTML page"
    if head[:1] in (b"{", b"["):
        return "not a feed: looks like JSON (JSON Feed is not supported)"
    if b"\x00" in head or not head.startswith(b"<"):
        shown = f" (Content-Type {content_type})" if content_type else ""
        return f"not a feed: no XML markup{shown}"
    if root := _ROOT_TAG.search(head):
        name = root.group(1).decode("ascii", "replace")
        return f"not a feed: XML root element <{name}> is not rss, RDF or feed"
    return "not a feed: no RSS, RDF or Atom element found"


def _entry(raw: Any, base_url: str, feed_language: str | None, now: datetime) -> RawEntry:
    link = _http_url(raw.get("link"), base_url)
    title = _plain(raw.get("title"), raw.get("title_detail"))
    content = _content_html(raw, base_url)
    published, published_text = _published(raw, now)
    guid = _guid(raw.get("id")) or _guid(link) or _hash_guid(title, published_text, content)
    details = [*raw.get("content", []), raw.get("summary_detail"), raw.get("title_detail")]
    language = next((lang for d in details if d and (lang := _language(d.get("language")))), None)
    return RawEntry(
        guid=guid,
        url=link,
        title=title,
        author=_one_line(raw.get("author"), MAX_AUTHOR_CHARS) or None,
        published=published,
        content_html=content,
        language=language or feed_language,
    )


def _plain(value: str | None, detail: Any) -> str:
    """Titles as one line of plain text: HTML titles lose their tags (Le Figaro's <i>)."""
    text = value or ""
    if detail and detail.get("type") in HTML_TYPES:
        text = html.unescape(_TAG.sub("", text))
    return _one_line(text, MAX_TITLE_CHARS)


def _one_line(value: str | None, limit: int) -> str:
    """``value`` on one line, without control characters, cut at a word within ``limit``."""
    return cut_at_word(" ".join(_JUNK_CHARS.sub("", value or "").split()), limit)


def _guid(value: str | None) -> str:
    """The entry's id as written, unless it is absurdly long (then a digest of it)."""
    guid = _JUNK_CHARS.sub("", value or "").strip()
    if len(guid) <= MAX_GUID_CHARS:
        return guid
    return "sha256:" + hashlib.sha256(guid.encode("utf-8")).hexdigest()[:32]


def _content_html(raw: Any, base_url: str) -> str:
    """The fullest body (longest of content:encoded / Atom content / summary / media:description)
    with its relative links made absolute. Only the winner is resolved: it is the costly part."""
    candidates = [(c.get("value") or "", c) for c in raw.get("content", [])]
    candidates.append((raw.get("summary") or "", raw.get("summary_detail")))
    candidates.append((raw.get("media_description") or "", None))
    value, detail = max(candidates, key=lambda candidate: len(candidate[0]))
    if value and detail and detail.get("type") in HTML_TYPES:
        base = urljoin(base_url, detail.get("base") or "")
        value = resolve_relative_uris(value, base, "utf-8", detail["type"])
    return str(value)


def _http_url(value: str | None, base: str) -> str | None:
    """An absolute http(s) URL, or None: javascript: or mailto: links are not articles."""
    if not value or not value.strip() or len(value) > MAX_URL_CHARS:
        return None
    try:
        absolute = urljoin(base, _JUNK_CHARS.sub("", value).strip())
        scheme = urlsplit(absolute).scheme
    except ValueError:  # e.g. an unbalanced IPv6 bracket
        return None
    return absolute if scheme in ("http", "https") and len(absolute) <= MAX_URL_CHARS else None


def _hash_guid(title: str, published: str | None, content: str) -> str:
    # Stable across fetches as long as the item is unchanged; the body only when untitled.
    basis = f"{title}\n{published or ''}" if title else content
    return "sha256:" + hashlib.sha256(basis.encode("utf-8")).hexdigest()[:32]


def _language(value: str | None) -> str | None:
    """A language tag as declared ("en-us"), or None when it is not one."""
    if not value or len(value) > 100:
        return None
    tag = value.strip().lower().replace("_", "-")
    if len(tag) > _MAX_LANGUAGE_CHARS or not _LANGUAGE_TAG.fullmatch(tag):
        return None
    return tag


def _ttl(value: str | None) -> int | None:
    text = (value or "").strip()
    # Bounded first: int() refuses more than 4300 digits, and a year of minutes is 6.
    return int(text) if text.isdigit() and len(text) <= 9 and int(text) > 0 else None


def _published(raw: Any, now: datetime) -> tuple[datetime | None, str | None]:
    """(date, the raw text it came from). Future dates are clamped to ``now``; dates before
    1970 are placeholders ("0001-01-01") and count as missing."""
    for key in ("published", "updated", "created"):
        # dict.get, not raw.get: FeedParserDict maps a missing "updated" to "published"
        # (with a DeprecationWarning), which would read the same date twice.
        text = (dict.get(raw, key) or "").strip() or None
        parsed = dict.get(raw, f"{key}_parsed")
        when: datetime | None = None
        if text and _SLASH_DATE.match(text):
            when = _loose_date(text)
        elif parsed:
            when = _from_struct(parsed)
        elif text:
            when = _loose_date(text)
        if when is not None and when >= _EPOCH:
            return min(when, now), text
    return None, None


def _from_struct(value: time.struct_time) -> datetime | None:
    try:  # timegm, not datetime(*t[:6]): it accepts leap seconds (sec=60)
        return datetime.fromtimestamp(calendar.timegm(value), UTC)
    except (OverflowError, ValueError, OSError):
        return None


def _loose_date(text: str) -> datetime | None:
    """Dates feedparser does not read: "2020/1/10 14:33:00" and localised RFC 822."""
    if match := _SLASH_DATE.match(text):
        parts = [int(p or 0) for p in match.groups()]
        zone: tzinfo = UTC  # no zone given: UTC is as good a guess as any
    elif match := _LOCAL_RFC822.match(text):
        day, name, year, hour, minute, second, offset = match.groups()
        month = _month(name)
        if month is None:
            return None
        parts = [int(year), month, int(day), int(hour or 0), int(minute or 0), int(second or 0)]
        zone = _zone(offset)
    else:
        return None
    try:
        year, month, day, hour, minute, second = parts[:6]
        return datetime(year, month, day, hour, minute, second, tzinfo=zone).astimezone(UTC)
    except ValueError:
        return None


def _month(name: str) -> int | None:
    folded = "".join(
        c for c in unicodedata.normalize("NFKD", name.lower()) if not unicodedata.combining(c)
    )
    if folded.startswith("juil"):  # French: juin / juillet share "jui"
        return 7
    if folded.startswith("juin"):
        return 6
    return _MONTHS.get(folded[:3])


def _zone(offset: str | None) -> tzinfo:
    if not offset or offset.upper() in ("Z", "GMT", "UT", "UTC"):
        return UTC
    digits = offset[1:].replace(":", "")
    delta = timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
    return timezone(-delta if offset[0] == "-" else delta)
