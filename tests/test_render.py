"""Tests for bot.briefs.render: Telegram-valid HTML, escaping, safe links, length limits."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from html.parser import HTMLParser
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.briefs.render import (
    DIGEST_DISABLE_LINK_PREVIEW,
    PARSE_MODE,
    TELEGRAM_LIMIT,
    BriefView,
    render_brief,
    render_digest,
    safe_href,
    shorten_text,
    telegram_length,
)

WHEN = datetime(2017, 1, 7, 13, 5, tzinfo=UTC)


def brief(**overrides: object) -> BriefView:
    values: dict[str, object] = {
        "title": "Fusillade à l'aéroport de Fort Lauderdale",
        "url": "https://www.lemonde.fr/ameriques/article/2017/01/06/floride.html",
        "summary": "Cinq personnes ont été tuées et huit autres blessées. Un suspect a été arrêté.",
        "source": "Le Monde",
        "published": WHEN,
        "also": [("NYT", "https://www.nytimes.com/2017/01/06/us/fort-lauderdale-airport.html")],
        "language": "fr",
    }
    values.update(overrides)
    return BriefView(**values)  # type: ignore[arg-type]


# --- a validator for Telegram's HTML subset ----------------------------------------------------

ALLOWED_TAGS = {"b", "i", "a"}  # what render emits; all are in Telegram's allowed list
NAMED_ENTITIES = {"lt", "gt", "amp", "quot"}


class TelegramHTMLValidator(HTMLParser):
    """Collects every reason Telegram would answer 400 "can't parse entities"."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=False)
        self.stack: list[str] = []
        self.errors: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in ALLOWED_TAGS:
            self.errors.append(f"tag <{tag}>")
        if tag == "a":
            if len(attrs) != 1 or attrs[0][0] != "href" or not attrs[0][1]:
                self.errors.append(f"a attrs {attrs}")
            elif urlsplit(attrs[0][1]).scheme not in ("http", "https"):
                self.errors.append(f"href {attrs[0][1][:40]}")
            if "a" in self.stack:
                self.errors.append("nested a")
        elif attrs:
            self.errors.append(f"attrs on <{tag}>")
        self.stack.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.errors.append(f"self-closing <{tag}/>")

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack.pop() != tag:
            self.errors.append(f"unbalanced </{tag}>")

    def handle_entityref(self, name: str) -> None:
        if name not in NAMED_ENTITIES:
            self.errors.append(f"entity &{name};")

    def handle_charref(self, name: str) -> None:
        self.errors.append(f"numeric entity &#{name};")  # allowed by Telegram, never emitted

    def handle_comment(self, data: str) -> None:
        self.errors.append("comment")

    def handle_decl(self, decl: str) -> None:
        self.errors.append("declaration")

    def handle_pi(self, data: str) -> None:
        self.errors.append("processing instruction")

    def unknown_decl(self, data: str) -> None:
        self.errors.append("unknown declaration")


def assert_valid_telegram_html(html: str, limit: int = TELEGRAM_LIMIT) -> None:
    validator = TelegramHTMLValidator()
    validator.feed(html)
    validator.close()
    assert not validator.errors, validator.errors
    assert not validator.stack, f"unclosed {validator.stack}"
    # The parser is lenient; Telegram is not: every & and < must be ours.
    assert not re.search(r"&(?!(?:lt|gt|amp|quot);)", html), "bare &"
    assert not re.search(r"<(?!/?(?:b|i|a)[ >])", html), "bare <"
    assert not re.search(r'href="[^"]*[<>]', html)
    assert 0 < telegram_length(html) <= limit


# --- escaping and links -----------------------------------------------------------------------


def test_feed_strings_are_escaped_everywhere() -> None:
    html = render_brief(
        brief(
            title='<script>alert("x")</script> & "quotes"',
            summary='1 < 2 & 3 > 2, said "Bob" <b>not bold</b>',
            source="Foo & <Bar>",
            url='https://example.com/?a=1&b="2"&c=<3>',
            also=[("A&B <i>", 'https://example.org/?q="x"&y=1')],
        )
    )
    assert '<a href="https://example.com/?a=1&amp;b=&quot;2&quot;&amp;c=&lt;3&gt;">' in html
    assert '&lt;script&gt;alert("x")&lt;/script&gt; &amp; "quotes"' in html
    assert '1 &lt; 2 &amp; 3 &gt; 2, said "Bob" &lt;b&gt;not bold&lt;/b&gt;' in html
    assert "<i>Foo &amp; &lt;Bar&gt; · " in html
    assert '<a href="https://example.org/?q=&quot;x&quot;&amp;y=1">A&amp;B &lt;i&gt;</a>' in html
    assert_valid_telegram_html(html)


