"""Tests for bot.ingest.dedup: content hashes, MinHash and the LSH index.

URL canonicalisation (bot.ingest.urls) is tested in tests/test_urls.py.

The real cross-format duplicates in the corpus (one blog published as RSS and as Atom) are the
ground truth: the same post must dedup, different posts must not.
"""

from __future__ import annotations

import hashlib
import itertools
from pathlib import Path
from typing import Any

import lxml.html
import numpy as np
import pytest
from datasketch import MinHash
from hypothesis import given
from hypothesis import strategies as st

from bot.ingest.dedup import (
    MIN_SHINGLES,
    NUM_PERM,
    SAME_ARTICLE,
    SAME_STORY,
    SIGNATURE_VERSION,
    NearDuplicateIndex,
    _shingle_hashes,
    classify,
    content_hash,
    estimate_jaccard,
    minhash_signature,
    normalize_text,
    shingles,
    signature_from_bytes,
)
from tests.support.corpus import parsed_entries

# --- helpers ----------------------------------------------------------------------------------


def _html_text(html: str) -> str:
    """Plain text of an HTML fragment; a simple strip is enough for dedup tests."""
    if not html.strip():
        return ""
    return " ".join(" ".join(lxml.html.fromstring(html).itertext()).split())


def _body(entry: Any) -> str:
    html = entry.content[0].value if entry.get("content") else entry.get("summary", "")
    return _html_text(html)


# --- text similarity on the corpus ------------------------------------------------------------


def test_same_blogger_post_via_rss_and_atom_is_the_same_article(
    cornucopia: tuple[list[Any], list[Any]],
) -> None:
    rss, atom = cornucopia
    for rss_entry, atom_entry in zip(rss, atom, strict=True):
        a, b = minhash_signature(_body(rss_entry)), minhash_signature(_body(atom_entry))
        assert a is not None and b is not None
        assert estimate_jaccard(a, b) >= SAME_ARTICLE
        assert content_hash(_body(rss_entry)) == content_hash(_body(atom_entry))


def test_same_hugo_post_via_rss_and_atom_is_the_same_article(
    cowboy: tuple[list[Any], list[Any]],
) -> None:
    # The two renderings differ in markup and whitespace, and some bodies differ slightly.
    rss, atom = cowboy
    for rss_entry, atom_entry in zip(rss, atom, strict=True):
        a, b = minhash_signature(_body(rss_entry)), minhash_signature(_body(atom_entry))
        assert a is not None and b is not None
        similarity = estimate_jaccard(a, b)
        assert classify(similarity) == "same_article", (rss_entry.title, similarity)


def test_different_posts_of_one_blog_are_different(
    cornucopia: tuple[list[Any], list[Any]], cowboy: tuple[list[Any], list[Any]]
) -> None:
    for rss, atom in (cornucopia, cowboy):
        signatures = [minhash_signature(_body(entry)) for entry in rss]
        others = [minhash_signature(_body(entry)) for entry in atom]
        for i, j in itertools.permutations(range(len(rss)), 2):
            a, b = signatures[i], others[j]
            assert a is not None and b is not None
            assert estimate_jaccard(a, b) < SAME_STORY


def test_index_matches_each_atom_post_to_its_rss_twin_only(
    cornucopia: tuple[list[Any], list[Any]],
) -> None:
    rss, atom = cornucopia
    index = NearDuplicateIndex()
    for key, entry in enumerate(rss):
        signature = minhash_signature(_body(entry))
        assert signature is not None
        index.add(key, signature)
    assert len(index) == 25
    for key, entry in enumerate(atom):
        signature = minhash_signature(_body(entry))
        assert signature is not None
        matches = index.query(signature)
        assert [match_key for match_key, _ in matches] == [key]
        assert classify(matches[0][1]) == "same_article"


