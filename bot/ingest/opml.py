"""OPML, the format every feed reader imports and exports: reading feed URLs out of it, and
writing the catalogue into it.

Reading uses defusedxml, which refuses entity expansion and external entities: an OPML file
is untrusted input (a CLI argument, or a document sent to the bot). Writing builds the tree
with ElementTree, so every attribute is escaped by the serialiser and never by hand.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET  # writing only: parsing goes through defusedxml
from collections.abc import Iterable
from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path
from typing import Protocol

from defusedxml import ElementTree

# Characters XML 1.0 cannot hold even escaped; ElementTree would write them as they are and
# produce a file no reader (ours included) accepts. A feed title is remote text: it may have them.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


class OPMLError(ValueError):
    """The file is not OPML we can read; the message says why."""


class OutlineFeed(Protocol):
    """What an OPML outline is written from (storage's Feed has these)."""

    @property
    def url(self) -> str: ...

    @property
    def title(self) -> str | None: ...

    @property
    def site_url(self) -> str | None: ...


def parse_opml(data: bytes) -> list[tuple[str, str | None]]:
    """(xmlUrl, title) of every outline that names a feed, in document order, without repeats.

    Outlines nested in category outlines count like top-level ones. A title that is only the
    URL again (what exporters, ours included, put in the required ``text`` of an untitled
    feed) is no title.
    """
    try:
        root = ElementTree.fromstring(data)
    except Exception as exc:  # defusedxml raises several types; all mean "not readable OPML"
        raise OPMLError(f"not a readable OPML document: {exc}") from exc
    if root.tag.lower() != "opml":
        raise OPMLError(f"not an OPML document (root element <{root.tag}>)")
    feeds: list[tuple[str, str | None]] = []
    seen: set[str] = set()
    for outline in root.iter("outline"):
        url = (outline.get("xmlUrl") or outline.get("xmlurl") or "").strip()
        if url and url not in seen:
            seen.add(url)
            title = " ".join((outline.get("title") or outline.get("text") or "").split())
            feeds.append((url, title if title and title != url else None))
    return feeds


def read_opml(path: Path) -> list[tuple[str, str | None]]:
    return parse_opml(path.read_bytes())


def _clean(text: str) -> str:
    return _NOT_XML.sub("", text)


def write_opml(
    feeds: Iterable[OutlineFeed], *, title: str, created: datetime | None = None
) -> bytes:
    """An OPML 2.0 document (UTF-8) with one ``type="rss"`` outline per feed, in the order given.

    ``text`` is required by the format, so an untitled feed gets its URL there (and no
    ``title``); parse_opml reads that back as no title.
    """
    root = ET.Element("opml", version="2.0")
    head = ET.SubElement(root, "head")
    ET.SubElement(head, "title").text = _clean(title)
    moment = (created or datetime.now(UTC)).astimezone(UTC)
    ET.SubElement(head, "dateCreated").text = format_datetime(moment, usegmt=True)
    body = ET.SubElement(root, "body")
    for feed in feeds:
        name = _clean(" ".join((feed.title or "").split()))
        attributes = {"type": "rss", "text": name or _clean(feed.url)}
        if name:
            attributes["title"] = name
        attributes["xmlUrl"] = _clean(feed.url)
        if feed.site_url:
            attributes["htmlUrl"] = _clean(feed.site_url)
        ET.SubElement(body, "outline", attributes)
    ET.indent(root)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True) + b"\n"
