"""Tests for bot.ingest.html_text: feed HTML (or plain text) to plain-text paragraphs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import lxml.html
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lxml import etree

from bot.ingest import html_text
from bot.ingest.html_text import html_to_text
from tests.support.corpus import feed_entries, paragraphs


def test_block_elements_become_paragraphs_and_scripts_vanish() -> None:
    html = (
        "<div><h2>Title</h2>Intro<br>line two<br/>"
        "<script>var ad = 1;</script><style>p {color: red}</style>"
        "<iframe src='x'>frame text</iframe>"
        "<ul><li>one</li><li>two</li></ul>"
        "<blockquote>quoted</blockquote>"
        "<table><tr><td>a</td><td>b</td></tr><tr><td>c</td></tr></table></div>"
    )
    assert paragraphs(html_to_text(html)) == [
        "Title",
        "Intro",
        "line two",
        "one",
        "two",
        "quoted",
        "a b",
        "c",
    ]


def test_inline_elements_and_entities_stay_inside_a_paragraph() -> None:
    html = "<p>Caf&eacute; <b>au</b>\n   <i>lait</i>&nbsp;&#8212; l&#8217;ami &amp; co</p>"
    assert html_to_text(html) == "Café au lait — l’ami & co"


def test_broken_html_is_read_anyway() -> None:
    html = "<p>first <b>bold <i>both</p><p>second</div></span><p>third <a href='x'>link"
    assert paragraphs(html_to_text(html)) == ["first bold both", "second", "third link"]


def test_double_escaped_html_is_unescaped_until_plain() -> None:
    html = "<p>Tom &amp;amp; Jerry</p><p>&lt;b&gt;bold&lt;/b&gt; text</p>"
    assert paragraphs(html_to_text(html)) == ["Tom & Jerry", "bold text"]
    assert paragraphs(html_to_text("&lt;p&gt;one&lt;/p&gt;&lt;p&gt;two&lt;/p&gt;")) == [
        "one",
        "two",
    ]


def test_plain_text_keeps_its_lines_as_paragraphs() -> None:
    text = "First line\n  second   line \r\n\r\n\nthird"
    assert html_to_text(text) == "First line\n\nsecond line\n\nthird"


def test_comparison_signs_in_plain_text_are_not_markup() -> None:
    assert html_to_text("if a < b and c > d then 3 <3") == "if a < b and c > d then 3 <3"


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "   \n\t ",
        "<!-- only a comment -->",
        "<!DOCTYPE html>",
        "<?xml version='1.0' encoding='utf-8'?>",
        "\x00\x01\x02",
        "\ud800 lone surrogate",
        "<p>" * 5000 + "deep",
        "<<<>>>&&&;;;",
    ],
)
def test_html_to_text_survives_hostile_input(raw: str) -> None:
    out = html_to_text(raw)
    assert isinstance(out, str)
    assert "\x00" not in out


def test_xml_declaration_and_control_chars_are_dropped() -> None:
    html = "<?xml version='1.0' encoding='utf-8'?><p>ok\x00\x07 text</p>"
    assert html_to_text(html) == "ok text"


def test_feedburner_flare_leaves_only_the_lead(corpus_dir: Path) -> None:
    for _title, body in feed_entries(corpus_dir, "reuters-topnews-en-2017-01.rss"):
        assert "feedflare" in body
        text = html_to_text(body)
        assert len(paragraphs(text)) == 1
        assert "feedburner" not in text.lower()


def _walked_paragraphs(markup: str) -> list[str]:
    """Reference for html_text._render: the plain tree walk it replaced (slower, obviously right).

    Block elements end paragraphs before and after themselves, a table cell adds a space,
    dropped elements, comments and processing instructions keep only their tail.
    """
    markup = html_text._XML_DECL.sub("", markup)
    if not markup.strip():
        return []
    try:
        root = lxml.html.fromstring(markup)
    except (etree.ParserError, ValueError):
        return html_text._strip_tags(markup)
    out: list[str] = []
    current: list[str] = []

    def flush() -> None:
        if text := " ".join("".join(current).split()):
            out.append(text)
        current.clear()

    stack: list[tuple[Any, bool]] = [(root, False)]
    while stack:
        el, closing = stack.pop()
        tag = el.tag.lower() if isinstance(el.tag, str) else ""
        if closing or not tag or tag in html_text._DROP_TAGS:
            if closing and tag in html_text._BLOCK_TAGS:
                flush()
            elif closing and tag in html_text._CELL_TAGS:
                current.append(" ")
            if el is not root and el.tail:
                current.append(el.tail)
            continue
        if tag in html_text._BLOCK_TAGS:
            flush()
        current.append(el.text or "")
        stack.append((el, True))
        stack.extend((child, False) for child in reversed(el))
    flush()
    return out


@pytest.mark.parametrize(
    "name",
    [
        "techcrunch-en-2011.rss",
        "reddit-frontpage-en.atom",
        "lanacion-es-ar-2022-04.rss",
        "research-rsc-en-2017.atom",
        "stackoverflow-nmea-en-invalid-chars.atom",
        "samruby-intertwingly-en.atom",
    ],
)
def test_rendering_matches_a_plain_tree_walk_on_corpus_html(corpus_dir: Path, name: str) -> None:
    for _title, body in feed_entries(corpus_dir, name):
        markup = html_text._sanitize(body)
        assert html_text._render(markup) == _walked_paragraphs(markup)


_MARKUP = st.sampled_from(
    [
        "<p>",
        "</p>",
        "<P>",
        "<br>",
        "<div>",
        "</div>",
        "<td>",
        "</td>",
        "<tr>",
        "<table>",
        "<li>",
        "<b>",
        "</b>",
        "<html>",
        "<body>",
        "</body>",
        "<head><title>t</title></head>",
        "<script>x</script>",
        "<svg><p>in svg</p></svg>",
        "<!-- c -->",
        "<?php x ?>",
        "<!DOCTYPE html>",
        "&#28;",
        "&amp;",
        "\ufdd0",
        "&#xfdd0;",
        "\ufdd1",
        "text",
        " word ",
        "\n",
        "é",
    ]
)


@settings(max_examples=300, deadline=None)
@given(st.lists(_MARKUP, min_size=1, max_size=25).map("".join))
def test_rendering_matches_a_plain_tree_walk_on_odd_markup(markup: str) -> None:
    # Covers the rare paths: control characters lxml will not let us edit ("&#28;"), text
    # that holds the paragraph mark itself, fragments lxml.html picks out of a document.
    assert html_text._render(markup) == _walked_paragraphs(markup)


def test_text_holding_the_paragraph_mark_keeps_it() -> None:
    assert html_to_text("<p>a\ufdd0b</p><p>c&#xfdd0;</p>") == "a\ufdd0b\n\nc\ufdd0"
    assert html_to_text("<div><p>x&#28;y</p><p>z</p></div>") == "x y\n\nz"
