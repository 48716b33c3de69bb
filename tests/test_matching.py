"""Folding, alert/filter words and matching: the rules the fan-out applies to every new story."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.chat.matching import (
    MAX_WORD_LENGTH,
    MAX_WORDS,
    count_words,
    fold,
    matches_alert,
    parse_words,
    passes_filters,
    text_words,
)

EN = (
    "Elections in Europe: turnout rises as voters head to the polls. "
    "Foreign aid cut by 3% in the new budget; U.S. officials say talks will resume."
)
FR = (
    "Côte d'Ivoire : l'élection présidentielle aura lieu en octobre. "
    "Aujourd'hui, les électeurs de la Côte-Nord débattent des œuvres publiques."
)
DE = "Straßenbahn in München: Die Bürgerinnen stimmen über den Ausbau der Großstadt ab."
RU = "Выборы в Йошкар-Оле: ёлку на площади поставят после голосования, сообщил мэр."
JA = "東京都知事選挙の投票率は過去最低となった。ガソリン価格も上昇。"
ZH = "北京市政府宣布新的环境保护计划，空气质量将得到改善。"
KO = "서울에서 열린 회의에서 기후 변화가 논의되었다."


def words_of(text: str) -> frozenset[str]:
    return text_words(text)


# -- fold -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "folded"),
    [
        ("München", "munchen"),
        ("Côte", "cote"),
        ("ÉLECTION", "election"),
        ("Straße", "strasse"),
        ("STRASSE", "strasse"),
        ("Œuvre", "oeuvre"),
        ("Æther", "aether"),
        ("Ёлка", "елка"),
        ("Αθήνα", "αθηνα"),
        ("İstanbul", "istanbul"),
        ("ﬁnance", "finance"),  # ligature
        ("ＮＡＴＯ", "nato"),  # full-width
        ("elec\u00adtion", "election"),  # soft hyphen from feed HTML
        ("Nguyễn", "nguyen"),
    ],
)
def test_fold_lowercases_and_strips_latin_and_greek_accents(raw: str, folded: str) -> None:
    assert fold(raw) == folded


def test_fold_keeps_letters_that_marks_make_in_other_scripts() -> None:
    assert fold("Йошкар-Ола") == "йошкар-ола"  # й is not и
    assert fold("がっこう") == "がっこう"  # が is not か
    assert fold("ｶﾞｿﾘﾝ") == "ガソリン"  # half-width kana become the usual ones
    assert fold("हिन्दी") == "हिन्दी"  # vowel signs are half of a syllable
    assert fold("東京") == "東京"
    assert fold("서울") == "서울"


def test_fold_drops_russian_stress_marks() -> None:
    assert fold("Мо́сква") == "москва"


# -- parse_words ----------------------------------------------------------------------------


def test_parse_words_folds_dedupes_and_keeps_first_occurrence_order() -> None:
    assert parse_words("Élection, EUROPE! election europe Brexit") == [
        "election",
        "europe",
        "brexit",
    ]


def test_parse_words_splits_at_hyphens_and_apostrophes() -> None:
    assert parse_words("state-of-the-art") == ["state", "of", "the", "art"]
    assert parse_words("aujourd'hui l’élection") == ["aujourd", "hui", "l", "election"]
    assert parse_words("snake_case") == ["snake", "case"]


@pytest.mark.parametrize("text", ["", "   ", "!!! ... ---", "&", "🙂🎉", "_"])
def test_parse_words_of_input_without_word_characters_is_empty(text: str) -> None:
    assert parse_words(text) == []


def test_parse_words_strips_html_characters() -> None:
    assert parse_words("<b>&amp; Brexit</b>") == ["b", "amp", "brexit"]


def test_parse_words_keeps_at_most_ten_words_of_at_most_64_characters() -> None:
    text = " ".join(f"word{i}" for i in range(25)) + " " + "x" * 500
    words = parse_words(text)
    assert words == [f"word{i}" for i in range(MAX_WORDS)]
    assert count_words(text) == 26
    assert parse_words("y" * 500) == ["y" * MAX_WORD_LENGTH]


def test_parse_words_keeps_a_cjk_run_as_one_word_and_separates_it_from_digits() -> None:
    assert parse_words("東京 選挙") == ["東京", "選挙"]
    assert parse_words("2024年東京") == ["2024", "年東京"]


def test_parse_words_in_several_languages() -> None:
    assert parse_words("Wahl München") == ["wahl", "munchen"]
    assert parse_words("Выборы ЁЛКА") == ["выборы", "елка"]
    assert parse_words("Côte-Nord") == ["cote", "nord"]


# -- text_words ------------------------------------------------------------------------------


def test_text_words_are_folded_tokens() -> None:
    words = words_of(FR)
    assert {"cote", "election", "presidentielle", "aujourd", "hui", "oeuvres", "nord"} <= words
    assert "d'ivoire" not in words and "ivoire" in words


def test_text_words_index_cjk_characters_and_bigrams() -> None:
    words = words_of(JA)
    assert {"東京", "京都", "選挙", "知事", "東", "挙"} <= words
    assert "東京都知事選挙の投票率は過去最低となった" not in words  # runs are not kept whole
    assert "選挙" in words_of(ZH + JA) and "环境" in words_of(ZH)


# -- matches_alert ---------------------------------------------------------------------------


def test_an_alert_needs_every_word() -> None:
    article = words_of(EN)
    assert matches_alert(["europe", "turnout"], article)
    assert not matches_alert(["europe", "brexit"], article)


def test_long_words_match_as_prefixes_short_words_only_exactly() -> None:
    article = words_of(EN)
    assert matches_alert(["election"], article)  # "Elections"
    assert matches_alert(["poll"], article)  # "polls"
    assert matches_alert(["aid"], article)
    assert not matches_alert(["ai"], article)  # not "aid"
    assert not matches_alert(["eu"], article)  # not "europe"
    assert not matches_alert(["elections2"], article)
    assert matches_alert(["u", "s"], article)  # "U.S."


def test_accented_alert_words_match_unaccented_text_and_back() -> None:
    assert matches_alert(parse_words("élection"), words_of("Election night in Paris"))
    assert matches_alert(parse_words("election"), words_of(FR))
    assert matches_alert(parse_words("cote d'ivoire"), words_of(FR))
    assert matches_alert(parse_words("Munchen"), words_of(DE))
    assert matches_alert(parse_words("strasse"), words_of(DE))  # "Straßenbahn"
    assert matches_alert(parse_words("grossstadt"), words_of(DE))


def test_russian_alerts_match_inflected_forms_by_prefix() -> None:
    article = words_of(RU)
    assert matches_alert(parse_words("выбор"), article)  # "Выборы"
    assert matches_alert(parse_words("ёлку"), article)  # "ё" written or not
    assert matches_alert(parse_words("голос"), article)  # "голосования"
    assert matches_alert(parse_words("Йошкар-Оле"), article)
    assert not matches_alert(parse_words("Йошкар-Ола"), article)  # "ола" is short: exact only
    assert not matches_alert(parse_words("мэрия"), article)


def test_cjk_alert_words_match_inside_runs_by_bigrams() -> None:
    assert matches_alert(parse_words("選挙"), words_of(JA))
    assert matches_alert(parse_words("知事選挙"), words_of(JA))
    assert matches_alert(parse_words("ガソリン"), words_of(JA))
    assert not matches_alert(parse_words("大阪"), words_of(JA))
    assert matches_alert(parse_words("环境保护"), words_of(ZH))
    assert matches_alert(parse_words("서울"), words_of(KO))  # "서울에서"
    assert not matches_alert(parse_words("부산"), words_of(KO))


def test_a_single_cjk_character_matches_that_character() -> None:
    assert matches_alert(["北"], words_of(ZH))
    assert not matches_alert(["南"], words_of(ZH))


def test_no_words_never_match() -> None:
    assert not matches_alert([], words_of(EN))
    assert not matches_alert([""], words_of(EN))


# -- passes_filters --------------------------------------------------------------------------


def test_filters_require_every_plus_word_and_no_minus_word() -> None:
    article = words_of(EN)
    assert passes_filters([], [], article)
    assert passes_filters(["europe"], ["sport"], article)
    assert not passes_filters(["europe", "asia"], [], article)
    assert not passes_filters([], ["budget"], article)
    assert not passes_filters([], ["election"], article)  # prefix of "elections"
    assert passes_filters([], ["ai"], article)  # "aid" is not "ai"


def test_filters_fold_like_alerts() -> None:
    assert not passes_filters([], parse_words("münchen"), words_of(DE))
    assert passes_filters(parse_words("élection"), [], words_of(FR))
    assert not passes_filters([], parse_words("選挙"), words_of(JA))


# -- properties ------------------------------------------------------------------------------


@settings(max_examples=400, deadline=None)
@given(st.text())
def test_fold_is_idempotent(text: str) -> None:
    assert fold(fold(text)) == fold(text)


@settings(max_examples=400, deadline=None)
@given(st.text())
def test_parse_words_yields_at_most_ten_folded_nonempty_words(text: str) -> None:
    words = parse_words(text)
    assert len(words) <= MAX_WORDS
    assert len(set(words)) == len(words)
    for word in words:
        assert 0 < len(word) <= MAX_WORD_LENGTH
        assert fold(word) == word


@settings(max_examples=400, deadline=None)
@given(st.text())
def test_any_text_with_a_word_matches_an_alert_made_from_it(text: str) -> None:
    words = parse_words(text)
    if words:
        assert matches_alert(words, text_words(text))


_MIXED = st.text(
    st.sampled_from(
        [
            *"aeEßẞœŒæøłİıΣσςάёЁйЙиがかカ東京選挙서울ｶﾞ कि्- '.,",
            *["\u0301", "\u0306", "\u0308", "\u0327", "\u3099", "\u00ad", "\ufe0f", "\u212a"],
        ]
    ),
    max_size=40,
)


@settings(max_examples=400, deadline=None)
@given(_MIXED)
def test_folding_and_matching_hold_on_dense_multilingual_text(text: str) -> None:
    assert fold(fold(text)) == fold(text)
    words = parse_words(text)
    assert all(fold(word) == word for word in words)
    if words:
        assert matches_alert(words, text_words(text))
