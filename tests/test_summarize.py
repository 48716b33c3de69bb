"""Tests for bot.briefs.summarize and bot.briefs.tokenize: offline lead-biased extractive briefs."""

from __future__ import annotations

import json
from pathlib import Path

import feedparser
import pytest

from bot.briefs.summarize import ExtractiveSummarizer, Summarizer, is_junk_sentence
from bot.briefs.tokenize import (
    Tokenizer,
    cut_at_word,
    dangling_openers,
    normalize_language,
    stemmer,
    stop_words,
    words,
)

SUMMARIZER = ExtractiveSummarizer()


def clean(raw: str) -> str:
    """The project's cleaner when present, else the brief's stand-in: drop exact repeated
    lines and the three footer lines of the seed."""
    try:
        from bot.ingest.clean import clean_article
    except ImportError:  # pragma: no cover - clean.py is written in parallel
        seen: set[str] = set()
        kept = []
        for line in raw.splitlines()[:-3]:
            if line.strip() and line not in seen:
                seen.add(line)
                kept.append(line)
        return "\n\n".join(kept)
    return clean_article(raw).text


def records(corpus_dir: Path, name: str) -> list[dict[str, str]]:
    lines = (corpus_dir / "summaries" / name).read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def feed_texts(corpus_dir: Path, name: str, *, min_chars: int = 600) -> list[tuple[str, str]]:
    """(title, cleaned text) of the corpus feed's entries with a real body."""
    from bot.ingest.clean import clean_article

    parsed = feedparser.parse((corpus_dir / "feeds" / name).read_bytes())
    out = []
    for entry in parsed.entries:
        body = entry.content[0].value if entry.get("content") else entry.get("summary", "")
        title = entry.get("title", "")
        text = clean_article(body, title=title).text
        if len(text) >= min_chars:
            out.append((title, text))
    assert out, f"{name}: no entry with a body"
    return out


def sentences_of(summary: str, text: str, language: str) -> list[str]:
    """Read ``summary`` back as a sequence of the article's own sentences (fails otherwise)."""
    sentences = Tokenizer(language).to_sentences(text)
    chosen: list[str] = []
    rest = summary
    while rest:
        # A space separates sentences, except after a CJK full stop.
        fits = [
            s
            for s in sentences
            if rest == s or rest.startswith((s + " ", s) if s[-1] in "。！？」" else s + " ")
        ]
        assert fits, f"not an article sentence: {rest[:80]!r}"
        chosen.append(max(fits, key=len))
        rest = rest[len(chosen[-1]) :].removeprefix(" ")
    return chosen


# --- the seed ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def seed_text(seeds_dir: Path) -> str:
    return clean((seeds_dir / "blog-article-fr.txt").read_text(encoding="utf-8"))


def test_seed_summary_states_the_withdrawal_first(seed_text: str) -> None:
    summary = SUMMARIZER.summarize(seed_text, language="fr")
    assert summary.startswith(
        "Le secrétaire de presse du président russe Dmitri Peskov a confirmé le début du "
        "retrait des forces russes de maintien de la paix du Haut-Karabagh."
    )
    assert len(summary) <= 600


def test_seed_summary_has_no_footer_and_no_repeated_sentence(seeds_dir: Path) -> None:
    raw = (seeds_dir / "blog-article-fr.txt").read_text(encoding="utf-8")
    summary = SUMMARIZER.summarize(clean(raw), language="fr")
    for footer in ("commentaire", "Remarque", "membre de ce blog"):
        assert footer not in summary
    sentences = Tokenizer("fr").to_sentences(summary)
    assert len(sentences) == len(set(sentences)) >= 2


def test_repeated_paragraphs_never_give_a_repeated_sentence(seed_text: str) -> None:
    doubled = "\n\n".join(p for p in seed_text.split("\n\n") for _ in range(2))
    summary = SUMMARIZER.summarize(doubled, language="fr", max_chars=2000)
    sentences = Tokenizer("fr").to_sentences(summary)
    assert len(sentences) == len(set(sentences))


