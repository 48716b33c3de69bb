"""Properties of the stages that take untrusted feed text, over arbitrary input (hypothesis).

Complements the per-module property tests (test_clean, test_html_text, test_urls, test_dedup,
test_render), which generate mostly well-formed text: these feed every Unicode category
(controls, lone surrogates, non-characters) and hostile markup into parsing, cleaning, dedup
keys and rendering, and check the invariants storage and Telegram rely on. The longer run of
the same path over mutated corpus feeds is ``python -m bench.fuzz`` (docs/reliability.md).
"""

from __future__ import annotations

import re
import unicodedata
from datetime import UTC, datetime
from functools import cache
from html import escape

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.briefs.render import BriefView, render_brief, safe_href
from bot.ingest.clean import (
    MAX_TEXT_CHARS,
    clean_article,
    html_to_text,
    learn_boilerplate,
    normalize_paragraph,
)
from bot.ingest.dedup import NUM_PERM, content_hash, minhash_signature
from bot.ingest.language import LanguageDetector
from bot.ingest.parse import (
    MAX_AUTHOR_CHARS,
    MAX_GUID_CHARS,
    MAX_TITLE_CHARS,
    MAX_URL_CHARS,
    FeedParseError,
    parse_feed,
)
from bot.ingest.prepare import prepare_entries
from bot.ingest.urls import canonical_url, url_key
from tests.test_render import assert_valid_telegram_html

NOW = datetime(2025, 1, 1, tzinfo=UTC)
PROPS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Every code point, surrogates and controls included (st.text() leaves surrogates out).
ANY_CHAR = st.characters(codec=None, categories=None)
ANY_TEXT = st.text(ANY_CHAR, max_size=200)
MARKUP = st.sampled_from(
    [
        "<p>", "</p>", "<br/>", "<a href='javascript:alert(1)'>", "</a>", "<script>", "&amp;",
        "&#0;", "&#xD800;", "&#x110000;", "&#55357;&#56832;", "&nbsp;", "&lol;", "<![CDATA[",
        "]]>", "<!--", "-->", "\x00", "\x0b", "\ufeff", "\ufffe", "\u2028", "\r\n", "é", "Ã©",
    ]
)  # fmt: skip
HOSTILE = st.one_of(ANY_TEXT, st.lists(st.one_of(MARKUP, ANY_TEXT), max_size=30).map("".join))
# What cleaned text must never hold: C0 controls but newline, lone surrogates.
FORBIDDEN = re.compile("[\x00-\x09\x0b-\x1f\ud800-\udfff]")
# What no stored identifier may hold (an id keeps its inner blanks as written).
JUNK = re.compile("[\x00-\x08\x0e-\x1f\ud800-\udfff]")


@cache
def detector() -> LanguageDetector:
    return LanguageDetector()


def one_line_and_clean(text: str) -> bool:
    return not FORBIDDEN.search(text) and "\n" not in text and text == text.strip()


# --- cleaning -------------------------------------------------------------------------------


@PROPS
@given(raw=HOSTILE, title=st.one_of(st.none(), ANY_TEXT))
def test_cleaning_any_text_gives_printable_paragraphs(raw: str, title: str | None) -> None:
    result = clean_article(raw, title=title)
    assert not FORBIDDEN.search(result.text)
    assert "\n\n\n" not in result.text and len(result.text) <= MAX_TEXT_CHARS
    assert clean_article(result.text, title=title).text == result.text
    assert not FORBIDDEN.search(html_to_text(raw).replace("\n", " "))


@PROPS
@given(texts=st.lists(HOSTILE, max_size=8))
def test_learned_boilerplate_is_made_of_normalised_paragraphs(texts: list[str]) -> None:
    learned = learn_boilerplate([html_to_text(t) for t in texts], min_docs=2)
    assert all(normalize_paragraph(key) == key and key for key in learned)


def test_a_very_long_text_is_cut_at_a_paragraph_else_at_a_word() -> None:
    paragraphs = [
        f"Paragraph {n}: the council met again and voted on item {n}." for n in range(3000)
    ]
    raw = "\n\n".join(paragraphs)
    text = clean_article(raw).text
    assert MAX_TEXT_CHARS - 80 < len(text) <= MAX_TEXT_CHARS
    assert raw.startswith(text) and raw[len(text) : len(text) + 2] == "\n\n"
    one = clean_article(" ".join(paragraphs)).text  # a single paragraph: cut at a word
    assert MAX_TEXT_CHARS - 20 < len(one) <= MAX_TEXT_CHARS
    assert " ".join(paragraphs)[len(one)] == " "


