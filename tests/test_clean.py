"""Tests for bot.ingest.clean: footers, repeated paragraphs, learned boilerplate, clean_article.

html_to_text and fix_mojibake have their own files (test_html_text.py, test_mojibake.py).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.ingest.clean import (
    clean_article,
    is_footer,
    learn_boilerplate,
    normalize_paragraph,
)
from bot.ingest.html_text import html_to_text
from bot.ingest.mojibake import fix_mojibake
from tests.support.corpus import feed_entries, paragraphs

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
