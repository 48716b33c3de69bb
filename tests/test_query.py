"""The search query language (storage.query and storage.query_compile, pure): every syntax
form, precedence, quoting, operators and dates, what the compilers write, and hostile text."""

from __future__ import annotations

import re
import unicodedata
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from storage.query import MAX_TERM_LENGTH, MAX_WORDS, Phrase, Query, Term, parse_query
from storage.query_compile import (
    fts5_exclusions,
    fts5_query,
    map_words,
    tsquery_exclusions,
    tsquery_text,
)

NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)


def parse(text: str) -> Query:
    return parse_query(text, now=NOW)


def groups(text: str) -> list[list[str]]:
    return [[str(atom) for atom in group] for group in parse(text).groups]


def flat(text: str) -> list[str]:
    """The query's atoms, when each is a group of its own."""
    assert all(len(group) == 1 for group in parse(text).groups)
    return [str(atom) for [atom] in parse(text).groups]


# --- words, prefixes, phrases --------------------------------------------------------------


def test_words_are_anded_lower_cased_and_normalised() -> None:
    assert parse("Élection MÜNCHEN").groups == ((Term("élection"),), (Term("münchen"),))
    assert parse("ﬁnance e\u0301lection").groups == ((Term("finance"),), (Term("élection"),))
    assert groups("tax Tax TAX rise") == [["tax"], ["rise"]]


def test_words_of_four_letters_or_more_are_prefixes_and_shorter_ones_exact() -> None:
    query = parse("uk eu* vote élect")
    assert [atom for [atom] in query.groups] == [
        Term("uk", prefix=False),
        Term("eu", prefix=True),  # a "*" asks for it
        Term("vote", prefix=True),
        Term("élect", prefix=True),
    ]
    assert parse('"élection"').groups == ((Term("élection", prefix=False),),)  # quoted: exact


def test_scripts_without_spaces_are_always_prefixes() -> None:
    assert parse("東京 北京").groups == ((Term("東京", True),), (Term("北京", True),))


def test_a_quoted_phrase_keeps_its_words_in_order() -> None:
    assert parse('"Article 50" vote').groups == (
        (Phrase(("article", "50")),),
        (Term("vote"),),
    )
    assert parse('"red hat"*').groups == ((Phrase(("red", "hat"), prefix=True),),)
    assert parse("“smart quotes” «guillemets»").groups == (
        (Phrase(("smart", "quotes")),),
        (Term("guillemets", prefix=False),),
    )


def test_an_unbalanced_quote_runs_to_the_end() -> None:
    assert parse('c++ "unbalanced phrase').groups == (
        (Term("c", prefix=False),),
        (Phrase(("unbalanced", "phrase")),),
    )
    assert parse('"').groups == ()


def test_punctuation_inside_a_word_makes_a_phrase_and_other_punctuation_separates() -> None:
    assert groups("covid-19 l'élection U.S.") == [['"covid 19"'], ['"l élection"*'], ['"u s"']]
    assert flat("NEAR(a b) x*y snake_case") == ["near", "a", "b", "x", "y", "snake", "case"]


def test_limits_on_words_and_their_length() -> None:
    many = parse(" ".join(f"w{n}" for n in range(40)))
    assert len(many.groups) == MAX_WORDS
    assert parse("x" * 500).groups == ((Term("x" * MAX_TERM_LENGTH),),)


# --- exclusions and OR ---------------------------------------------------------------------


def test_a_minus_excludes_a_word_or_a_phrase() -> None:
    query = parse('brexit -sport -"champions league" well-known')
    assert query.groups == ((Term("brexit"),), (Phrase(("well", "known"), prefix=True),))
    assert query.excluded == (Term("sport"), Phrase(("champions", "league")))
    assert parse("- -- ---").groups == () and parse("- -- ---").excluded == ()


def test_or_joins_its_neighbours_and_binds_tighter_than_and() -> None:
    assert groups('brexit OR "article 50"') == [["brexit", '"article 50"']]
    assert groups("a b OR c") == [["a"], ["b", "c"]]
    assert groups("a OR b OR c d") == [["a", "b", "c"], ["d"]]
    assert groups("a OR OR b") == [["a", "b"]]


def test_or_in_lower_case_is_a_word_and_a_dangling_or_is_dropped() -> None:
    assert groups("war or peace") == [["war"], ["or"], ["peace"]]
    assert groups("OR war OR") == [["war"]]
    assert groups("war OR -peace") == [["war"]]
    assert groups("war OR source:bbc peace") == [["war"], ["peace"]]


# --- operators -----------------------------------------------------------------------------


def test_source_takes_a_name_or_a_quoted_name() -> None:
    assert parse("source:guardian").sources == ("guardian",)
    assert parse('brexit source:"Le  Monde" Source:BBC').sources == ("Le Monde", "BBC")
    assert parse("source:guardian").groups == ()


def test_lang_takes_a_language_code_and_drops_the_region() -> None:
    assert parse("lang:fr").languages == ("fr",)
    assert parse("LANG:pt-BR lang:fr_CA").languages == ("pt", "fr")


def test_since_takes_hours_days_weeks_or_a_date_in_utc() -> None:
    assert parse("since:24h").since == NOW - timedelta(hours=24)
    assert parse("since:7d").since == NOW - timedelta(days=7)
    assert parse("since:2w").since == NOW - timedelta(days=14)
    assert parse("since:2026-01-01").since == datetime(2026, 1, 1, tzinfo=UTC)
    assert parse("since:30d since:2d").since == NOW - timedelta(days=2)  # both hold
    assert parse("since:99999w").since == datetime(1970, 1, 1, tzinfo=UTC)
    naive = parse_query("since:1d", now=datetime(2026, 3, 10, 12, 0))  # taken as UTC
    assert naive.since == NOW - timedelta(days=1)