# --- invariants on real articles --------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "language"),
    [("cnndm-en-frank-20.jsonl", "en"), ("orangesum-fr-25.jsonl", "fr")],
)
@pytest.mark.parametrize("max_chars", [600, 250])
def test_summaries_are_verbatim_whole_sentences_in_order_within_budget(
    corpus_dir: Path, name: str, language: str, max_chars: int
) -> None:
    for record in records(corpus_dir, name):
        text = record["article"]
        summary = SUMMARIZER.summarize(
            text, language=language, title=record.get("title"), max_chars=max_chars
        )
        assert 0 < len(summary) <= max_chars
        sentences = Tokenizer(language).to_sentences(text)
        if summary.endswith("…") and any(s.startswith(summary[:-1]) for s in sentences):
            assert summary[:-1] not in sentences
            continue  # the documented cut of a single sentence longer than the budget
        chosen = sentences_of(summary, text, language)
        positions = [text.index(s) for s in chosen]
        assert positions == sorted(positions), "sentences keep their article order"


def test_dates_numbers_and_names_survive(corpus_dir: Path) -> None:
    record = next(
        r for r in records(corpus_dir, "orangesum-fr-25.jsonl") if "Gaubert" in r["article"]
    )
    summary = SUMMARIZER.summarize(record["article"], language="fr", title=record["title"])
    for fact in ("Thierry Gaubert", "Nicolas Sarkozy", "vendredi 31 janvier", "2007"):
        assert fact in summary


@pytest.mark.parametrize(
    ("feed", "language"),
    [
        ("lanacion-es-ar-2022-04.rss", "es"),
        ("golem-de-2018-10.rss", "de"),
        ("lemonde-une-fr-2018-02.rss", "fr"),
    ],
)
def test_other_languages_get_lead_first_summaries(
    corpus_dir: Path, feed: str, language: str
) -> None:
    for title, text in feed_texts(corpus_dir, feed, min_chars=200)[:8]:
        summary = SUMMARIZER.summarize(text, language=language, title=title)
        assert 0 < len(summary) <= 600, title
        chosen = sentences_of(summary, text, language)
        assert chosen[0] in Tokenizer(language).to_sentences(text)[:3], "lead first"


def test_russian_article_gets_a_lead_first_summary(corpus_dir: Path) -> None:
    text = (corpus_dir / "articles" / "wday-ru-c82b3d1d.gold.txt").read_text(encoding="utf-8")
    summary = SUMMARIZER.summarize(text, language="ru")
    assert summary.startswith("В восьмидесятых годах чешская красавица заявила о себе на весь мир.")
    assert 2 <= len(sentences_of(summary, text, "ru")) <= 3 and len(summary) <= 600


def test_chinese_text_without_spaces_is_summarised(corpus_dir: Path) -> None:
    for title, text in feed_texts(corpus_dir, "geekpark-zh-2020-12.rss")[:5]:
        summary = SUMMARIZER.summarize(text, language="zh", title=title)
        assert 0 < len(summary) <= 600
        chosen = sentences_of(summary, text, "zh")
        assert len(chosen) >= 2 and "。 " not in summary


@pytest.mark.parametrize(
    ("name", "language"),
    [("cnndm-en-frank-20.jsonl", "en"), ("orangesum-fr-25.jsonl", "fr")],
)
# Briefs filled to the budget reach deeper into the article, where "He …" abounds.
@pytest.mark.parametrize(
    "summarizer", [SUMMARIZER, ExtractiveSummarizer(target_share=1.0, max_sentences=None)]
)
def test_no_brief_sentence_opens_with_a_pronoun_whose_antecedent_is_missing(
    corpus_dir: Path, name: str, language: str, summarizer: ExtractiveSummarizer
) -> None:
    checked = 0
    for record in records(corpus_dir, name):
        text, title = record["article"], record.get("title")
        ranked = summarizer.rank(text, language=language, title=title)
        summary = summarizer.summarize(text, language=language, title=title)
        chosen = {r.position for r in ranked if r.text in summary}
        for r in ranked:
            # A sentence opening on a quotation mark names its speaker inside: not checked.
            first = words(r.text[:40]) if r.text[:1].isalpha() else ()
            opener = bool(first) and first[0].casefold() in dangling_openers(language)
            if r.position in chosen and r.position > 0 and opener:
                checked += 1
                assert r.position - 1 in chosen, r.text
    assert checked, "some brief takes a pronoun-led sentence right after its antecedent"