def test_chinese_articles_dedup_with_character_grams(corpus_dir: Path) -> None:
    entries = parsed_entries(corpus_dir, "geekpark-zh-2020-12.rss")
    texts = [_body(entry) for entry in entries[:6]]
    grams = shingles(texts[0])
    assert grams and all(len(gram) == 5 for gram in grams)
    # One article republished with its last tenth cut off: still the same article.
    full, teaser = texts[0], texts[0][: len(texts[0]) * 9 // 10]
    a, b = minhash_signature(full), minhash_signature(teaser)
    assert a is not None and b is not None
    assert estimate_jaccard(a, b) >= SAME_ARTICLE
    signatures = [minhash_signature(text) for text in texts]
    for x, y in itertools.combinations(signatures, 2):
        assert x is not None and y is not None
        assert estimate_jaccard(x, y) < SAME_STORY


# --- text normalisation and hashes ------------------------------------------------------------


def test_content_hash_is_stable_under_whitespace_case_and_punctuation() -> None:
    original = "Le gouvernement a annoncé, mardi, une réforme."
    variants = [
        "  le GOUVERNEMENT a annoncé mardi une réforme  ",
        "Le\ngouvernement\ta annoncé — mardi — une réforme!",
        "Le gouvernement a annoncé, mardi, une ré\u00adforme.",  # soft hyphen
        "Ｌｅ gouvernement a annoncé, mardi, une réforme.",  # full-width letters
    ]
    assert {content_hash(text) for text in variants} == {content_hash(original)}
    assert content_hash(original) != content_hash("Le gouvernement a annoncé, lundi, une réforme.")


def test_content_hash_of_empty_text_is_the_hash_of_nothing() -> None:
    assert content_hash("") == content_hash(" ,.;! ") == hashlib.sha256(b"").hexdigest()


def test_normalize_text_keeps_combining_marks_of_indic_scripts() -> None:
    # A [^\w\s] regex would strip the vowel signs and break every Hindi word in two.
    assert normalize_text("नमस्ते, दुनिया!") == "नमस्ते दुनिया"


@given(st.text())
def test_normalize_text_is_idempotent(text: str) -> None:
    once = normalize_text(text)
    assert normalize_text(once) == once


# --- shingles and signatures ------------------------------------------------------------------


def test_word_shingles_are_three_word_windows() -> None:
    assert shingles("The cat sat on the mat.") == {
        "the cat sat",
        "cat sat on",
        "sat on the",
        "on the mat",
    }
    assert shingles("Two words") == {"two words"}
    assert shingles("  ...  ") == set()


def test_short_text_has_no_signature() -> None:
    assert minhash_signature("Breaking news tonight") is None
    assert len(shingles("one two three four five six")) == MIN_SHINGLES - 1
    assert minhash_signature("one two three four five six") is None
    assert minhash_signature("one two three four five six seven") is not None


def test_signature_is_compact_and_deterministic() -> None:
    text = "The quick brown fox jumps over the lazy dog near the river bank today."
    signature = minhash_signature(text)
    assert signature is not None
    assert len(signature) == NUM_PERM * 8
    assert minhash_signature(text) == signature


def test_signature_format_has_not_changed() -> None:
    # Stored signatures are only comparable with new ones if seed, scheme and shingle hash
    # stay fixed: this digest changes if any of them does. Update it only together with
    # SIGNATURE_VERSION (and a migration that recomputes every stored signature).
    signature = minhash_signature("The quick brown fox jumps over the lazy dog by the river.")
    assert signature is not None
    assert SIGNATURE_VERSION == 2
    assert hashlib.sha256(signature).hexdigest()[:16] == "da7803cd84f46122"


def _datasketch_signature(hashes: np.ndarray, num_perm: int = NUM_PERM) -> bytes:
    """What datasketch itself computes from the same shingle hashes (identity hashfunc)."""
    minhash = MinHash(num_perm=num_perm, seed=1, scheme="affine64", hashfunc=lambda v: v)
    minhash.update_batch([int(h) for h in hashes])
    return np.asarray(minhash.hashvalues, dtype="<u8").tobytes()


def test_signature_is_datasketchs_minhash_of_the_shingle_hashes(corpus_dir: Path) -> None:
    # Same permutations, premix and minimum as MinHash(seed=1, scheme="affine64"), so
    # LeanMinHash, MinHashLSH and their Jaccard estimates work on our signatures.
    texts = [
        _body(entry) for entry in parsed_entries(corpus_dir, "lanacion-es-ar-2022-04.rss")[:20]
    ]
    texts.append(" ".join(f"word{i}" for i in range(30_000)))  # several passes, tables grown
    for text in texts:
        signature = minhash_signature(text)
        assert signature is not None
        assert signature == _datasketch_signature(_shingle_hashes(text))
    small = minhash_signature(texts[0], num_perm=64)
    assert small == _datasketch_signature(_shingle_hashes(texts[0]), num_perm=64)


@pytest.mark.parametrize(
    "feed", ["geekpark-zh-2020-12.rss", "lanacion-es-ar-2022-04.rss", "cornucopia-blogger-en.rss"]
)
def test_distinct_shingle_hashes_are_the_distinct_shingles(corpus_dir: Path, feed: str) -> None:
    texts = [_body(entry) for entry in parsed_entries(corpus_dir, feed)]
    texts += ["", "one", "one two", "one two three", "ha " * 50, "中文全角", "中文全角括号日本語"]
    for text in texts:
        assert len(np.unique(_shingle_hashes(text))) == len(shingles(text)), text[:80]


def test_signature_depends_on_the_set_of_shingles_only() -> None:
    # The same five-word cycle, repeated and started elsewhere: one set of five shingles.
    cycle = ["alpha", "beta", "gamma", "delta", "epsilon"]
    once, rotated = " ".join(cycle * 2), " ".join((cycle[2:] + cycle[:2]) * 4)
    assert shingles(once) == shingles(rotated)
    assert minhash_signature(once) == minhash_signature(rotated)
    backwards = " ".join(reversed(cycle * 2))
    assert minhash_signature(once) != minhash_signature(backwards)


def test_signature_round_trips_through_datasketch() -> None:
    a = minhash_signature("The quick brown fox jumps over the lazy dog near the river bank.")
    b = minhash_signature("The quick brown fox jumps over the lazy cat near the river bank.")
    assert a is not None and b is not None
    assert signature_from_bytes(a).jaccard(signature_from_bytes(b)) == estimate_jaccard(a, b)
    assert 0.0 < estimate_jaccard(a, b) < 1.0
    assert estimate_jaccard(a, a) == 1.0


def test_signatures_of_different_sizes_are_refused() -> None:
    a = minhash_signature("one two three four five six seven eight", num_perm=64)
    b = minhash_signature("one two three four five six seven eight")
    assert a is not None and b is not None
    with pytest.raises(ValueError):
        estimate_jaccard(a, b)
    with pytest.raises(ValueError):
        signature_from_bytes(b"\x00" * 7)


@pytest.mark.parametrize(
    ("similarity", "expected"),
    [
        (1.0, "same_article"),
        (0.8, "same_article"),
        (0.79, "same_story"),
        (0.5, "same_story"),
        (0.49, "different"),
        (0.0, "different"),
    ],
)
def test_classify_uses_the_article_and_story_thresholds(similarity: float, expected: str) -> None:
    assert classify(similarity) == expected


# --- NearDuplicateIndex -----------------------------------------------------------------------

_BASE = (
    "The city council voted on Tuesday to expand the bicycle lane network across the "
    "northern districts, after a two year study found that commuting times fell sharply "
    "where protected lanes had already been built and accidents involving cyclists dropped."
)


def _sig(text: str) -> bytes:
    signature = minhash_signature(text)
    assert signature is not None
    return signature


def test_index_query_ranks_closest_first_and_drops_unrelated() -> None:
    index = NearDuplicateIndex(threshold=SAME_STORY)
    index.add(1, _sig(_BASE))
    index.add(2, _sig(_BASE + " The mayor welcomed the decision in a short statement."))
    index.add(3, _sig("Stock markets in Asia rose for a third day as investors bet on rate cuts."))
    matches = index.query(_sig(_BASE))
    assert [key for key, _ in matches] == [1, 2]
    assert matches[0][1] == 1.0
    assert SAME_STORY <= matches[1][1] < 1.0


def test_index_remove_and_re_add() -> None:
    index = NearDuplicateIndex()
    index.add(7, _sig(_BASE))
    index.add(7, _sig(_BASE))  # re-adding replaces instead of duplicating
    assert len(index) == 1
    assert 7 in index
    index.remove(7)
    assert len(index) == 0
    assert index.query(_sig(_BASE)) == []
    with pytest.raises(KeyError):
        index.remove(7)


def test_index_refuses_a_signature_of_the_wrong_size() -> None:
    index = NearDuplicateIndex(num_perm=128)
    small = minhash_signature(_BASE, num_perm=64)
    assert small is not None
    with pytest.raises(ValueError):
        index.add(1, small)
