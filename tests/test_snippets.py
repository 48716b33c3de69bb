"""storage.snippets (pure): folding case and accents, the highlight spans of folded query
words, and the snippet window around the best matches."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from storage.snippets import fold, fold_with_map, highlight_spans, make_snippet
from tests.support.snippets import LONG, marked

# --- folding and highlighting --------------------------------------------------------------


def test_fold_removes_case_and_accents() -> None:
    assert fold("Élection MÜNCHEN Côte ПРИВЕТ Ἀθῆναι") == "election munchen cote привет αθηναι"
    assert fold("Ærø") == "ærø"  # no decomposition: FTS5's unicode61 keeps them too


def test_fold_with_map_points_back_into_the_original_text() -> None:
    folded, origin = fold_with_map("ﬁne e\u0301té")  # a ligature and a decomposed accent
    assert folded == "fine ete"
    assert origin is not None
    assert [origin[i] for i in range(len(folded))] == [0, 0, 1, 2, 3, 4, 6, 7]
    assert fold_with_map("Plain") == ("plain", None)


def test_highlights_cover_whole_words_for_prefixes_and_exact_short_words() -> None:
    text = "Les Élections à MÜNCHEN: uk, UKRAINE, Uk."
    spans = highlight_spans(text, ["elect", "munchen", "uk"])
    assert [text[s:e] for s, e in spans] == ["Élections", "MÜNCHEN", "uk", "Uk"]


def test_highlights_find_unspaced_scripts_anywhere_and_map_decomposed_text() -> None:
    assert highlight_spans("東京都知事選挙の結果", ["知事"]) == [(3, 5)]
    text = "Une e\u0301lection"
    [(start, end)] = highlight_spans(text, ["election"])
    assert text[start:end] == "e\u0301lection"
    assert highlight_spans("", ["x"]) == [] and highlight_spans("x", []) == []


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=200), st.lists(st.text(min_size=1, max_size=6), max_size=4))
def test_highlight_spans_are_ordered_and_inside_the_text(text: str, terms: list[str]) -> None:
    spans = highlight_spans(text, [fold(t) for t in terms])
    ends = [0]
    for start, end in spans:
        assert ends[-1] <= start < end <= len(text)
        ends.append(end)


# --- snippets ------------------------------------------------------------------------------


def test_a_snippet_is_a_window_around_the_first_matches() -> None:
    snippet, spans = make_snippet(LONG, ["election", "candidat"])
    assert len(snippet) <= 200
    assert snippet.startswith("…Après des mois") and snippet.endswith("…")
    assert marked(snippet, spans) == ["Élections", "candidats"]


def test_a_snippet_without_matches_is_the_lead_cut_at_a_word() -> None:
    snippet, spans = make_snippet(LONG, ["volcano"])
    assert snippet.startswith("Le gouvernement") and snippet.endswith("…")
    assert len(snippet) <= 200 and snippet[-2] != " " and spans == []
    assert LONG.startswith(snippet[:-1])


def test_a_short_text_is_the_whole_snippet_with_whitespace_made_plain() -> None:
    snippet, spans = make_snippet("  Une\n\télection   à  Paris ", ["election", "paris"])
    assert snippet == "Une élection à Paris"
    assert marked(snippet, spans) == ["élection", "Paris"]
    assert make_snippet("", ["x"]) == ("", [])


def test_a_match_near_the_end_is_shown_with_what_comes_before() -> None:
    text = "Filler words go on. " * 20 + "At last the volcano erupted."
    snippet, spans = make_snippet(text, ["volcano"])
    assert snippet.startswith("…") and snippet.endswith("erupted.") and len(snippet) > 190
    assert marked(snippet, spans) == ["volcano"]
    cjk = "新規定将于明年实施" * 30 + "東京"  # no spaces to cut at
    snippet, spans = make_snippet(cjk, ["東京"])
    assert len(snippet) == 200 and snippet.endswith("東京") and marked(snippet, spans) == ["東京"]


def test_a_snippet_prefers_the_window_showing_more_different_words() -> None:
    text = "Wind alone here. " + "Filler words go on. " * 12 + "Then wind and rain came."
    snippet, spans = make_snippet(text, ["wind", "rain"], width=60)
    assert marked(snippet, spans) == ["wind", "rain"]


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=600), st.lists(st.text(min_size=1, max_size=5), max_size=3))
def test_any_snippet_fits_and_its_highlights_match(text: str, terms: list[str]) -> None:
    folded = [fold(t) for t in terms]
    snippet, spans = make_snippet(text, folded)
    assert len(snippet) <= 200
    assert all(0 <= s < e <= len(snippet) and "…" not in snippet[s:e] for s, e in spans)