def test_pronoun_led_sentence_is_taken_only_after_its_antecedent() -> None:
    text = (
        "The city council approved a new budget for public libraries on Monday. "
        "Local weather was mild throughout the week across the whole region. "
        "He said the library budget would double spending on public libraries next year."
    )
    title = "Council doubles library budget"
    # Room for two sentences: "He said …" ranks second but cannot follow the lede directly.
    assert SUMMARIZER.summarize(text, language="en", title=title, max_chars=170) == (
        "The city council approved a new budget for public libraries on Monday. "
        "Local weather was mild throughout the week across the whole region."
    )
    # Room for all three: the pronoun follows its antecedent, so it may be taken.
    assert SUMMARIZER.summarize(text, language="en", title=title).endswith("next year.")


def test_reported_fact_is_preferred_to_a_direct_quote_of_similar_rank() -> None:
    text = (
        "Le gouvernement a présenté mardi un plan de 2 milliards d'euros pour les hôpitaux "
        "publics. « Ce plan va sauver nos hôpitaux publics », a réagi un syndicat d'infirmiers "
        "à Lyon. Le plan financera 5 000 postes d'infirmiers dans les hôpitaux publics d'ici 2025."
    )
    summary = SUMMARIZER.summarize(text, language="fr", max_chars=200)
    assert summary.endswith("5 000 postes d'infirmiers dans les hôpitaux publics d'ici 2025.")
    assert "«" not in summary
    quotes_allowed = ExtractiveSummarizer(quote_penalty=0.0)
    assert "«" in quotes_allowed.summarize(text, language="fr", max_chars=200)


def test_a_long_lede_still_gets_a_supporting_sentence() -> None:
    lede = (
        "The storm "
        + "moved slowly along the coast and flooded several towns, " * 6
        + "officials said on Sunday."
    )
    assert len(lede) > 300  # past the soft length on its own
    text = lede + " Power was cut to 20,000 homes in the county. Schools stay closed on Monday."
    summary = SUMMARIZER.summarize(text, language="en")
    assert summary == lede + " Power was cut to 20,000 homes in the county."


def test_briefs_stop_at_three_sentences_or_at_half_the_budget() -> None:
    """Not filled to 600 characters: ROUGE against human abstracts falls as briefs grow."""
    short = (
        "The council met on Monday to vote on the budget. Teachers asked for new classrooms. "
        "Parents wanted safer crossings near schools. The mayor promised a decision in May. "
        "Bus drivers threatened a strike over pay."
    )
    assert len(Tokenizer("en").to_sentences(SUMMARIZER.summarize(short, language="en"))) == 3
    long = (
        "The regional council voted on Monday to borrow 40 million euros over ten years so "
        "that every secondary school in the district can be insulated before the winter. "
        "Teachers' unions said the plan came late, but welcomed the promise that classes would "
        "not move to temporary buildings during the works, which start in March. "
        "Parents asked for safer crossings near schools. The mayor promised a decision in May."
    )
    summary = SUMMARIZER.summarize(long, language="en")
    assert len(Tokenizer("en").to_sentences(summary)) == 2 and 300 <= len(summary) < 600


