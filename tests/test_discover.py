"""Feed autodiscovery on real pages from the corpus, and feed sniffing on real feeds."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.ingest.discover import discover_feeds, looks_like_feed

TECHCRUNCH = "https://techcrunch.com/2019/11/18/new-york-state-attorney-general-reportedly-investigating-wework/"
VERGE = (
    "https://www.theverge.com/2019/11/19/20973355/"
    "noah-hawley-star-trek-4-chris-pine-write-direct-jj-abrams-paramount-report"
)
CBS = (
    "https://www.cbsnews.com/news/"
    "michael-webb-fort-worth-dramatic-video-shows-rescue-of-8-year-old-kidnapping-victim/"
)


def page(corpus_dir: Path, name: str) -> bytes:
    return (corpus_dir / "articles" / name).read_bytes()


# --- discover_feeds ----------------------------------------------------------------------------


def test_a_real_wordpress_page_yields_its_site_feed_first(corpus_dir: Path) -> None:
    found = discover_feeds(page(corpus_dir, "techcrunch-com-1ace8c85.html"), TECHCRUNCH)
    assert found == [
        "https://techcrunch.com/feed/",
        "https://techcrunch.com/comments/feed/",
        TECHCRUNCH + "feed/",
    ]


def test_a_real_page_with_an_absolute_feed_link(corpus_dir: Path) -> None:
    url = "https://www.tagesschau.de/investigativ/ndr/rheinmetall-datenleck-101.html"
    found = discover_feeds(page(corpus_dir, "traf-tagesschau-de-rheinmetall.html"), url)
    assert found == ["https://www.tagesschau.de/xml/rss2"]


def test_a_real_relative_feed_link_is_resolved_against_the_page_url(corpus_dir: Path) -> None:
    found = discover_feeds(page(corpus_dir, "theverge-com-785affa2.html"), VERGE)
    assert found == ["https://www.theverge.com/rss/index.xml"]


def test_a_real_page_without_feed_links_falls_back_to_feed_like_anchors(
    corpus_dir: Path,
) -> None:
    html = page(corpus_dir, "cbsnews-com-2c46804d.html")
    assert b"application/rss+xml" not in html and b"application/atom+xml" not in html
    assert discover_feeds(html, CBS) == ["https://www.cbsnews.com/rss/"]


def test_decoded_text_is_accepted_as_well_as_bytes(corpus_dir: Path) -> None:
    html = page(corpus_dir, "techcrunch-com-1ace8c85.html").decode("utf-8")
    assert discover_feeds(html, TECHCRUNCH)[0] == "https://techcrunch.com/feed/"


def test_relative_hrefs_of_every_feed_type_in_document_order_once() -> None:
    html = """<html><head>
      <link rel="stylesheet" href="/style.css">
      <link rel="alternate" type="application/atom+xml" href="atom.xml">
      <link rel="alternate" hreflang="fr" href="/fr/">
      <link rel="Alternate Feed" type="application/RSS+XML; charset=utf-8" href="../rss/">
      <link rel="alternate" type="application/feed+json" href="/feed.json">
      <link rel="alternate" type="application/rdf+xml" href="//cdn.example.net/index.rdf">
      <link rel="alternate" type="application/atom+xml" href="atom.xml#top">
      <link rel="alternate" type="application/rss+xml" href="javascript:void(0)">
      <link rel="alternate" type="application/rss+xml" href="">
    </head><body><a href="/feed">not needed: the page has link elements</a></body></html>"""
    found = discover_feeds(html, "https://news.example.org/section/page.html")
    assert found == [
        "https://news.example.org/section/atom.xml",
        "https://news.example.org/rss/",
        "https://news.example.org/feed.json",
        "https://cdn.example.net/index.rdf",
    ]


def test_base_href_changes_what_relative_links_resolve_against() -> None:
    html = """<html><head><base href="https://static.example.com/blog/">
      <link rel="alternate" type="application/rss+xml" href="feed.xml"></head></html>"""
    assert discover_feeds(html, "https://www.example.com/a/b") == [
        "https://static.example.com/blog/feed.xml"
    ]


def test_a_relative_base_href_is_itself_resolved_against_the_page() -> None:
    html = """<head><base href="/blog/"><link rel="alternate"
      type="application/atom+xml" href="atom.xml"></head>"""
    assert discover_feeds(html, "https://example.com/x/y") == ["https://example.com/blog/atom.xml"]


def test_anchor_fallback_keeps_only_feed_like_paths() -> None:
    html = """<body>
      <a href="/about">About</a> <a href="/news/feed/">Feed</a> <a href="/rss">RSS</a>
      <a href="podcast.rss">Podcast</a> <a href="/atom.xml">Atom</a> <a href="/feeds/feed.xml">x</a>
      <a href="/rss">again</a> <a href="mailto:rss@example.com">mail</a> <a href="/feeds/">no</a>
      <a href="news.RDF">RDF</a> <a href="https://other.example.net/blog.atom">Atom</a>
    </body>"""
    assert discover_feeds(html, "http://example.com/dir/") == [
        "http://example.com/news/feed/",
        "http://example.com/rss",
        "http://example.com/dir/podcast.rss",
        "http://example.com/atom.xml",
        "http://example.com/feeds/feed.xml",
        "http://example.com/dir/news.RDF",
        "https://other.example.net/blog.atom",
    ]


def test_a_page_without_feed_links_yields_nothing() -> None:
    html = "<html><head><title>Hi</title></head><body><a href='/about'>About</a></body></html>"
    assert discover_feeds(html, "https://example.com/") == []


@pytest.mark.parametrize(
    "junk",
    [b"", b"   \n", b"\x00\x01\x02\xff\xfe\xfd" * 50, bytes(range(256)) * 4, "", "plain words"],
)
def test_junk_yields_nothing(junk: bytes | str) -> None:
    assert discover_feeds(junk, "https://example.com/") == []


# --- looks_like_feed ---------------------------------------------------------------------------


def test_every_real_feed_in_the_corpus_is_recognised_whatever_the_header(
    corpus_dir: Path,
) -> None:
    feeds = [p for p in sorted((corpus_dir / "feeds").iterdir()) if "not-a-feed" not in p.name]
    assert len(feeds) > 60
    # Servers mislabel feeds as text/html; BOMs, missing declarations and a newline before
    # the declaration are all in there.
    missed = [p.name for p in feeds if not looks_like_feed(p.read_bytes(), "text/html")]
    assert missed == []


def test_an_html_page_served_as_rss_is_not_a_feed(corpus_dir: Path) -> None:
    moved = (corpus_dir / "feeds" / "not-a-feed-document-moved.html.rss").read_bytes()
    assert not looks_like_feed(moved, "application/rss+xml")
    assert not looks_like_feed(page(corpus_dir, "theverge-com-785affa2.html"), "text/html")


def test_real_article_pages_are_not_feeds(corpus_dir: Path) -> None:
    pages = sorted((corpus_dir / "articles").glob("*.html"))
    assert len(pages) > 40
    assert [p.name for p in pages if looks_like_feed(p.read_bytes(), "application/xml")] == []


@pytest.mark.parametrize(
    "body",
    [
        b'<?xml version="1.0"?>\n<?xml-stylesheet href="s.xsl"?>\n<!-- hi --><rss version="2.0"/>',
        b'<!DOCTYPE rss [<!ENTITY nbsp "&#160;">]><rss version="0.91"><channel/></rss>',
        b'<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"/>',
        b'<atom:feed xmlns:atom="http://www.w3.org/2005/Atom"/>',
        '\ufeff<?xml version="1.0" encoding="utf-16"?><feed/>'.encode("utf-16"),
        "<rss/>".encode("utf-16-le"),
    ],
)
def test_feed_roots_are_found_after_any_prolog(body: bytes) -> None:
    assert looks_like_feed(body, None)


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"  ",
        b'{"version": "https://jsonfeed.org/version/1.1", "items": []}',
        b'<?xml version="1.0"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"/>',
        b"<!DOCTYPE html><html><head><title>rss</title></head></html>",
        b"\x89PNG\r\n\x1a\n\x00\x00",
    ],
)
def test_other_documents_are_not_feeds_even_when_labelled_as_feeds(body: bytes) -> None:
    assert not looks_like_feed(body, "application/rss+xml")


def test_the_header_decides_only_when_the_prolog_hides_the_root() -> None:
    long_prolog = b'<?xml version="1.0"?><!--' + b"x" * 70_000 + b"--><rss/>"
    assert looks_like_feed(long_prolog, "application/atom+xml; charset=utf-8")
    assert not looks_like_feed(long_prolog, "text/html")
