"""Tests for bot.ingest.clean: HTML to text, mojibake, footers, repeats, learned boilerplate."""

from __future__ import annotations

import re._constants as sre_constants
import re._parser as sre_parse  # ftfy's regex is checked structurally (see the gate test)
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import feedparser
import ftfy
import lxml.html
import pytest
from ftfy.badness import BADNESS_RE
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree

from bot.ingest import html_text, mojibake
from bot.ingest.clean import (
    clean_article,
    fix_mojibake,
    html_to_text,
    is_footer,
    learn_boilerplate,
    normalize_paragraph,
)


def paragraphs(text: str) -> list[str]:
    return [p for p in text.split("\n\n") if p]


def feed_entries(
    corpus_dir: Path, name: str, *, allow_empty: bool = False
) -> Iterator[tuple[str, str]]:
    """(title, body HTML) of each entry of a corpus feed, parsed from bytes like parse.py does."""
    parsed = feedparser.parse((corpus_dir / "feeds" / name).read_bytes())
    assert parsed.entries or allow_empty, f"{name} has no entries"
    for entry in parsed.entries:
        body = entry.content[0].value if entry.get("content") else entry.get("summary", "")
        yield entry.get("title", ""), body


# --- the seed article ---------------------------------------------------------------------

SEED_FOOTERS = [
    "Aucun commentaire:",
    "Enregistrer un commentaire",
    "Remarque : Seul un membre de ce blog est autorisé à enregistrer un commentaire.",
]


def test_seed_article_loses_repeats_and_blogger_footer(seeds_dir: Path) -> None:
    raw = (seeds_dir / "blog-article-fr.txt").read_text(encoding="utf-8")
    lines = [line.strip() for line in raw.splitlines() if line.strip()]
    originals = lines[:4]

    result = clean_article(raw)
    out = paragraphs(result.text)

    assert out == originals
    assert len({normalize_paragraph(p) for p in out}) == len(out)
    for footer in SEED_FOOTERS:
        assert footer not in result.text
        assert footer in result.removed
    # The three repeated paragraphs are removed too, each once, in document order.
    assert result.removed == lines[4:]


@pytest.mark.parametrize(
    "name",
    [
        "anime2you-de.rss",
        "spiegel-de-2017-01-mojibake.rss",
        "geekpark-zh-2020-12.rss",
        "cornucopia-blogger-en.atom",
        "techcrunch-en-2011.rss",
        "reuters-topnews-en-2017-01.rss",
    ],
)
def test_cleaning_converted_text_equals_cleaning_the_html(corpus_dir: Path, name: str) -> None:
    entries = list(feed_entries(corpus_dir, name))
    texts = [html_to_text(body) for _title, body in entries]
    learned = learn_boilerplate(texts)
    for (title, body), text in zip(entries, texts, strict=True):
        from_html = clean_article(body, boilerplate=learned, title=title)
        assert clean_article(text, boilerplate=learned, title=title, is_text=True) == from_html


# --- html_to_text -----------------------------------------------------------------------


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


# --- fix_mojibake -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("broken", "fixed"),
    [
        ("It doesnâ€™t matter", "It doesn’t matter"),
        ("Gesetz fÃ¼r Kinder", "Gesetz für Kinder"),
        ("Ð¯Ð½Ð´ÐµÐºÑ\x81", "Яндекс"),
        ("Ã‰lysÃ©e", "Élysée"),
    ],
)
def test_double_encoded_utf8_is_repaired(broken: str, fixed: str) -> None:
    assert fix_mojibake(broken) == fixed


@pytest.mark.parametrize(
    "clean",
    [
        "L’été à Noël — « Élysée » œuvre",
        "Größe, Straße, Übermaß: „Anführungszeichen“",
        "Яндекс — «новости» ёлка",
        "中文，全角（括号）「日本語」ＡＢＣ",
        'Straight "quotes" and ligature ﬁ stay',
    ],
)
def test_clean_text_is_left_exactly_as_is(clean: str) -> None:
    assert fix_mojibake(clean) == clean


