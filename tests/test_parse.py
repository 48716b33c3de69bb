"""parse_feed over the whole real corpus: counts, encodings, dates, guids, titles, non-feeds."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path

import pytest

from bot.ingest.parse import FeedParseError, parse_feed
from bot.ingest.records import ParsedFeed
from tests.conftest import CORPUS_DIR
from tests.support.feedserver import content_type_for

NOW = datetime(2025, 1, 1, tzinfo=UTC)


def manifest_rows() -> list[tuple[str, str, int]]:
    """(path, format, items) for every feed in MANIFEST.md; empty when the corpus is absent."""
    manifest = CORPUS_DIR / "MANIFEST.md"
    if not manifest.is_file():
        return []
    rows = []
    for line in manifest.read_text(encoding="utf-8").splitlines():
        if re.match(r"\| `feeds/[^`]+` \|", line):
            cols = [c.strip() for c in line.split("|")]
            rows.append((cols[1].strip("`"), cols[4], int(cols[7])))
    return rows


@cache
def parse_corpus(relative: str) -> ParsedFeed:
    """Parse a corpus file as a server would hand it over (Content-Type from the extension)."""
    path = CORPUS_DIR / relative
    return parse_feed(
        path.read_bytes(),
        url=f"http://feeds.example/{path.name}",
        content_type=content_type_for(path),
        now=NOW,
    )


def feed(corpus_dir: Path, name: str) -> ParsedFeed:
    assert (corpus_dir / "feeds" / name).is_file()
    return parse_corpus(f"feeds/{name}")


def all_text(parsed: ParsedFeed) -> str:
    return " ".join(f"{e.title} {e.content_html}" for e in parsed.entries)


RSS = """<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/"><channel>
<title>Test</title><link>https://site.example/</link>{items}</channel></rss>"""


def rss(*items: str) -> bytes:
    return RSS.format(items="".join(f"<item>{i}</item>" for i in items)).encode()


# -- the whole corpus -------------------------------------------------------------------------


@pytest.mark.parametrize(("path", "kind", "items"), manifest_rows() or [("", "", 0)])
def test_every_corpus_feed_parses_to_its_manifest_item_count(
    corpus_dir: Path, path: str, kind: str, items: int
) -> None:
    if kind.startswith("not a feed"):
        with pytest.raises(FeedParseError, match=r"^not a feed: "):
            parse_corpus(path)
        return
    assert len(parse_corpus(path).entries) == items


def test_manifest_lists_all_73_feed_files(corpus_dir: Path) -> None:
    listed = {path for path, _, _ in manifest_rows()}
    on_disk = {f"feeds/{p.name}" for p in (corpus_dir / "feeds").iterdir()}
    assert listed == on_disk
    assert len(on_disk) == 73


@pytest.mark.parametrize(
    ("name", "count"),
    [
        ("guardian-us-en-2018-01.rss", 55),
        ("nytimes-homepage-en-2017-01.rss", 33),
        ("indianexpress-en-2017.rss", 200),
        ("japantimes-en-2017.rss", 118),
        ("golem-de-2017-12.rss", 40),
        ("ibash-ru-windows1251.rss", 50),
        ("lanacion-es-ar-2022-04.rss", 100),
        ("daringfireball-en-2017-06.atom", 48),
        ("heise-online-de.rdf", 60),
        ("stadtfeuerwehr-weiz-de-rss091-iso88591.rss", 15),
        ("research-rsc-en-2019.atom", 19),
        ("bbc-urdu-ur-2018-10.rss", 26),
    ],
)
def test_well_formed_feeds_give_every_entry(corpus_dir: Path, name: str, count: int) -> None:
    parsed = feed(corpus_dir, name)
    assert len(parsed.entries) == count
    assert parsed.warning is None


@pytest.mark.parametrize(
    ("name", "count", "warning"),
    [
        ("guardian-world-en-2022-09-malformed.rss", 54, "not well-formed"),
        ("myanimelist-news-en-undefined-entities.rss", 20, "undefined entity"),
        ("dbengines-en-nbsp-entity.rss", 1, "undefined entity"),
        ("techcrunch-en-2011.rss", 20, "XML or text declaration not at start"),
        ("stackoverflow-nmea-en-invalid-chars.atom", 1, "not well-formed"),
    ],
)
def test_broken_feeds_keep_their_entries_with_a_warning(
    corpus_dir: Path, name: str, count: int, warning: str
) -> None:
    parsed = feed(corpus_dir, name)
    assert len(parsed.entries) == count
    assert parsed.warning is not None and warning in parsed.warning