@pytest.mark.parametrize(
    "url",
    [
        "javascript:alert(1)",
        "JavaScript:alert(document.cookie)",
        " javascript:alert(1)",
        "data:text/html,<script>alert(1)</script>",
        "vbscript:msgbox",
        "ftp://example.com/file",
        "http://",
        "https://exa mple.com/",
        "//example.com/no-scheme",
        "http://[::1",
        "",
    ],
)
def test_only_http_urls_become_links(url: str) -> None:
    assert safe_href(url) is None
    html = render_brief(brief(url=url, also=[("Evil", url)]))
    assert "<a " not in html and "href" not in html
    assert "<b>Fusillade à l'aéroport de Fort Lauderdale</b>" in html
    assert html.endswith("voir aussi : Evil")
    assert_valid_telegram_html(html)


def test_http_and_https_urls_are_linked() -> None:
    assert safe_href("http://example.com/a?b=1") == "http://example.com/a?b=1"
    assert safe_href(" https://EXAMPLE.com/ ") == "https://EXAMPLE.com/"


# --- layout and localisation ------------------------------------------------------------------


def test_brief_layout_with_the_chat_time_zone() -> None:
    html = render_brief(
        brief(keywords=["Fort Lauderdale", "fusillade"]), tz=ZoneInfo("Europe/Paris")
    )
    assert html.split("\n") == [
        '<b><a href="https://www.lemonde.fr/ameriques/article/2017/01/06/floride.html">'
        "Fusillade à l'aéroport de Fort Lauderdale</a></b>",
        "Cinq personnes ont été tuées et huit autres blessées. Un suspect a été arrêté.",
        "<i>Le Monde · 7 janv. 2017 14:05</i>",
        'voir aussi : <a href="https://www.nytimes.com/2017/01/06/us/fort-lauderdale-airport.html">'
        "NYT</a>",
        "#Fort_Lauderdale #fusillade",
    ]


def test_time_is_marked_utc_without_a_chat_zone() -> None:
    assert "<i>Le Monde · 7 Jan 2017 13:05 UTC</i>" in render_brief(brief(language="en"))
    naive = render_brief(brief(language="en", published=datetime(2017, 1, 7, 13, 5)))
    assert "7 Jan 2017 13:05 UTC" in naive


@pytest.mark.parametrize(
    ("language", "label"),
    [
        ("fr", "voir aussi :"),
        ("de-DE", "siehe auch:"),
        ("es", "ver también:"),
        ("ru", "также:"),
        ("en", "also:"),
        ("pt", "also:"),
        (None, "also:"),
    ],
)
def test_also_label_follows_the_brief_language(language: str | None, label: str) -> None:
    html = render_brief(brief(language=language))
    assert f"\n{label} <a href=" in html


def test_optional_parts_are_left_out() -> None:
    html = render_brief(brief(summary="", published=None, source="", also=[]))
    assert html == (
        '<b><a href="https://www.lemonde.fr/ameriques/article/2017/01/06/floride.html">'
        "Fusillade à l'aéroport de Fort Lauderdale</a></b>"
    )


def test_control_characters_are_removed_and_rtl_text_kept() -> None:
    html = render_brief(brief(title="Title\x00with\x07controls", summary="\u200fשלום עולם\u200e"))
    assert "\x00" not in html and "\x07" not in html
    assert "Title with controls" in html
    assert "\u200fשלום עולם\u200e" in html


# --- lengths ----------------------------------------------------------------------------------


def test_telegram_length_counts_utf16_units_after_entities() -> None:
    assert telegram_length("<b>a &amp; b</b>") == 5
    assert telegram_length('<a href="https://x.y/&amp;">é</a>') == 1
    assert telegram_length("👍") == 2
    assert telegram_length("&lt;&gt;&quot;") == 3