@pytest.mark.parametrize(
    "name",
    [
        "lemonde-une-fr-2017-01-mojibake.rss",
        "spiegel-de-2017-01-mojibake.rss",
        "yandex-news-moscow-ru-2017-01-mojibake.rss",
        "mirror-en-2016-08.rss",
        "lefigaro-fr-2017-01-mojibake.rss",
        "20minutos-es-2017-01-mojibake.rdf",
    ],
)
def test_mojibake_feeds_come_out_readable(corpus_dir: Path, name: str) -> None:
    # The Mirror is garbled only in a title; the pipeline runs titles through fix_mojibake.
    marks = ("Ã", "â€", "Ð")
    broken_before = 0
    for title, body in feed_entries(corpus_dir, name):
        broken_before += any(m in html_to_text(body) or m in title for m in marks)
        for text in (clean_article(body, title=title).text, fix_mojibake(title)):
            assert not any(m in text for m in marks), text[:200]
    assert broken_before, f"{name} should contain mojibake before cleaning"


@pytest.mark.parametrize(
    "name",
    [
        "lemonde-une-fr-2018-02.rss",
        "golem-de-2017-12.rss",
        "golem-de-2018-12.rss",
        "ibash-ru-windows1251.rss",
        "touchnokia-ru-movabletype.atom",
        "lanacion-es-ar-2022-04.rss",
        "geekpark-zh-2020-12.rss",
    ],
)
def test_clean_feeds_are_unchanged_by_fix_mojibake(corpus_dir: Path, name: str) -> None:
    for title, body in feed_entries(corpus_dir, name):
        text = html_to_text(body)
        assert fix_mojibake(text) == text
        assert fix_mojibake(title) == title


def _charset(item: tuple[Any, Any]) -> set[int] | None:
    """The code points one parsed regex item matches, or None when not a plain set."""
    op, arg = item
    if op is sre_constants.LITERAL:
        return {arg}
    if op is sre_constants.IN:
        chars: set[int] = set()
        for kind, value in arg:
            if kind is sre_constants.LITERAL:
                chars.add(value)
            elif kind is sre_constants.RANGE:
                chars.update(range(value[0], value[1] + 1))
            else:  # a negated set or a category: treat as "anything"
                return None
        return chars
    return None


def _always_needs(sequence: Any, triggers: set[int]) -> bool:
    """Whether every match of this parsed sequence contains a trigger character."""
    for item in sequence:
        op, arg = item
        chars = _charset(item)
        if chars is not None and chars <= triggers:
            return True
        if op is sre_constants.BRANCH and all(_always_needs(alt, triggers) for alt in arg[1]):
            return True
        if op is sre_constants.SUBPATTERN and _always_needs(arg[-1], triggers):
            return True
    return False


def test_mojibake_gate_rests_on_the_installed_ftfy_regex() -> None:
    # fix_mojibake skips ftfy unless a trigger character has a badness match around it. That
    # is exact only if every branch of ftfy's badness regex needs a trigger and no match is
    # longer than the window: check both on the regex itself (fails on an ftfy change).
    (triggers,) = (_charset(item) for item in sre_parse.parse(mojibake._MOJIBAKE_TRIGGERS.pattern))
    assert triggers is not None
    parsed = sre_parse.parse(BADNESS_RE.pattern, BADNESS_RE.flags)
    assert _always_needs(parsed, triggers)
    assert parsed.getwidth()[1] <= mojibake._MOJIBAKE_REACH


def _mojibake_samples(corpus_dir: Path) -> Iterator[str]:
    """Titles and body texts of every corpus feed, plus the clean ones garbled four ways."""
    for path in sorted((corpus_dir / "feeds").iterdir()):
        for i, (title, body) in enumerate(feed_entries(corpus_dir, path.name, allow_empty=True)):
            text = html_to_text(body)
            yield title
            yield text
            if i < 3:
                for encoding in ("latin-1", "cp1252", "mac_roman", "cp1251"):
                    yield text.encode("utf-8").decode(encoding, errors="replace")