# --- dedup keys -----------------------------------------------------------------------------


@PROPS
@given(url=HOSTILE)
def test_url_keys_of_any_text_are_none_or_a_bounded_scheme_free_key(url: str) -> None:
    key = url_key(url)
    canonical = canonical_url(url, "https://feed.example/dir/")
    assert key is None or ("://" not in key.split("?")[0] and not JUNK.search(key))
    assert canonical is None or (
        canonical.startswith(("http://", "https://")) and len(canonical) <= MAX_URL_CHARS
    )


HOSTS = st.from_regex(r"[a-z][a-z0-9-]{0,10}\.(com|org|fr|co\.uk)", fullmatch=True)
SEGMENTS = st.lists(st.from_regex(r"[A-Za-z0-9_.~-]{1,12}", fullmatch=True), max_size=4)
PARAMS = st.dictionaries(
    st.from_regex(r"(id|p|page|article|q)[0-9]?", fullmatch=True),
    st.from_regex(r"[a-z0-9]{1,8}", fullmatch=True),
    max_size=2,
)
TRACKING = st.dictionaries(
    st.sampled_from(["utm_source", "utm_medium", "utm_campaign", "fbclid", "gclid", "mc_cid"]),
    st.from_regex(r"[a-z0-9]{1,8}", fullmatch=True),
    max_size=3,
)


@PROPS
@given(
    host=HOSTS,
    segments=SEGMENTS,
    params=PARAMS,
    tracking=TRACKING,
    https=st.booleans(),
    www=st.booleans(),
    slash=st.booleans(),
    upper=st.booleans(),
    fragment=st.booleans(),
)
def test_url_key_ignores_scheme_www_slash_case_tracking_and_fragment(
    host: str,
    segments: list[str],
    params: dict[str, str],
    tracking: dict[str, str],
    https: bool,
    www: bool,
    slash: bool,
    upper: bool,
    fragment: bool,
) -> None:
    path = "/" + "/".join(segments)
    query = "&".join(f"{k}={v}" for k, v in params.items())
    plain = f"https://{host}{path}" + (f"?{query}" if query else "")
    noisy_query = "&".join(f"{k}={v}" for k, v in (params | tracking).items())
    netloc = ("WWW." if upper else "www.") * www + (host.upper() if upper else host)
    noisy = (
        f"{'https' if https else 'HTTP'}://{netloc}{path}{'/' if slash and segments else ''}"
        + (f"?{noisy_query}" if noisy_query else "")
        + ("#comments" if fragment else "")
    )
    assert url_key(noisy) == url_key(plain) is not None


WHITESPACE = st.text(st.sampled_from(" \t\n\r\u00a0\u2009\u3000"), min_size=1, max_size=4)


@PROPS
@given(
    words=st.lists(st.text(st.characters(categories=["L", "N"]), min_size=1), max_size=20),
    gaps=st.lists(WHITESPACE, min_size=21, max_size=21),
)
def test_content_hash_is_stable_under_any_whitespace(words: list[str], gaps: list[str]) -> None:
    spaced = " ".join(words)
    respaced = gaps[0] + "".join(w + g for w, g in zip(words, gaps[1:], strict=False))
    assert content_hash(respaced) == content_hash(spaced)


@PROPS
@given(text=HOSTILE)
def test_minhash_of_any_text_is_none_or_a_fixed_size_deterministic_signature(text: str) -> None:
    signature = minhash_signature(text)
    assert signature is None or len(signature) == NUM_PERM * 8
    assert minhash_signature(text) == signature


# --- rendering ------------------------------------------------------------------------------

SCHEMES = st.sampled_from(["javascript", "JaVaScRiPt", "data", "vbscript", "file", "jar:http"])
OBFUSCATION = st.sampled_from(["", " ", "\t", "\n", "\x00", "\u200b", "%20", "&#x09;"])


@st.composite
def dangerous_urls(draw: st.DrawFn) -> str:
    """A script or data URL, disguised the ways browsers forgive (case, blanks, controls)."""
    scheme = draw(SCHEMES)
    cut = draw(st.integers(0, len(scheme)))
    disguised = scheme[:cut] + draw(OBFUSCATION) + scheme[cut:]
    return draw(OBFUSCATION) + disguised + ":" + draw(st.sampled_from(["alert(1)", "text/html,x"]))


