"""OPML reading: feed URLs from the files feed readers export; hostile XML refused."""

from __future__ import annotations

import pytest

from bot.ingest.opml import OPMLError, parse_opml

SAMPLE = b"""<?xml version="1.0" encoding="UTF-8"?>
<opml version="2.0"><head><title>subs</title></head><body>
  <outline text="News">
    <outline type="rss" text="Le Monde" xmlUrl="https://www.lemonde.fr/rss/une.xml"/>
    <outline type="rss" title="heise" text="h" xmlUrl="https://www.heise.de/rss/heise.rdf"/>
  </outline>
  <outline type="rss" text="again" xmlUrl="https://www.lemonde.fr/rss/une.xml"/>
  <outline text="no url"/>
</body></opml>"""


def test_feed_outlines_are_read_in_order_without_repeats() -> None:
    assert parse_opml(SAMPLE) == [
        ("https://www.lemonde.fr/rss/une.xml", "Le Monde"),
        ("https://www.heise.de/rss/heise.rdf", "heise"),
    ]


def test_entity_expansion_is_refused() -> None:
    bomb = b"""<?xml version="1.0"?><!DOCTYPE opml [<!ENTITY a "aaaaaaaaaa">
    <!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]><opml><body>&b;</body></opml>"""
    with pytest.raises(OPMLError):
        parse_opml(bomb)


def test_a_document_that_is_not_opml_is_refused_with_its_root_named() -> None:
    with pytest.raises(OPMLError, match="rss"):
        parse_opml(b"<rss><channel/></rss>")
    with pytest.raises(OPMLError):
        parse_opml(b"not xml at all")