def test_fix_mojibake_gives_ftfys_answer_on_every_corpus_text(corpus_dir: Path) -> None:
    changed = 0
    for text in _mojibake_samples(corpus_dir):
        expected = ftfy.fix_text(text, mojibake._FTFY_CONFIG)
        assert fix_mojibake(text) == expected, text[:200]
        changed += expected != text
    assert changed > 200  # the garbled ones really were repaired, through ftfy


_MOJIBAKE_ALPHABET = st.sampled_from(
    sorted({ch for ch in BADNESS_RE.pattern if ord(ch) > 127})
    + list("aAzé \n\t.,!?\x85\x9c\u00a0")
    + ["Ã", "Â", "â€", "Ð¯", "вЂ", "‚Ä", "β€", "ā€", "ГўВЂВ"]
)


@settings(max_examples=400, deadline=None)
@given(st.lists(_MOJIBAKE_ALPHABET, max_size=14).map("".join))
def test_fix_mojibake_gives_ftfys_answer_on_mojibake_like_text(text: str) -> None:
    assert fix_mojibake(text) == ftfy.fix_text(text, mojibake._FTFY_CONFIG)


# --- footers ----------------------------------------------------------------------------

FOOTERS = {
    "en": [
        "No comments:",
        "Post a Comment",
        "Note: Only a member of this blog may post a comment.",
        "The post Ten things to know appeared first on Example Blog.",
        "Read more",
        "Read more »",
        "[…] Read more",
        "Read more: Markets slide as trade doubts creep back",
        "Continue reading...",
        "Continue reading Why feeds still matter →",
        "Share this:",
        "Like this story? Share it with a friend!",
        "Follow Newsbeat on Instagram, Facebook, Twitter and YouTube.",
        "Related: Possible Water Plumes on Europa: The Discovery in Images",
        "Also on rt.com Journalists threatened with sedition arrests",
        "To read this article in full, please click here",
        "Learn more",
        "Advertisement",
        "[…]",
        "* * *",
    ],
    "fr": [
        "Aucun commentaire:",
        "Enregistrer un commentaire",
        "Remarque : Seul un membre de ce blog est autorisé à enregistrer un commentaire.",
        "L’article Le budget adopté est apparu en premier sur Le Blog.",
        "Lire la suite",
        "Lire la suite →",
        "Partager",
        "Publicité",
    ],
    "de": [
        "Keine Kommentare:",
        "Kommentar veröffentlichen",
        "Der Beitrag Neue Figur vorgestellt erschien zuerst auf Anime2You.",
        "Weiterlesen",
        "Weiterlesen …",
        "Teilen",
        "Anzeige",
    ],
    "es": [
        "No hay comentarios:",
        "Publicar un comentario",
        "La entrada El Gobierno aprueba el plan se publicó primero en El Diario.",
        "Leer más",
        "Seguir leyendo",
        "Compartir",
        "Publicidad",
    ],
    "ru": [
        "Комментариев нет:",
        "Отправить комментарий",
        "Запись Новый закон впервые появилась на Блог.",
        "Читать далее",
        "Подробнее",
        "Поделиться",
        "Реклама",
    ],
}


@pytest.mark.parametrize(
    ("lang", "footer"), [(lang, f) for lang, items in FOOTERS.items() for f in items]
)
def test_footer_lines_are_dropped_in_each_language(lang: str, footer: str) -> None:
    body = f"<p>A real sentence about the budget vote in {lang}.</p><p>{footer}</p>"
    result = clean_article(body)
    assert result.text == f"A real sentence about the budget vote in {lang}."
    assert result.removed == [footer]


@pytest.mark.parametrize(
    "sentence",
    [
        "Read more books, the minister told pupils on Monday.",
        "Share prices fell sharply in Tokyo.",
        "The post office will close on Sunday, the council said.",
        "Lire la suite du rapport prendra du temps, selon le ministre.",
        "Advertisement revenue rose 4% in the quarter.",
        "(Source: Reuters)",
        "Also on Monday, the ministry said prices would rise.",
        "Follow the money, investigators said on Twitter.",
        "Teilen sich die Parteien die Macht, ändert sich wenig.",
        "Подробнее о реформе министр расскажет в понедельник.",
        "The post " + "very long " * 40 + "appeared first on the front page of every paper.",
    ],
)
def test_real_sentences_that_start_like_footers_are_kept(sentence: str) -> None:
    assert not is_footer(sentence)
    assert clean_article(sentence).text == sentence


