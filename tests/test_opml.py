"""OPML: feed URLs read from the files feed readers export (nested categories, hostile XML
refused), the catalogue written back as OPML 2.0 that reads back the same, and the import
both the command line and the bot go through (services.import_feeds), on both databases."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlmodel import Session

from bot.ingest.opml import OPMLError, parse_opml, write_opml
from bot.services import add_configured_feeds, add_feed, import_feeds
from bot.settings import Settings
from storage import feeds as feed_queries

SAMPLE = b"""<?xml version="1.0" encoding="UTF-8"?>
<opml version="2.0"><head><title>subs</title></head><body>
  <outline text="News">
    <outline type="rss" text="Le Monde" xmlUrl="https://www.lemonde.fr/rss/une.xml"/>
    <outline type="rss" title="heise" text="h" xmlUrl="https://www.heise.de/rss/heise.rdf"/>
  </outline>
  <outline type="rss" text="again" xmlUrl="https://www.lemonde.fr/rss/une.xml"/>
  <outline text="no url"/>
</body></opml>"""


@dataclass
class FeedRow:
    url: str
    title: str | None = None
    site_url: str | None = None


def test_feed_outlines_are_read_in_order_without_repeats() -> None:
    assert parse_opml(SAMPLE) == [
        ("https://www.lemonde.fr/rss/une.xml", "Le Monde"),
        ("https://www.heise.de/rss/heise.rdf", "heise"),
    ]


def test_outlines_nested_in_categories_at_any_depth_are_read() -> None:
    nested = b"""<opml version="1.0"><body>
      <outline text="Tech"><outline text="Hardware"><outline text="Deep">
        <outline text="Golem" xmlUrl="https://rss.golem.de/rss.php?feed=RSS2.0"/>
      </outline></outline></outline>
      <outline text="Top" xmlUrl="https://example.org/top.xml"/>
    </body></opml>"""
    assert parse_opml(nested) == [
        ("https://rss.golem.de/rss.php?feed=RSS2.0", "Golem"),
        ("https://example.org/top.xml", "Top"),
    ]


def test_entity_expansion_is_refused() -> None:
    bomb = b"""<?xml version="1.0"?><!DOCTYPE opml [<!ENTITY a "aaaaaaaaaa">
    <!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]><opml><body>&b;</body></opml>"""
    with pytest.raises(OPMLError):
        parse_opml(bomb)


def test_external_entities_are_refused_and_nothing_is_read_from_disk() -> None:
    xxe = b"""<?xml version="1.0"?><!DOCTYPE opml [<!ENTITY x SYSTEM "file:///etc/hostname">]>
    <opml><body><outline text="&x;" xmlUrl="https://example.org/f.xml"/></body></opml>"""
    with pytest.raises(OPMLError):
        parse_opml(xxe)


def test_a_document_that_is_not_opml_is_refused_with_its_root_named() -> None:
    with pytest.raises(OPMLError, match="rss"):
        parse_opml(b"<rss><channel/></rss>")
    with pytest.raises(OPMLError):
        parse_opml(b"not xml at all")
    with pytest.raises(OPMLError):
        parse_opml(b"")


def test_written_opml_is_version_2_utf8_with_one_rss_outline_per_feed() -> None:
    created = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)
    feeds = [
        FeedRow("https://www.lemonde.fr/rss/une.xml", "Le Monde", "https://www.lemonde.fr/"),
        FeedRow("https://meduza.io/rss/all", "Медуза"),
        FeedRow("https://example.org/untitled.xml"),
    ]
    data = write_opml(feeds, title="newsbrief feeds", created=created)

    assert data.startswith(b"<?xml version='1.0' encoding='utf-8'?>")
    assert "Медуза".encode() in data  # UTF-8 as declared, not character references
    root = ET.fromstring(data)
    assert root.tag == "opml" and root.get("version") == "2.0"
    assert root.findtext("head/title") == "newsbrief feeds"
    assert parsedate_to_datetime(root.findtext("head/dateCreated") or "") == created
    outlines = root.findall("body/outline")
    assert [o.attrib for o in outlines] == [
        {
            "type": "rss",
            "text": "Le Monde",
            "title": "Le Monde",
            "xmlUrl": "https://www.lemonde.fr/rss/une.xml",
            "htmlUrl": "https://www.lemonde.fr/",
        },
        {"type": "rss", "text": "Медуза", "title": "Медуза", "xmlUrl": "https://meduza.io/rss/all"},
        # text is required: an untitled feed has its URL there, and no title
        {
            "type": "rss",
            "text": "https://example.org/untitled.xml",
            "xmlUrl": "https://example.org/untitled.xml",
        },
    ]


def test_write_then_parse_gives_back_the_same_urls_and_titles() -> None:
    feeds = [
        FeedRow("https://a.example/feed", "Alpha"),
        FeedRow("https://b.example/rss?x=1&y=2", None),
        FeedRow("https://c.example/atom", "Ça & co"),
    ]
    assert parse_opml(write_opml(feeds, title="t")) == [(f.url, f.title) for f in feeds]


def test_every_attribute_is_escaped_and_unwritable_characters_are_dropped() -> None:
    hostile = "Tom & \"Jerry\" <script>alert(1)</script> 'q'\x00\x0b\x1f"
    url = 'https://example.org/rss?a=1&b="2"&c=<3>'
    data = write_opml([FeedRow(url, hostile, "https://example.org/?p=1&q=2")], title="<&>")

    assert b"<script>" not in data and b'"Jerry"' not in data
    assert b"\x00" not in data and b"\x0b" not in data
    assert parse_opml(data) == [(url, "Tom & \"Jerry\" <script>alert(1)</script> 'q'")]
    assert ET.fromstring(data).findtext("head/title") == "<&>"


def test_titles_are_read_on_one_line_and_a_title_that_is_the_url_is_no_title() -> None:
    data = b"""<opml version="2.0"><body>
      <outline text="Spread
         over   lines" xmlUrl="https://a.example/f"/>
      <outline text="https://b.example/f" xmlUrl="https://b.example/f"/>
      <outline text="" title="  " xmlUrl="https://c.example/f"/>
    </body></opml>"""
    assert parse_opml(data) == [
        ("https://a.example/f", "Spread over lines"),
        ("https://b.example/f", None),
        ("https://c.example/f", None),
    ]


# --- import_feeds: the one import the CLI and the bot share -------------------------------


def test_import_adds_new_feeds_with_their_titles_and_sorts_out_the_rest(engine: Engine) -> None:
    existing = add_feed(engine, "https://www.heise.de/rss/heise.rdf", title="heise online")
    entries = [
        ("https://www.lemonde.fr/rss/une.xml", "Le Monde"),
        ("http://heise.de/rss/heise.rdf/?utm_source=opml", "heise (another spelling)"),
        ("feed:javascript:alert(1)", "bad"),
        ("", None),
        ("https://meduza.io/rss/all", None),
        ("https://lemonde.fr/rss/une.xml", "Le Monde again"),  # repeated within the file
    ]

    result = import_feeds(engine, entries)

    assert [(f.url, f.title) for f in result.added] == [
        ("https://www.lemonde.fr/rss/une.xml", "Le Monde"),
        ("https://meduza.io/rss/all", None),
    ]
    present = [(url, feed.id) for url, feed in result.present]
    assert present == [
        ("http://heise.de/rss/heise.rdf/?utm_source=opml", existing.id),
        ("https://lemonde.fr/rss/une.xml", result.added[0].id),
    ]
    assert [url for url, _ in result.invalid] == ["feed:javascript:alert(1)", ""]
    assert all("not an http(s) URL" in reason for _, reason in result.invalid)
    with Session(engine) as session:
        stored = {f.url: f.title for f in feed_queries.list_feeds(session)}
    assert stored == {
        "https://www.heise.de/rss/heise.rdf": "heise online",  # an import never renames
        "https://www.lemonde.fr/rss/une.xml": "Le Monde",
        "https://meduza.io/rss/all": None,
    }


def test_configured_feeds_skip_a_bad_entry_with_a_warning_and_add_the_rest(
    engine: Engine, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    opml = tmp_path / "feeds.opml"
    opml.write_text(
        '<opml version="2.0"><head/><body>'
        '<outline type="rss" text="bad" xmlUrl="feed:javascript:alert(1)"/>'
        '<outline type="rss" text="Meduza" xmlUrl="https://meduza.io/rss/all"/>'
        "</body></opml>"
    )
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None, feeds=f"https://www.lemonde.fr/rss/une.xml,{opml}"
    )

    added = add_configured_feeds(settings, engine)  # NEWSBRIEF_FEEDS, as `newsbrief run` does

    assert [f.url for f in added] == [
        "https://www.lemonde.fr/rss/une.xml",
        "https://meduza.io/rss/all",
    ]
    assert "skipped 'feed:javascript:alert(1)'" in caplog.text
    assert add_configured_feeds(settings, engine) == []  # already there: nothing added twice
