"""Tests for bot.ingest.prepare: parsed entries to storable articles (text, language, keys)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

from bot.ingest.clean import normalize_paragraph
from bot.ingest.cluster_terms import analyse
from bot.ingest.dedup import minhash_signature
from bot.ingest.language import LanguageDetector
from bot.ingest.parse import parse_feed
from bot.ingest.prepare import (
    MIN_ENTRIES_TO_LEARN,
    MIN_HASHABLE_TEXT,
    PreparedBatch,
    identity_hash,
    prepare_entries,
    refresh_text,
)
from bot.ingest.records import ParsedFeed, RawEntry

GEEKPARK_SIGNATURE = normalize_paragraph(
    "本文由极客公园 GeekPark 原创发布，转载请添加极客君微信 geekparker。"
)


def corpus_feed(corpus_dir: Path, name: str) -> ParsedFeed:
    body = (corpus_dir / "feeds" / name).read_bytes()
    return parse_feed(body, url=f"https://example.org/{name}", content_type=None)


def prepare(
    parsed: ParsedFeed,
    detector: LanguageDetector,
    *,
    stored_boilerplate: frozenset[str] = frozenset(),
    skip_guids: frozenset[str] = frozenset(),
) -> PreparedBatch:
    return prepare_entries(
        parsed,
        feed_language=None,
        stored_boilerplate=stored_boilerplate,
        skip_guids=skip_guids,
        detector=detector,
    )


def entry(title: str, body: str, *, guid: str | None = None, url: str | None = None) -> RawEntry:
    return RawEntry(
        guid=guid,
        url=url,
        title=title,
        author=None,
        published=datetime(2024, 1, 14, 9, tzinfo=UTC),
        content_html=body,
    )


def feed_of(*entries: RawEntry) -> ParsedFeed:
    return ParsedFeed(
        title="Test feed",
        site_url="https://example.org/",
        language="en",
        ttl_minutes=None,
        entries=list(entries),
    )


# --- which entries, under which GUID ---------------------------------------------------------


def test_entries_whose_guid_the_feed_has_are_skipped(
    corpus_dir: Path, detector: LanguageDetector
) -> None:
    parsed = corpus_feed(corpus_dir, "techcrunch-en-2011.rss")
    guids = [e.guid for e in parsed.entries if e.guid]
    assert len(guids) == len(set(guids)) == 20
    known = frozenset(g for i, g in enumerate(guids) if i % 7)  # three entries are new

    batch = prepare(parsed, detector, skip_guids=known)

    assert [a.guid for a in batch.articles] == [guids[0], guids[7], guids[14]]
    # Learning still reads the whole document (three new entries alone are too few): the
    # known entries are evidence too.
    assert batch.boilerplate is not None and "crunchbase" in batch.boilerplate
    assert batch.boilerplate == prepare(parsed, detector).boilerplate


def test_an_entry_without_guid_or_link_gets_a_stable_digest_guid(
    detector: LanguageDetector,
) -> None:
    anonymous = entry("Weekly clip", "<p>Highlights of the week in one short video.</p>")
    other_body = replace(anonymous, content_html="<p>Another week, another video.</p>")
    with_id = entry("Weekly clip", "<p>Text.</p>", guid="  urn:clip:17 ", url="https://x.org/c")
    linked = entry("Weekly clip", "<p>Text.</p>", url="https://x.org/c")

    first = prepare(feed_of(anonymous, other_body, with_id, linked), detector)
    again = prepare(feed_of(anonymous), detector)

    guids = [a.guid for a in first.articles]
    assert guids[0].startswith("sha256:") and len(guids[0]) == len("sha256:") + 32
    assert guids[0] == again.articles[0].guid  # the next fetch finds it again
    assert guids[1].startswith("sha256:") and guids[1] != guids[0]
    assert guids[2:] == ["urn:clip:17", "https://x.org/c"]


# --- titles and text -------------------------------------------------------------------------


def test_titles_lose_mojibake_and_extra_whitespace(
    corpus_dir: Path, detector: LanguageDetector
) -> None:
    parsed = corpus_feed(corpus_dir, "mirror-en-2016-08.rss")
    garbled = [e.title for e in parsed.entries if "â€" in e.title]
    assert garbled, "the Mirror feed has a mis-decoded title"
    titles = [a.title for a in prepare(parsed, detector).articles]
    assert not any("â€" in t for t in titles)
    assert "'We have a special sex life’: Quadriplegic man" in " ".join(titles)

    messy = entry("  Gesetz fÃ¼r\n Kinder\t beschlossen  & verkündet ", "<p>Text.</p>")
    [article] = prepare(feed_of(messy), detector).articles
    assert article.title == "Gesetz für Kinder beschlossen & verkündet"


def test_a_plain_text_title_is_not_read_as_html_again(detector: LanguageDetector) -> None:
    # parse_feed already turned the title into plain text ("&lt;script&gt;" became "<script>").
    plain = entry("How to use the <script> tag in HTML", "<p>Text.</p>")
    [article] = prepare(feed_of(plain), detector).articles
    assert article.title == "How to use the <script> tag in HTML"


def test_a_short_text_is_identified_with_its_title(detector: LanguageDetector) -> None:
    # "Video" under two headlines is two articles; a long text is the same article whatever
    # its headline (a re-titled copy).
    long_text = "The council voted to close the bridge after engineers found cracks. " * 4
    assert len(long_text) >= MIN_HASHABLE_TEXT
    # Two documents (two publishers), too small to learn boilerplate from.
    short_a, long_a = prepare(
        feed_of(
            entry("Storm hits the coast", "<p>Watch the video.</p>", guid="1"),
            entry("Bridge closed", f"<p>{long_text}</p>", guid="2"),
        ),
        detector,
    ).articles
    short_b, long_b = prepare(
        feed_of(
            entry("Election night live", "<p>Watch the video.</p>", guid="1"),
            entry("Harbour bridge shut to cars", f"<p>{long_text}</p>", guid="2"),
        ),
        detector,
    ).articles
    assert short_a.text == short_b.text == "Watch the video."
    assert short_a.content_hash != short_b.content_hash
    assert long_a.content_hash == long_b.content_hash
    assert short_a.content_hash == identity_hash(short_a.title, short_a.text)


# --- learned boilerplate ---------------------------------------------------------------------


def test_boilerplate_is_learned_from_a_whole_real_feed(
    corpus_dir: Path, detector: LanguageDetector
) -> None:
    parsed = corpus_feed(corpus_dir, "geekpark-zh-2020-12.rss")
    assert len(parsed.entries) >= MIN_ENTRIES_TO_LEARN

    batch = prepare(parsed, detector)

    assert batch.boilerplate is not None and GEEKPARK_SIGNATURE in batch.boilerplate
    assert not any(GEEKPARK_SIGNATURE in normalize_paragraph(a.text) for a in batch.articles)
    dropped = [
        a for a in batch.articles if GEEKPARK_SIGNATURE in map(normalize_paragraph, a.removed)
    ]
    assert len(dropped) >= len(batch.articles) // 2
    assert {a.language for a in batch.articles} == {"zh"}  # undeclared: detected


def test_too_few_entries_to_learn_from_use_the_stored_boilerplate(
    corpus_dir: Path, detector: LanguageDetector
) -> None:
    parsed = corpus_feed(corpus_dir, "geekpark-zh-2020-12.rss")
    few = replace(parsed, entries=parsed.entries[: MIN_ENTRIES_TO_LEARN - 1])

    def carrying_signature(batch: PreparedBatch) -> int:
        return sum(GEEKPARK_SIGNATURE in normalize_paragraph(a.text) for a in batch.articles)

    nothing_stored = prepare(few, detector)
    assert nothing_stored.boilerplate is None  # no evidence: keep what the feed has
    assert carrying_signature(nothing_stored) >= 1

    with_stored = prepare(few, detector, stored_boilerplate=frozenset({GEEKPARK_SIGNATURE}))
    assert with_stored.boilerplate is None
    assert carrying_signature(with_stored) == 0


def test_a_signature_in_four_entries_is_learned_and_dropped(detector: LanguageDetector) -> None:
    signature = "Sent from the Riverside Gazette newsroom"
    bodies = [
        "The library reopens on Monday after a year of repairs.",
        "Two new bus lines will serve the hospital from March.",
        "The swimming pool closes for a week of maintenance.",
        "Volunteers planted three hundred trees along the river.",
    ]
    entries = [
        entry(f"Story {i}", f"<p>{body}</p><p>{signature}</p>", guid=str(i))
        for i, body in enumerate(bodies)
    ]

    four = prepare(feed_of(*entries), detector)
    three = prepare(feed_of(*entries[:3]), detector)

    assert four.boilerplate == {normalize_paragraph(signature)}
    assert [a.text for a in four.articles] == bodies
    assert three.boilerplate is None
    assert all(a.text.endswith(signature) for a in three.articles)


# --- teaser replaced by the page's text ------------------------------------------------------


def test_refresh_text_replaces_a_teaser_and_recomputes_its_keys(
    corpus_dir: Path, detector: LanguageDetector
) -> None:
    title = "Hibernating astronauts would need smaller spacecraft"
    teaser = entry(title, "<p>ESA looked at crew hibernation.</p>", guid="phys-1")
    teaser.language = None
    [item] = prepare(replace(feed_of(teaser), language=None), detector).articles
    before = (item.text, item.content_hash, item.minhash)
    gold = (corpus_dir / "articles" / "phys-org-e1c7023e.gold.txt").read_text(encoding="utf-8")
    page_text = f"{title}\n\n{gold}"  # extractors often keep the headline

    refresh_text(item, page_text, detector)

    assert item.extracted
    assert item.text.startswith("If a sci-fi spaceship does not come with hyperdrive")
    assert len(item.text) > 10 * len(before[0])
    assert item.removed == [title]
    assert item.content_hash == identity_hash(title, item.text) != before[1]
    assert item.minhash == minhash_signature(f"{title}\n{item.text}") != before[2]
    assert item.language == "en"
    assert item.event_terms == analyse(title, item.text, "en")