def test_wordpress_footers_in_a_real_feed_are_removed(corpus_dir: Path) -> None:
    dropped = 0
    for title, body in feed_entries(corpus_dir, "anime2you-de.rss"):
        result = clean_article(body, title=title)
        assert "erschien zuerst auf" not in result.text
        assert result.text, "the article itself must survive"
        dropped += sum("erschien zuerst auf" in r for r in result.removed)
    assert dropped >= 20


# --- repeats, title, learned boilerplate ------------------------------------------------


def test_repeated_paragraph_is_dropped_once_keeping_the_first() -> None:
    body = "<p>Alpha beta.</p><p>Gamma.</p><p>ALPHA   beta.</p><p>alpha&nbsp;beta.</p>"
    result = clean_article(body)
    assert paragraphs(result.text) == ["Alpha beta.", "Gamma."]
    assert result.removed == ["ALPHA beta.", "alpha beta."]


def test_leading_title_repeat_is_dropped_but_not_later_text() -> None:
    body = "<h1>Markets slide in Asia</h1><p>Shares fell.</p><p>Markets slide in Asia, again</p>"
    result = clean_article(body, title="Markets Slide in Asia")
    assert paragraphs(result.text) == ["Shares fell.", "Markets slide in Asia, again"]
    assert result.removed == ["Markets slide in Asia"]


def test_title_with_a_site_suffix_still_matches_the_leading_paragraph() -> None:
    body = "Taylor Swift may play her hits after all\nThe row is over."
    result = clean_article(body, title="Taylor Swift may play her hits after all - BBC News")
    assert result.text == "The row is over."
    # A short part of the title (the site name) is not a headline.
    assert clean_article("BBC News\nThe row is over.", title="Swift row - BBC News").removed == []


def test_title_after_a_footer_still_counts_as_leading() -> None:
    result = clean_article("Advertisement\nBig news\nBody text.", title="Big news")
    assert result.text == "Body text."
    assert result.removed == ["Advertisement", "Big news"]


def test_learned_boilerplate_is_dropped_when_given() -> None:
    body = "<p>Story text.</p><p>Follow   our newsletter for more!</p>"
    learned = frozenset({normalize_paragraph("Follow our newsletter for more!")})
    result = clean_article(body, boilerplate=learned)
    assert result.text == "Story text."
    assert result.removed == ["Follow our newsletter for more!"]


def test_normalize_paragraph_folds_case_width_and_spaces() -> None:
    assert normalize_paragraph("  Ｈello\u00a0 WORLD\n") == "hello world"
    assert normalize_paragraph("Straße") == normalize_paragraph("STRASSE")


def test_learn_boilerplate_finds_a_real_feed_signature(corpus_dir: Path) -> None:
    texts = [html_to_text(body) for _t, body in feed_entries(corpus_dir, "geekpark-zh-2020-12.rss")]
    learned = learn_boilerplate(texts)
    signature = normalize_paragraph(
        "本文由极客公园 GeekPark 原创发布，转载请添加极客君微信 geekparker。"
    )
    assert signature in learned
    assert all(len(p) <= 300 for p in learned)
    # Articles still have content once the signature is gone.
    cleaned = [clean_article(t, boilerplate=learned).text for t in texts]
    assert all(signature not in normalize_paragraph(c) for c in cleaned)
    assert sum(bool(c) for c in cleaned) >= len(texts) - 2


def test_learn_boilerplate_on_a_feedburner_wordpress_feed(corpus_dir: Path) -> None:
    texts = [html_to_text(body) for _t, body in feed_entries(corpus_dir, "techcrunch-en-2011.rss")]
    learned = learn_boilerplate(texts)
    assert "crunchbase" in learned
    # Article prose never repeats verbatim across posts.
    assert all(len(p.split()) < 10 for p in learned)