# --- junk and edge cases ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "junk",
    [
        "Photo: AFP/John Smith",
        "Crédit photo : Reuters",
        "By Jane Doe, CNN",
        "By JANE DOE and John Roe | Reuters",
        "Par Jean-Pierre Dupont, Le Monde.",
        "https://example.com/article/123",
        "Read more: the full story on our site",
        "Lire aussi : Karabakh, le retrait commence",
        "window.pvp_7cce = new Pvp('dmpublic', {idDM: \"x3oe2gx\"});",
        "*** --- ***",
    ],
)
def test_junk_sentences_are_recognised(junk: str) -> None:
    assert is_junk_sentence(junk)


def test_ordinary_sentences_are_not_junk() -> None:
    for sentence in (
        "Par ailleurs, le gouvernement a annoncé un plan de 2 milliards d'euros.",
        "By the end of the day, five people had died.",
        "By Monday, prices had doubled.",
        "Par ailleurs, Paris a protesté.",
        "Photographers gathered outside the court on Monday.",
    ):
        assert not is_junk_sentence(sentence)


def test_junk_is_never_chosen_even_in_the_lead() -> None:
    text = (
        "Photo: AFP\n\nBy John Smith\n\n"
        "The central bank raised its key rate to 4.5% on Thursday, the first rise since 2019. "
        "Markets had expected the move after inflation reached 6% in March.\n\n"
        "Read more: rates explained"
    )
    summary = SUMMARIZER.summarize(text, language="en")
    assert summary.startswith("The central bank raised its key rate to 4.5% on Thursday")
    assert "Photo" not in summary and "John Smith" not in summary and "Read more" not in summary


def test_an_overlong_first_sentence_is_cut_at_a_word_with_an_ellipsis() -> None:
    sentence = "The committee " + "carefully reviewed every single proposal " * 30 + "today."
    summary = SUMMARIZER.summarize(sentence, language="en", max_chars=200)
    assert len(summary) <= 200
    assert summary.endswith("…")
    head = summary[:-1]
    assert sentence.startswith(head)
    assert sentence[len(head)] == " ", "cut between words"


def test_a_shorter_later_sentence_is_used_when_the_lede_does_not_fit() -> None:
    text = (
        "Officials said " + "that the storm was moving north " * 10 + "on Sunday. "
        "The storm closed three airports in Florida on Sunday."
    )
    summary = SUMMARIZER.summarize(text, language="en", max_chars=120)
    assert summary == "The storm closed three airports in Florida on Sunday."


def test_empty_or_junk_only_text_gives_an_empty_summary() -> None:
    assert SUMMARIZER.summarize("", language="en") == ""
    assert SUMMARIZER.summarize("Photo: AFP\n\nhttps://example.com", language="en") == ""


def test_headline_repeated_as_first_line_is_not_repeated_in_the_summary() -> None:
    title = "Russian peacekeepers begin leaving Karabakh"
    text = (
        f"{title}.\n\nThe Kremlin confirmed on Wednesday that Russian peacekeepers have begun "
        "leaving Nagorno-Karabakh. A column of vehicles was seen crossing the Lachin corridor."
    )
    summary = SUMMARIZER.summarize(text, language="en", title=title)
    assert summary.startswith("The Kremlin confirmed on Wednesday")


def test_max_chars_must_be_positive() -> None:
    with pytest.raises(ValueError):
        SUMMARIZER.summarize("Some text here that is long enough.", language="en", max_chars=0)


def test_cut_at_word_keeps_words_whole() -> None:
    assert cut_at_word("alpha beta gamma delta", 12) == "alpha beta…"
    assert cut_at_word("short", 12) == "short"
    assert cut_at_word("北京天气很好今天我们去公园", 6) == "北京天气很…"


def test_extractive_summarizer_satisfies_the_protocol() -> None:
    summarizer: Summarizer = ExtractiveSummarizer()
    assert isinstance(summarizer, Summarizer)