def test_every_date_in_the_corpus_is_aware_utc_and_sane(corpus_dir: Path) -> None:
    dated = 0
    for path, kind, _ in manifest_rows():
        if kind.startswith("not a feed"):
            continue
        for entry in parse_corpus(path).entries:
            if entry.published is not None:
                dated += 1
                assert entry.published.utcoffset() == timedelta(0), (path, entry.published)
                assert datetime(1970, 1, 1, tzinfo=UTC) <= entry.published <= NOW
    assert dated > 1800  # japantimes, heise RDF and the EUC-JP sample are the undated ones


def test_every_entry_in_the_corpus_has_a_guid_and_only_absolute_http_links(
    corpus_dir: Path,
) -> None:
    for path, kind, _ in manifest_rows():
        if kind.startswith("not a feed"):
            continue
        for entry in parse_corpus(path).entries:
            assert entry.guid, path
            assert entry.url is None or re.match(r"https?://[^/]", entry.url), entry.url
            assert entry.title == " ".join(entry.title.split())


# -- not a feed -------------------------------------------------------------------------------


def test_html_page_is_not_a_feed_and_says_what_it_is(corpus_dir: Path) -> None:
    with pytest.raises(FeedParseError) as info:
        parse_corpus("feeds/not-a-feed-document-moved.html.rss")
    assert str(info.value) == "not a feed: looks like an HTML page (<title>Document Moved</title>)"


@pytest.mark.parametrize(
    ("body", "content_type", "reason"),
    [
        (b"", "application/rss+xml", "empty body"),
        (b"  \r\n\t", None, "empty body"),
        (
            b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR",
            "image/png",
            "no XML markup (Content-Type image/png)",
        ),
        (b'{"version": "https://jsonfeed.org/version/1.1"}', "application/json", "looks like JSON"),
        (
            b'<?xml version="1.0"?><urlset><url><loc>https://a.example/</loc></url></urlset>',
            "text/xml",
            "XML root element <urlset> is not rss, RDF or feed",
        ),
        (b"<!DOCTYPE html><html><body>Hi</body></html>", "text/html", "looks like an HTML page"),
    ],
)
def test_documents_that_are_not_feeds_raise_with_a_reason(
    body: bytes, content_type: str | None, reason: str
) -> None:
    with pytest.raises(FeedParseError) as info:
        parse_feed(body, url="https://site.example/feed", content_type=content_type)
    assert reason in str(info.value)


def test_truncated_feed_with_no_items_is_a_valid_empty_feed(corpus_dir: Path) -> None:
    parsed = feed(corpus_dir, "reuters-mostread-en-2020-03-truncated.rss")
    assert parsed.entries == []
    assert parsed.warning is not None and "no element found" in parsed.warning
    assert parsed.language == "en-us"


def test_channel_without_items_is_a_valid_empty_feed(corpus_dir: Path) -> None:
    parsed = feed(corpus_dir, "dailymail-worldnews-en-2017-01-empty.rss")
    assert parsed.entries == []
    assert parsed.warning is None
    assert parsed.title is not None and "Mail Online" in parsed.title


def test_body_that_names_a_local_file_is_not_opened(tmp_path: Path) -> None:
    # Given bytes, feedparser would open() a path: a server answering "/dev/zero" hangs it.
    local = tmp_path / "feed.rss"
    local.write_bytes(rss("<title>from disk</title><link>https://a.example/1</link>"))
    with pytest.raises(FeedParseError):
        parse_feed(str(local).encode(), url="https://site.example/feed", content_type=None)