@PROPS
@given(url=dangerous_urls())
def test_script_and_data_urls_are_never_linkable(url: str) -> None:
    assert safe_href(url) is None
    assert canonical_url(url) is None and url_key(url) is None


@PROPS
@given(title=HOSTILE, summary=HOSTILE, url=st.one_of(dangerous_urls(), HOSTILE))
def test_any_feed_text_renders_to_valid_html_without_foreign_links(
    title: str, summary: str, url: str
) -> None:
    html = render_brief(
        BriefView(title=title, url=url, summary=summary, source="Feed", published=None)
    )
    assert_valid_telegram_html(html)
    for href in re.findall(r'href="([^"]*)"', html):
        assert href.lower().startswith(("http://", "https://"))
        assert unicodedata.category(href[0]) != "Cc"


# --- parsing, then everything the worker does with it --------------------------------------


@st.composite
def feeds(draw: st.DrawFn) -> bytes:
    """An RSS document with arbitrary text in every field, escaped or raw, in some encoding."""

    def field() -> str:
        text = draw(HOSTILE)
        return escape(text) if draw(st.booleans()) else text

    items = "".join(
        f"<item><title>{field()}</title><link>{field()}</link><guid>{field()}</guid>"
        f"<author>{field()}</author><pubDate>{field()}</pubDate>"
        f"<description>{field()}</description></item>"
        for _ in range(draw(st.integers(0, 3)))
    )
    doc = (
        f'<?xml version="1.0" encoding="utf-8"?>{draw(st.sampled_from(["", MARKUP_DTD]))}'
        f'<rss version="2.0"><channel><title>{field()}</title><link>{field()}</link>'
        f"<language>{field()}</language>{items}</channel></rss>"
    )
    encoding = draw(st.sampled_from(["utf-8", "utf-16", "latin-1", "cp1251"]))
    return doc.encode(encoding, "surrogatepass" if encoding.startswith("utf") else "replace")


MARKUP_DTD = '<!DOCTYPE rss [<!ENTITY a "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"><!ENTITY b "&a;&a;">]>'


def check_parsed_feed(body: bytes, content_type: str | None) -> None:
    try:
        parsed = parse_feed(
            body, url="https://feed.example/rss", content_type=content_type, now=NOW
        )
    except FeedParseError:
        return
    assert parsed.language is None or re.fullmatch(r"[a-z0-9-]{1,16}", parsed.language)
    assert parsed.site_url is None or len(parsed.site_url) <= MAX_URL_CHARS
    for entry in parsed.entries:
        assert one_line_and_clean(entry.title) and len(entry.title) <= MAX_TITLE_CHARS
        assert entry.guid and not JUNK.search(entry.guid) and len(entry.guid) <= MAX_GUID_CHARS
        assert entry.author is None or (
            one_line_and_clean(entry.author) and len(entry.author) <= MAX_AUTHOR_CHARS
        )
        assert entry.url is None or (
            entry.url.startswith(("http://", "https://")) and len(entry.url) <= MAX_URL_CHARS
        )
        assert entry.published is None or entry.published <= NOW
        entry.content_html.encode("utf-8")  # storable: no lone surrogate
    batch = prepare_entries(
        parsed,
        feed_language=None,
        stored_boilerplate=frozenset(),
        skip_guids=frozenset(),
        detector=detector(),
    )
    for article in batch.articles:
        for value in (article.title, article.text, article.guid, article.url or ""):
            value.encode("utf-8")
            assert "\x00" not in value


@PROPS
@given(body=feeds(), content_type=st.sampled_from([None, "text/xml", "text/html; charset=utf-8"]))
def test_any_text_in_any_field_parses_to_storable_entries(
    body: bytes, content_type: str | None
) -> None:
    check_parsed_feed(body, content_type)


@PROPS
@given(body=st.binary(max_size=2000))
def test_arbitrary_bytes_are_a_feed_or_not_a_feed_never_a_crash(body: bytes) -> None:
    check_parsed_feed(body, None)
    check_parsed_feed(
        b'<?xml version="1.0"?><rss version="2.0"><channel><item><title>' + body, None
    )
