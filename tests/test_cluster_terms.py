"""Tests for bot.ingest.cluster_terms: what a headline and lead contribute to story matching."""

from __future__ import annotations

from bot.ingest.clean import fix_mojibake, html_to_text
from bot.ingest.cluster_terms import analyse, lead_text, story_terms


def test_terms_are_casefolded_and_accent_folded() -> None:
    terms = story_terms("Mutinerie à BOUAKÉ", "Les soldats de Bouaké réclament des primes.", "fr")
    assert "bouake" in terms
    assert not any(ch in term for term in terms for ch in "éÉ")


def test_stop_words_of_the_article_language_and_english_are_dropped() -> None:
    terms = story_terms("Le point sur la crise", "The crisis and the talks are not over.", "fr")
    assert not {"le", "la", "sur", "the", "and", "are", "not"} & terms.keys()


def test_weekdays_months_and_reporting_words_are_dropped() -> None:
    terms = story_terms("Gunfire in Abidjan", "Soldiers said on Friday, 6 January, ...", "en")
    assert not {"said", "friday", "januari", "january"} & terms.keys()


def test_headline_words_count_twice_and_lead_words_once() -> None:
    terms = story_terms("Mutiny spreads", "The mutiny began in Bouaké.", "en")
    assert terms["mutini"] == 3.0  # Snowball English: mutiny, Mutiny → mutini
    assert terms["spread"] == 2.0


def test_names_keep_one_spelling_across_languages_while_words_are_stemmed() -> None:
    english = story_terms("Shootings", "A gunman opened fire at Fort Lauderdale airport.", "en")
    french = story_terms("Fusillade", "Cinq morts à l'aéroport de Fort Lauderdale.", "fr")
    spanish = story_terms("Tiroteo", "Cinco muertos en el aeropuerto de Fort Lauderdale.", "es")
    assert {"fort", "lauderdale"} <= english.keys() & french.keys() & spanish.keys()
    assert "shoot" in english  # an ordinary word is stemmed


def test_lead_skips_agency_line_and_wire_dateline() -> None:
    text = "EFE\n\nBAGHDAD (Reuters) - Iraq's prime minister said a deal was reached."
    assert lead_text(text) == "Iraq's prime minister said a deal was reached."


def test_lead_is_cut_after_a_whole_word() -> None:
    lead = lead_text("word " * 200, limit=12)
    assert lead == "word word word"


def test_mojibake_feed_titles_clean_to_the_same_terms() -> None:
    broken = "FÃ¼nf Tote im Flughafen: TÃ¤ter von Fort Lauderdale"
    clean = fix_mojibake(html_to_text(broken))
    assert story_terms(clean, "", "de") == story_terms(
        "Fünf Tote im Flughafen: Täter von Fort Lauderdale", "", "de"
    )


def test_adjacent_capitalised_words_are_one_name_unit() -> None:
    terms, units = analyse(
        "Hong Kong confirms third bird flu case", "Officials in Hong Kong confirmed it.", "en"
    )
    assert units["hong"] == units["kong"]
    assert units["bird"] == "bird" and units["flu"] == "flu"  # ordinary words stand alone
    assert terms == story_terms(
        "Hong Kong confirms third bird flu case", "Officials in Hong Kong confirmed it.", "en"
    )