# -- encodings --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("ibash-ru-windows1251.rss", "Цитата"),  # windows-1251 declared
        ("golem-de-2017-12.rss", "ü"),  # ISO-8859-1 declared
        ("qq-news-china-gb2312-zh.xml", "习近平"),  # gb2312 declared, served as text/xml
        ("kc0011-dvbbs-gb2312-zh.rss", "纪念"),
        ("eucjp-undeclared-ja-minimal.xml", "ゲーム三昧な正月"),  # EUC-JP, nothing declared
        ("psychologies-fr-undeclared-latin1.rss", "études"),  # Latin-1, nothing declared
        ("uol-noticias-pt-br-malformed.rss", "simulações"),
        ("bbc-urdu-ur-2018-10.rss", "پاکستان"),
    ],
)
def test_encodings_are_decoded_to_the_right_characters(
    corpus_dir: Path, name: str, expected: str
) -> None:
    text = all_text(feed(corpus_dir, name))
    assert expected in text
    assert "\ufffd" not in text


def test_text_xml_without_charset_follows_the_xml_declaration(corpus_dir: Path) -> None:
    # RFC 3023 read "text/xml, no charset" as US-ASCII; RFC 7303 lets the prolog decide.
    parsed = feed(corpus_dir, "qq-news-china-gb2312-zh.xml")
    assert content_type_for("x.xml") == "text/xml"
    assert parsed.warning is None


def test_charset_from_the_http_header_is_used(corpus_dir: Path) -> None:
    body = (corpus_dir / "feeds" / "psychologies-fr-undeclared-latin1.rss").read_bytes()
    parsed = parse_feed(
        body, url="https://site.example/rss", content_type="text/xml; charset=ISO-8859-1"
    )
    assert parsed.warning is None
    assert "études" in all_text(parsed)


# -- entries ----------------------------------------------------------------------------------


def test_undated_items_without_guid_get_their_link_as_a_stable_guid(corpus_dir: Path) -> None:
    parsed = feed(corpus_dir, "rutube-mediarss-ru.rss")
    again = parse_feed(
        (corpus_dir / "feeds" / "rutube-mediarss-ru.rss").read_bytes(),
        url="http://feeds.example/rutube-mediarss-ru.rss",
        content_type="application/rss+xml",
        now=NOW + timedelta(days=3),
    )
    guids = [e.guid for e in parsed.entries]
    assert guids == [e.url for e in parsed.entries]
    assert guids == [e.guid for e in again.entries]
    assert len(set(guids)) == len(guids)


def test_entry_without_id_or_link_gets_a_hash_guid_that_is_stable() -> None:
    body = rss("<title>Alpha</title><description>a</description>", "<title>Beta</title>")
    first = parse_feed(body, url="https://site.example/feed", content_type=None, now=NOW)
    second = parse_feed(body, url="https://site.example/feed", content_type=None, now=NOW)
    guids = [e.guid for e in first.entries]
    assert all(g and g.startswith("sha256:") for g in guids)
    assert guids == [e.guid for e in second.entries]
    assert guids[0] != guids[1]


def test_untitled_scripting_news_items_are_kept(corpus_dir: Path) -> None:
    entries = feed(corpus_dir, "scriptingnews-en.rss").entries
    untitled = [e for e in entries if e.title == ""]
    assert len(entries) == 50
    assert len(untitled) == 39
    assert all(e.content_html and e.guid for e in untitled)


def test_html_titles_become_plain_text(corpus_dir: Path) -> None:
    titles = [e.title for e in feed(corpus_dir, "lefigaro-fr-2017-01-mojibake.rss").entries]
    assert not any("<i>" in t or "</i>" in t for t in titles)
    assert "La case BD: Tintin au pays des Soviets ou la naissance de la houppette" in titles


def test_titles_padded_with_newlines_and_tabs_are_collapsed(corpus_dir: Path) -> None:
    entries = feed(corpus_dir, "stadtfeuerwehr-weiz-de-rss091-iso88591.rss").entries
    assert entries[0].title == "[19.08.2018 - 07:08 Uhr] Brandmeldeanlagenalarm"


def test_nonstandard_slash_date_is_read_as_written(corpus_dir: Path) -> None:
    # feedparser alone turns "2020/1/10 14:33:00" into 1 November 2020.
    entry = feed(corpus_dir, "kc0011-dvbbs-gb2312-zh.rss").entries[0]
    assert entry.published == datetime(2020, 1, 10, 14, 33, tzinfo=UTC)


