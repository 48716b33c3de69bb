"""Read feed URLs from an OPML file (the format every feed reader exports).

defusedxml refuses entity expansion and external entities: an OPML file is untrusted input.
"""

from __future__ import annotations

from pathlib import Path

from defusedxml import ElementTree


class OPMLError(ValueError):
    """The file is not OPML we can read; the message says why."""


def parse_opml(data: bytes) -> list[tuple[str, str | None]]:
    """(xmlUrl, title) of every outline that names a feed, in document order, without repeats."""
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
            feeds.append((url, outline.get("title") or outline.get("text")))
    return feeds


def read_opml(path: Path) -> list[tuple[str, str | None]]:
    return parse_opml(path.read_bytes())