def test_learn_boilerplate_needs_enough_distinct_documents() -> None:
    signature = "Sent from the newsroom"
    texts = [f"Story {i} body.\n\n{signature}" for i in range(3)]
    assert learn_boilerplate(texts) == frozenset()
    assert learn_boilerplate(texts, min_docs=3) == {normalize_paragraph(signature)}
    # The same document repeated four times is one document, not four.
    assert learn_boilerplate(["Same story.\n\nSame story tail."] * 4) == frozenset()


def test_learn_boilerplate_counts_documents_made_only_of_long_paragraphs() -> None:
    texts = [
        f"Story {i} " + "with many words " * 30 + "\n\nSubscribe to the bulletin" for i in range(5)
    ]
    assert learn_boilerplate(texts) == {"subscribe to the bulletin"}


def test_learn_boilerplate_respects_min_share_and_ignores_long_paragraphs() -> None:
    long_line = "word " * 80
    texts = [f"Story {i}.\n\n{long_line}" for i in range(6)]
    texts[0] += "\n\nRare line"
    texts[1] += "\n\nRare line"
    texts[2] += "\n\nCommon line"
    texts[3] += "\n\nCommon line"
    texts[4] += "\n\nCommon line"
    learned = learn_boilerplate(texts, min_share=0.4)
    assert learned == {"common line"}


# --- properties -------------------------------------------------------------------------

_FRAGMENTS = st.sampled_from(
    [
        "<p>",
        "</p>",
        "<br>",
        "<div>",
        "</div>",
        "<li>",
        "<script>x=1</script>",
        "&amp;",
        "&lt;p&gt;",
        "&nbsp;",
        "&#8217;",
        "\n",
        "\n\n",
        "Read more",
        "Aucun commentaire:",
        "Partager",
        "Same paragraph.",
        "fÃ¼r",
        "â€™",
        "Ð¯Ð½",
        "<!--",
        "-->",
        "<",
        ">",
        "[…]",
    ]
)
_RAW = st.one_of(
    st.text(max_size=300),
    st.lists(st.one_of(_FRAGMENTS, st.text(max_size=20)), max_size=40).map("".join),
)
_PROPS = settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@_PROPS
@given(raw=_RAW, title=st.one_of(st.none(), st.text(max_size=30)))
def test_clean_article_never_raises_and_never_repeats(raw: str, title: str | None) -> None:
    result = clean_article(raw, title=title)
    out = paragraphs(result.text)
    assert result.text == result.text.strip()
    assert len({normalize_paragraph(p) for p in out}) == len(out)
    assert all(p.strip() == p and "\n" not in p for p in out)


@_PROPS
@given(raw=_RAW)
def test_clean_article_output_comes_from_the_input(raw: str) -> None:
    # Cleaning only drops paragraphs: the output is a subsequence of the decoded input.
    # (fix_mojibake may turn "Â " into a no-break space, which cleaning then collapses.)
    decoded = fix_mojibake(html_to_text(raw))
    source = [" ".join(line.split()) for line in decoded.splitlines() if line.strip()]
    it = iter(source)
    for p in paragraphs(clean_article(raw).text):
        assert any(p == s for s in it), p
    removed = clean_article(raw).removed
    assert len(removed) + len(paragraphs(clean_article(raw).text)) == len(source)


@_PROPS
@given(words=st.lists(st.from_regex(r"[A-Za-z]{1,8}( [A-Za-z]{1,8}){0,5}", fullmatch=True)))
def test_plain_text_paragraphs_survive_verbatim(words: list[str]) -> None:
    raw = "\n".join(words)
    for p in paragraphs(clean_article(raw).text):
        assert p in raw


@_PROPS
@given(raw=_RAW, title=st.one_of(st.none(), st.text(max_size=30)))
def test_clean_article_is_idempotent(raw: str, title: str | None) -> None:
    once = clean_article(raw, title=title).text
    again = clean_article(once, title=title)
    assert again.text == once
    assert again.removed == []


@_PROPS
@given(text=st.text(max_size=200))
def test_normalize_paragraph_is_stable(text: str) -> None:
    key = normalize_paragraph(text)
    assert normalize_paragraph(key) == key