def test_an_operator_value_it_does_not_take_leaves_plain_words() -> None:
    assert groups("since:yesterday") == [["since"], ["yesterday"]]
    assert flat("since:2026-13-45 lang:french") == ["since", "2026", "13", "45", "lang", "french"]
    assert parse("since:yesterday").since is None
    assert groups("source:+++") == [["source"]]


def test_unknown_operators_are_words_and_negated_ones_exclusions() -> None:
    assert flat("foo:bar title:secret") == ["foo", "bar", "title", "secret"]
    query = parse("x -source:bbc")
    assert query.sources == () and query.excluded == (Phrase(("source", "bbc")),)


def test_operators_alone_or_exclusions_alone_are_told_apart() -> None:
    assert parse("source:guardian").problem is None
    assert parse("since:7d -sport").problem is None
    assert parse("-sport").problem == "only_exclusions" and parse("-sport").is_empty
    assert parse(" ?! *** -- ").problem == "empty"
    assert not parse("") and parse("x")


def test_describe_says_what_was_understood() -> None:
    query = parse('brexit OR "article 50" source:guardian since:7d')
    assert query.describe() == 'brexit OR "article 50" · source: guardian · since 7d'
    query = parse('a b OR c -"x y" eu* "long" lang:fr')
    assert query.describe() == 'a (b OR c) eu* "long" -"x y" · lang: fr'


def test_terms_for_highlight_are_the_positive_words_folded() -> None:
    query = parse('Élection OR "Côte d" -sport München')
    assert set(query.terms_for_highlight) == {"election", "cote", "d", "munchen"}


# --- compilers -----------------------------------------------------------------------------


def test_fts5_quotes_every_word_and_writes_the_operators_itself() -> None:
    query = parse('brexit OR "article 50" vote-leave -sport -"top gear" uk')
    assert fts5_query(query) == (
        '(("brexit"* OR "article 50") AND ("vote leave"*) AND ("uk")) NOT ("sport"* OR "top gear")'
    )
    assert fts5_query(parse("-sport")) is None
    assert fts5_exclusions(parse("-sport -x")) == '"sport"* OR "x"'


def test_tsquery_text_quotes_lexemes_and_reads_numbers_with_a_sign_too() -> None:
    query = parse('brexit OR "article 50" covid-19 -sport')
    assert tsquery_text(query) == (
        "('brexit':* | ('article' <-> ('50' | '-50'))) & (('covid' <-> ('19' | '-19')))"
        " & !('sport':*)"
    )
    assert tsquery_text(parse("-sport")) is None
    assert tsquery_exclusions(parse("x -sport")) == "('sport':*)"


def test_map_words_splits_joins_and_drops_words() -> None:
    query = parse("nx keep gone -gone")
    changed = map_words(query, lambda w: {"nx": ["n", "x"], "gone": []}.get(w, [w]))
    assert changed.groups == ((Phrase(("n", "x"), prefix=False),), (Term("keep"),))
    assert changed.excluded == ()


# --- hostile input -------------------------------------------------------------------------

TRICKY = [
    '"', "'", "-", "*", "OR", "AND", "NOT", "NEAR(", ")", "(", ":", "^", "\\", "&", "|", "!",
    "<->", ":*", "source:", "lang:", "since:", "since:7d", "source:\"", "%s", "$1", "\x00",
    "ŉ", "ʺ", "ˆ", "ː", "ʹ", "½", "⑴", "e\u0301", "東京", "\u200b", "\ufeff", " ",
]  # fmt: skip
hostile = st.lists(st.one_of(st.sampled_from(TRICKY), st.text(max_size=8)), max_size=20).map(
    " ".join
)
FTS5_SYNTAX = re.compile(r'\s*(?:"([^"]*)"\*?|\(|\)|AND|OR|NOT)')
TSQUERY_SYNTAX = re.compile(r"\s*(?:'(-?[^']*)'(?::\*)?|\(|\)|&|\||!|<->)")


def _only_words(text: str) -> bool:
    return all(unicodedata.category(ch)[0] in "LNM" for ch in text.replace(" ", ""))


def _lexemes(compiled: str, syntax: re.Pattern[str]) -> list[str]:
    """The quoted words of ``compiled``, asserting everything else is the compiler's syntax."""
    found, at = [], 0
    while at < len(compiled.rstrip()):
        match = syntax.match(compiled, at)
        assert match is not None and match.end() > at, compiled[at:]
        if match[1] is not None:
            found.append(match[1])
        at = match.end()
    return found


@settings(max_examples=400, deadline=None)
@given(hostile)
def test_any_text_parses_and_compiles_to_quoted_words_only(text: str) -> None:
    query = parse(text)
    query.describe()
    for compiled in (fts5_query(query), fts5_exclusions(query)):
        if compiled is not None:
            assert all(_only_words(w) and w for w in _lexemes(compiled, FTS5_SYNTAX))
    for compiled in (tsquery_text(query), tsquery_exclusions(query)):
        if compiled is not None:
            words = [w.removeprefix("-") for w in _lexemes(compiled, TSQUERY_SYNTAX)]
            assert all(_only_words(w) and w for w in words)


@pytest.mark.parametrize("text", ["x" * 100_000, "a " * 50_000, '"' * 10_000, "-" * 10_000])
def test_huge_input_is_cut_not_refused(text: str) -> None:
    assert len(parse(text).groups) <= MAX_WORDS
