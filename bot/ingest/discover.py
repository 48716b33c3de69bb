"""Feed autodiscovery: is this document a feed, and if it is a web page, where are its feeds?

An admin pastes whatever URL the browser shows, usually a site's home page or an article,
not the feed. Pure functions: bytes and strings in, URLs out; fetching stays in fetch.py.

The Content-Type header is not trusted either way: plenty of servers send feeds as
``text/html`` or ``text/plain`` and error pages as ``application/rss+xml``, so the root
element decides and the header only breaks a tie when no root element can be seen.
"""

from __future__ import annotations

import re
from urllib.parse import urldefrag, urljoin, urlsplit

import lxml.html
from lxml import etree

__all__ = ["FEED_TYPES", "discover_feeds", "looks_like_feed"]

FEED_TYPES = frozenset(
    {
        "application/rss+xml",
        "application/atom+xml",
        "application/feed+json",
        "application/rdf+xml",
    }
)
# Roots of RSS 0.9x/2.0, Atom and RSS 1.0 (rdf:RDF); compared without namespace prefix.
_FEED_ROOTS = frozenset({"rss", "feed", "rdf"})
_XML_FEED_TYPES = frozenset({"application/rss+xml", "application/atom+xml", "application/rdf+xml"})
# Paths that conventionally serve a site's feed, for pages without <link rel="alternate">.
_FEED_PATH_ENDINGS = ("/feed", "/rss", ".rss", ".atom", ".rdf", ".xml")  # .xml: atom.xml, feed.xml
_SNIFF_BYTES = 65_536
_NAME = re.compile(r"<(?:[A-Za-z_][\w.-]*:)?([A-Za-z_][\w.-]*)")


def _head_text(body: bytes) -> str:
    """The start of the document as text, enough to read markup (tags are ASCII)."""
    head = body[:_SNIFF_BYTES]
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return head.decode("utf-16", "replace")
    if head.startswith(b"<\x00") or head.startswith(b"\x00<"):  # UTF-16 without a BOM
        return head.decode("utf-16-le" if head[0] == 0x3C else "utf-16-be", "replace")
    return head.removeprefix(b"\xef\xbb\xbf").decode("latin-1")


def _root_name(text: str) -> str | None:
    """Local name of the first element, skipping the prolog (declaration, PIs, comments,
    DOCTYPE); None when no element starts within the sniffed text."""
    pos = 0
    while True:
        start = text.find("<", pos)
        if start < 0:
            return None
        if text.startswith("<?", start):
            end, skip = text.find("?>", start), 2
        elif text.startswith("<!--", start):
            end, skip = text.find("-->", start), 3
        elif text.startswith("<!", start):  # DOCTYPE, maybe with an internal subset
            bracket, close = text.find("[", start), text.find(">", start)
            if 0 <= bracket < close:
                end, skip = text.find("]>", bracket), 2
                if end < 0:
                    end, skip = text.find("]", bracket), 1
            else:
                end, skip = close, 1
        else:
            match = _NAME.match(text, start)
            return match.group(1).lower() if match else None
        if end < 0:
            return None
        pos = end + skip


def _media_type(content_type: str | None) -> str:
    return (content_type or "").partition(";")[0].strip().lower()


def looks_like_feed(body: bytes, content_type: str | None) -> bool:
    """Whether ``body`` is an RSS, Atom or RDF document (by its root element)."""
    text = _head_text(body).lstrip("\ufeff \t\r\n")
    if not text:
        return False
    root = _root_name(text)
    if root is not None:
        return root in _FEED_ROOTS
    # A prolog longer than the sniffed bytes: only then does the header get a say.
    return text.startswith("<") and _media_type(content_type) in _XML_FEED_TYPES


def _parse(html: str | bytes) -> lxml.html.HtmlElement | None:
    data = html.encode("utf-8") if isinstance(html, str) else html
    if not data.strip():
        return None
    # A str was decoded already: say so, or a <meta charset> would decode it a second time.
    parser = lxml.html.HTMLParser(encoding="utf-8") if isinstance(html, str) else None
    try:
        return lxml.html.document_fromstring(data, parser=parser)
    except (etree.ParserError, etree.XMLSyntaxError, ValueError):
        return None


def _web_url(base: str, href: str | None) -> str | None:
    """``href`` resolved against ``base``, without fragment; None unless it is http(s)."""
    if not href or not href.strip():
        return None
    try:
        url = urldefrag(urljoin(base, href.strip())).url
        parts = urlsplit(url)
    except ValueError:  # e.g. an unbalanced IPv6 bracket
        return None
    return url if parts.scheme in ("http", "https") and parts.netloc else None


def discover_feeds(html: str | bytes, base_url: str) -> list[str]:
    """Feed URLs a page announces, in document order, each once.

    ``<link rel="alternate">`` with a feed type wins; only a page with none is searched for
    ``<a href>`` links that look like feeds (``/feed``, ``/rss``, ``.rss``, ``.atom``, ``.rdf``,
    ``.xml`` as in ``feed.xml``). Relative
    links are resolved against ``<base href>`` when the page has one, else ``base_url``.
    """
    doc = _parse(html)
    if doc is None:
        return []
    base = base_url
    for element in doc.iter("base"):
        if element.get("href"):
            base = urljoin(base_url, element.get("href", "").strip())
            break
    found: dict[str, None] = {}
    for element in doc.iter("link"):
        rels = (element.get("rel") or "").lower().split()
        if "alternate" not in rels or _media_type(element.get("type")) not in FEED_TYPES:
            continue
        if url := _web_url(base, element.get("href")):
            found.setdefault(url, None)
    if found:
        return list(found)
    for element in doc.iter("a"):
        url = _web_url(base, element.get("href"))
        if url is None:
            continue
        path = urlsplit(url).path.lower()
        if path.rstrip("/").endswith(_FEED_PATH_ENDINGS):
            found.setdefault(url, None)
    return list(found)