def test_no_nltk_data_is_needed(monkeypatch: pytest.MonkeyPatch, seed_text: str) -> None:
    import nltk.data

    def refuse(*_args: object, **_kwargs: object) -> None:
        raise LookupError("NLTK data is not available here")

    monkeypatch.setattr(nltk.data, "find", refuse)
    monkeypatch.setattr(nltk.data, "load", refuse)
    assert SUMMARIZER.summarize(seed_text, language="fr")
    assert ExtractiveSummarizer(algorithm="lexrank").summarize(seed_text, language="fr")


@pytest.mark.parametrize(
    "text",
    [
        "ABC DEF. GHI JKL. " * 6000,
        "Dr. Smith met Mr. Jones at St. Paul on Jan. 5. " * 2000,
        '"He said. ' + "It is here. " * 8000,
        "word " * 20000,
    ],
)
@pytest.mark.timeout(30)  # a hang guard (pysbd once took minutes here), not a speed target
def test_pathological_100kb_paragraphs_are_summarised_without_hanging(text: str) -> None:
    summary = SUMMARIZER.summarize(text, language="en")
    assert len(summary) <= 600


# --- tokenizer --------------------------------------------------------------------------------


def test_tokenizer_keeps_abbreviations_and_quoted_speech_together() -> None:
    tokenizer = Tokenizer("en")
    text = (
        'Blues legend B.B. King was hospitalized. "We know where to look. We know how to '
        'look," she said. Dr. Smith agreed with the U.S. Army on Tuesday.'
    )
    assert tokenizer.to_sentences(text) == (
        "Blues legend B.B. King was hospitalized.",
        '"We know where to look. We know how to look," she said.',
        "Dr. Smith agreed with the U.S. Army on Tuesday.",
    )


def test_tokenizer_splits_glued_sentences_from_scraped_pages() -> None:
    text = "Tout a été dit au Figaro.Jusqu'à cet été, rien. HOLLANDE, OUBLIÉ ?Jacques Chirac rit."
    assert Tokenizer("fr").to_sentences(text) == (
        "Tout a été dit au Figaro.",
        "Jusqu'à cet été, rien.",
        "HOLLANDE, OUBLIÉ ?",
        "Jacques Chirac rit.",
    )


def test_tokenizer_sentences_are_verbatim_and_per_paragraph() -> None:
    text = "Erster Satz z.B. mit Abkürzung. Zweiter Satz!\n\nDritter Absatz am 3. Januar 2017."
    sentences = Tokenizer("de").to_sentences(text)
    assert sentences == (
        "Erster Satz z.B. mit Abkürzung.",
        "Zweiter Satz!",
        "Dritter Absatz am 3. Januar 2017.",
    )


def test_tokenizer_handles_chinese_and_unknown_languages() -> None:
    assert Tokenizer("zh").to_sentences("我们今天去北京。天气很好！") == (
        "我们今天去北京。",
        "天气很好！",
    )
    assert Tokenizer("xx-YY").to_sentences("One sentence. Another one here.") == (
        "One sentence.",
        "Another one here.",
    )
    assert words("iPhone手机 l’Arménie 10.5") == ("iPhone", "手", "机", "l", "Arménie", "10", "5")


def test_language_resources() -> None:
    assert normalize_language("fr-FR") == "fr" and normalize_language("en_us") == "en"
    assert normalize_language("") is None and normalize_language("12") is None
    assert {"и", "не", "на"} <= stop_words("ru"), "Russian stop words come from yake"
    assert {"de", "le", "un"} <= stop_words("fr")
    assert stop_words(None) == frozenset()
    assert stemmer("fr")("Soldats") == "soldat"
    assert stemmer("xx")("Abc") == "abc"


def test_dangling_openers_are_pronouns_and_connectives_per_language() -> None:
    assert {"il", "elle", "cependant", "c"} <= dangling_openers("fr-FR")
    assert {"he", "she", "however", "but"} <= dangling_openers("en")
    # Demonstrative determiners open self-contained sentences ("Ce vendredi, …").
    assert not {"ce", "cette", "this", "these"} & (dangling_openers("fr") | dangling_openers("en"))
    assert dangling_openers("xx") == frozenset() and dangling_openers(None) == frozenset()