def test_long_summary_is_cut_at_a_sentence_before_markup() -> None:
    summary = "This sentence is about the storm. " * 400
    html = render_brief(brief(summary=summary.strip(), language="en"), limit=1000)
    assert_valid_telegram_html(html, limit=1000)
    shown = html.split("\n")[1]
    assert shown.endswith("the storm.")
    assert len(shown) > 500


def test_shorten_text_prefers_sentences_then_words() -> None:
    assert shorten_text("One two three. Four five six seven.", 20) == "One two three."
    assert shorten_text("alpha beta gamma delta epsilon", 17) == "alpha beta gamma…"
    assert shorten_text("👍👍👍👍", 5) == "👍👍…"
    assert shorten_text("short", 10) == "short"


def test_limits_below_the_minimum_are_refused() -> None:
    with pytest.raises(ValueError):
        render_brief(brief(), limit=10)
    with pytest.raises(ValueError):
        render_digest([brief()], limit=10)


# --- digests ----------------------------------------------------------------------------------


def blocks_of(messages: list[str], blocks: list[str]) -> None:
    """Each message is a run of whole blocks, in order, and every block is used once."""
    index = 0
    for message in messages:
        taken: list[str] = []
        while index < len(blocks) and message.startswith("\n\n".join([*taken, blocks[index]])):
            taken.append(blocks[index])
            index += 1
            if "\n\n".join(taken) == message:
                break
        assert "\n\n".join(taken) == message
    assert index == len(blocks)


def test_digest_splits_between_briefs_and_keeps_the_header_first() -> None:
    briefs = [brief(title=f"Story {i}", summary="Word " * 150) for i in range(30)]
    messages = render_digest(briefs, header="Votre digest du <7 janvier>")
    assert len(messages) > 1
    assert messages[0].startswith("<b>Votre digest du &lt;7 janvier&gt;</b>\n\n<b><a")
    blocks_of(
        messages, ["<b>Votre digest du &lt;7 janvier&gt;</b>"] + [render_brief(b) for b in briefs]
    )
    for message in messages:
        assert_valid_telegram_html(message)


def test_digest_of_nothing_is_no_message() -> None:
    assert render_digest([], header="Digest") == []


def test_send_options_for_the_delivery_layer() -> None:
    assert PARSE_MODE == "HTML"
    assert DIGEST_DISABLE_LINK_PREVIEW is True


# --- properties -------------------------------------------------------------------------------

NASTY = [
    "<",
    ">",
    "&",
    '"',
    "'",
    "&amp;",
    "&lt;b&gt;",
    "<b>",
    "</a>",
    "👍🏽",
    "👨‍👩‍👧",
    "שלום",
    "مرحبا",
    "\u200f",
    "\n",
    "\x00",
    "\ud7ff",
]
texts = st.one_of(
    st.text(max_size=300),
    st.lists(st.sampled_from(NASTY) | st.text(max_size=5), max_size=60).map("".join),
    st.text(min_size=1, max_size=30).map(lambda s: (s * 10_000)[:10_000]),
)
urls = st.one_of(
    st.sampled_from(["javascript:alert(1)", "data:text/html,<b>x</b>", "", "http://"]),
    st.builds(lambda path: f"https://example.com/{path}", st.text(max_size=80)),
    st.builds(lambda s: f"http://ex.com/?q={s}", texts),
    texts,
)
briefs = st.builds(
    BriefView,
    title=texts,
    url=urls,
    summary=texts,
    source=texts,
    published=st.one_of(st.none(), st.datetimes(timezones=st.just(UTC))),
    also=st.lists(st.tuples(texts, urls), max_size=7),
    language=st.sampled_from([None, "en", "fr", "de", "es", "ru", "zh"]),
    keywords=st.lists(texts, max_size=7),
)
PROPERTY = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROPERTY
@given(briefs)
def test_any_brief_renders_to_valid_telegram_html_within_the_limit(view: BriefView) -> None:
    assert_valid_telegram_html(render_brief(view, tz=ZoneInfo("Asia/Tokyo")))


@PROPERTY
@given(st.lists(briefs, min_size=1, max_size=6), st.sampled_from([300, 1024, TELEGRAM_LIMIT]))
def test_digest_never_exceeds_the_limit_and_loses_no_brief(
    views: list[BriefView], limit: int
) -> None:
    messages = render_digest(views, limit=limit)
    for message in messages:
        assert_valid_telegram_html(message, limit=limit)
    blocks_of(messages, [render_brief(v, limit=limit) for v in views])