def test_portuguese_rfc822_date_is_read(corpus_dir: Path) -> None:
    entry = feed(corpus_dir, "uol-noticias-pt-br-malformed.rss").entries[0]
    assert entry.published == datetime(2018, 9, 24, 22, 42, 40, tzinfo=UTC)  # 19:42:40 -0300


def test_future_dates_are_clamped_to_now_and_ancient_ones_dropped() -> None:
    body = rss(
        "<title>f</title><link>https://a.example/f</link>"
        "<pubDate>Tue, 01 Jan 2097 00:00:00 GMT</pubDate>",
        "<title>p</title><link>https://a.example/p</link>"
        "<pubDate>Mon, 01 Jan 1900 00:00:00 GMT</pubDate>",
    )
    future, ancient = parse_feed(body, url="https://a.example/", content_type=None, now=NOW).entries
    assert future.published == NOW
    assert ancient.published is None


def test_links_are_made_absolute_and_non_http_links_dropped() -> None:
    body = rss(
        "<title>rel</title><link>/2024/story.html</link>",
        "<title>js</title><link>javascript:alert(1)</link>",
    )
    rel, js = parse_feed(body, url="https://news.example/feeds/all.rss", content_type=None).entries
    assert rel.url == "https://news.example/2024/story.html"
    assert js.url is None


def test_guids_are_kept_as_the_feed_wrote_them(corpus_dir: Path) -> None:
    # feedparser alone "resolves" a non-URL guid against the feed URL, so it would change
    # whenever the feed moves; a guid is an identifier, not a link.
    livemint = feed(corpus_dir, "livemint-news-en.rss").entries
    reddit = feed(corpus_dir, "reddit-frontpage-en.atom").entries
    assert all((e.guid or "").isdigit() for e in livemint)
    assert all((e.guid or "").startswith("/t3_") for e in reddit)
    assert reddit[0].url is not None and reddit[0].url.startswith("https://www.reddit.com/")


def test_relative_links_in_the_body_honour_xml_base() -> None:
    body = b"""<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom" xml:base="/blog/"><title>B</title><id>urn:b</id>
<entry><id>urn:1</id><title>One</title><link href="one.html"/>
<content type="html">&lt;a href="two.html"&gt;next&lt;/a&gt; &lt;img src="/i.png"&gt;</content>
</entry></feed>"""
    (entry,) = parse_feed(body, url="https://site.example/feed.atom", content_type=None).entries
    assert entry.url == "https://site.example/blog/one.html"
    assert 'href="https://site.example/blog/two.html"' in entry.content_html
    assert 'src="https://site.example/i.png"' in entry.content_html


def test_content_is_the_longest_body_the_entry_has() -> None:
    full = "<p>" + "Full text paragraph. " * 20 + "</p>"
    body = rss(
        f"<title>t</title><link>https://a.example/1</link><description>Teaser.</description>"
        f"<content:encoded><![CDATA[{full}]]></content:encoded>"
    )
    (entry,) = parse_feed(body, url="https://a.example/", content_type=None).entries
    assert entry.content_html == full


def test_media_description_is_the_body_of_video_entries(corpus_dir: Path) -> None:
    entries = feed(corpus_dir, "youtube-pbsspacetime-en.atom").entries
    assert all("Space Time" in e.content_html for e in entries)
    assert entries[0].author == "PBS Space Time"


def test_daring_fireball_linked_posts_keep_their_alternate_link(corpus_dir: Path) -> None:
    entries = feed(corpus_dir, "daringfireball-en-2017-06.atom").entries
    off_site = [e for e in entries if "daringfireball.net" not in (e.url or "")]
    assert off_site, "linked-list posts point off-site through rel=alternate"
    assert all((e.guid or "").startswith("tag:daringfireball.net") for e in entries)


def test_feed_metadata_and_language_inheritance(corpus_dir: Path) -> None:
    parsed = feed(corpus_dir, "bbc-urdu-ur-2018-10.rss")
    assert parsed.language == "ur"
    assert parsed.ttl_minutes == 15
    assert parsed.site_url == "http://www.bbcurdu.com"
    assert {e.language for e in parsed.entries} == {"ur"}


def test_entry_language_from_xml_lang_wins_over_none(corpus_dir: Path) -> None:
    entries = feed(corpus_dir, "daringfireball-en-2017-06.atom").entries
    assert {e.language for e in entries} == {"en"}
