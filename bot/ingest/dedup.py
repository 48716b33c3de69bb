"""Deduplication keys for articles: canonical URLs, content hashes and MinHash signatures.

Three layers, cheapest first, because the same article reaches us in several ways:

* the same link with different tracking junk, scheme or ``www.`` (``canonical_url`` gives a
  URL worth linking to, ``url_key`` a scheme-insensitive string worth looking up; both live
  in ``urls.py``);
* the same text under different links (``content_hash`` of the normalised text);
* nearly the same text (the RSS and Atom renderings of one post, a wire story re-published
  with a new headline): ``minhash_signature`` + ``NearDuplicateIndex``, with Jaccard
  thresholds ``SAME_ARTICLE`` and ``SAME_STORY``.

Everything here is pure except ``NearDuplicateIndex``, an in-memory index the pipeline fills
from stored signatures. Signatures are plain bytes so storage needs no datasketch objects, and
they stay comparable across processes only because the seed, permutation scheme and shingle
hash below are fixed: changing any of them invalidates every stored signature. Signatures are
therefore versioned by this module (``SIGNATURE_VERSION``), to be stored alongside them and
bumped with any such change. Version 2 (numpy shingle hashes) replaced version 1 (blake2b per
shingle, through datasketch) before anything was stored in production.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from functools import lru_cache
from typing import Literal

import numpy as np
from datasketch import LeanMinHash, MinHash, MinHashLSH

# Jaccard similarity of word 3-shingles (FIELD-NOTES): at or above SAME_ARTICLE two texts are
# one article (re-published, re-formatted, lightly edited); between SAME_STORY and
# SAME_ARTICLE they report the same event in largely the same words (wire copy).
SAME_ARTICLE = 0.8
SAME_STORY = 0.5

NUM_PERM = 128
MIN_SHINGLES = 5  # fewer shingles than this and any overlap estimate is noise
WORD_SHINGLE_SIZE = 3
CHAR_GRAM_SIZE = 5  # for scripts written without spaces (Chinese, Japanese, Thai)
UNSPACED_SCRIPT_SHARE = 0.3  # share of such characters above which words are meaningless

# Frozen signature parameters: see the module docstring before touching any of these.
SIGNATURE_VERSION = 2
_SEED = 1
_SCHEME: Literal["affine64"] = "affine64"
_DTYPE = np.dtype("<u8")  # hash values are stored as little-endian uint64, 8 bytes each

# Han, kana, Thai, Lao, Myanmar, Khmer: scripts that do not separate words with spaces.
# Korean is left out on purpose: Hangul text is spaced, so word shingles work for it.
_UNSPACED_CHAR = re.compile(
    "[\u0e00-\u0eff\u1000-\u109f\u1780-\u17ff\u3040-\u30ff\u31f0-\u31ff"
    "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0003134f]"
)

Classification = Literal["same_article", "same_story", "different"]


# --- Text -------------------------------------------------------------------------------------


class _SeparatorTable(dict[int, str]):
    """``str.translate`` table, filled lazily: punctuation, symbols, spaces, controls and lone
    surrogates (no encoder takes them, so hashing would raise) become a space, invisible
    format characters (soft hyphen, zero-width space) vanish so the word they split joins
    back, everything else maps to itself.

    Deciding by Unicode category keeps combining marks (Devanagari vowel signs, Arabic
    harakat) that a ``[^\\w\\s]`` regex would strip, and caching per code point keeps it fast.
    """

    def __missing__(self, codepoint: int) -> str:
        category = unicodedata.category(chr(codepoint))
        if category[0] in "PSZ" or category in ("Cc", "Cs"):
            value = " "
        elif category == "Cf":
            value = ""
        else:
            value = chr(codepoint)
        self[codepoint] = value
        return value


_SEPARATORS = _SeparatorTable()


def normalize_text(text: str) -> str:
    """Text reduced to what survives re-publishing: case, width, punctuation and spacing go.

    NFKC, casefold, NFKC again (the Unicode recipe for caseless matching, which makes this
    idempotent), then punctuation and symbols become spaces and runs of whitespace collapse.
    """
    folded = unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", text).casefold())
    return " ".join(folded.translate(_SEPARATORS).split())


def content_hash(text: str) -> str:
    """SHA-256 hex digest of ``normalize_text(text)``: equal for exact re-publications.

    Empty (or punctuation-only) text hashes to the digest of "", which every empty article
    shares: callers must skip empty text rather than treat equal hashes as duplicates.
    """
    return hashlib.sha256(normalize_text(text).encode("utf-8")).hexdigest()


def shingles(text: str, k: int = WORD_SHINGLE_SIZE) -> set[str]:
    """Word k-shingles of the normalised text, or character 5-grams for unspaced scripts.

    Chinese or Japanese text has no spaces, so "words" would be whole sentences and two copies
    of one article would share almost none; character 5-grams play the role of word shingles
    there. A text shorter than one shingle gives itself as the only shingle.
    """
    if k < 1:
        raise ValueError(f"shingle size must be positive, got {k}")
    normalized = normalize_text(text)
    if _is_mostly_unspaced(normalized):
        chars = normalized.replace(" ", "")
        if len(chars) <= CHAR_GRAM_SIZE:
            return {chars} if chars else set()
        return {chars[i : i + CHAR_GRAM_SIZE] for i in range(len(chars) - CHAR_GRAM_SIZE + 1)}
    words = normalized.split()
    if len(words) <= k:
        return {" ".join(words)} if words else set()
    return {" ".join(words[i : i + k]) for i in range(len(words) - k + 1)}


def _is_mostly_unspaced(normalized: str) -> bool:
    letters = len(normalized) - normalized.count(" ")
    if letters == 0:
        return False
    return len(_UNSPACED_CHAR.findall(normalized)) >= UNSPACED_SCRIPT_SHARE * letters


# --- MinHash ----------------------------------------------------------------------------------


# Shingle hashing, all in numpy (no Python call per shingle). Each word, or each character
# 5-gram of unspaced text, gets a polynomial hash of its code points, computed for all of them
# at once from prefix sums (uint64 arithmetic wraps, which is the intended mod 2^64); the
# MurmurHash3 finalizer (a bijection) then spreads it, and a word 3-shingle's hash combines
# its three word hashes in order. Equal shingles hash equally, so the distinct hashes
# stand for the distinct shingles of ``shingles()``, up to 64-bit collisions.
_POLY = 0x100000001B3  # the FNV-1 64-bit prime: odd, hence invertible mod 2^64
_WORD_MIX = np.uint64(0x9E3779B97F4A7C15)  # odd (2^64 / golden ratio): weighs word order
_FMIX_SHIFT = np.uint64(33)
_FMIX_M1 = np.uint64(0xFF51AFD7ED558CCD)
_FMIX_M2 = np.uint64(0xC4CEB9FE1A85EC53)
_powers = (np.ones(1, dtype=np.uint64), np.ones(1, dtype=np.uint64))  # P^i and P^-i, grown


def _power_tables(n: int) -> tuple[np.ndarray, np.ndarray]:
    """P^i and P^-i (mod 2^64) for i < n, kept between calls and grown by doubling."""
    global _powers
    tables = _powers
    if len(tables[0]) < n:
        size = max(n, 2 * len(tables[0]), 4096)
        steps = np.empty((2, size), dtype=np.uint64)
        steps[:, 0] = 1
        steps[0, 1:] = _POLY
        steps[1, 1:] = pow(_POLY, -1, 1 << 64)
        tables = _powers = (np.cumprod(steps[0]), np.cumprod(steps[1]))
    return tables


def _fmix64(values: np.ndarray) -> np.ndarray:
    """MurmurHash3's 64-bit finalizer, in place: every input bit flips about half the output."""
    values ^= values >> _FMIX_SHIFT
    values *= _FMIX_M1
    values ^= values >> _FMIX_SHIFT
    values *= _FMIX_M2
    values ^= values >> _FMIX_SHIFT
    return values


def _span_hashes(codes: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """Position-independent polynomial hash of each ``codes[start:end]``, mixed."""
    powers, inverse = _power_tables(len(codes) + 1)
    prefix = np.zeros(len(codes) + 1, dtype=np.uint64)
    np.cumsum(codes * powers[: len(codes)], out=prefix[1:])
    spans = (prefix[ends] - prefix[starts]) * inverse[starts]
    spans ^= (ends - starts).astype(np.uint64)
    return _fmix64(spans)


def _shingle_hashes(text: str) -> np.ndarray:
    """64-bit hashes of the shingles ``shingles(text)`` names (with repeats), as uint64."""
    normalized = normalize_text(text)
    codes = np.frombuffer(normalized.encode("utf-32-le"), dtype=np.uint32).astype(np.uint64)
    if _is_mostly_unspaced(normalized):
        codes = codes[codes != ord(" ")]
        grams = max(len(codes) - CHAR_GRAM_SIZE + 1, min(len(codes), 1))
        starts = np.arange(grams)
        return _span_hashes(codes, starts, np.minimum(starts + CHAR_GRAM_SIZE, len(codes)))
    spaces = np.flatnonzero(codes == ord(" "))  # normalised: one space between words
    if len(spaces) < WORD_SHINGLE_SIZE:  # at most k words: the text is its only shingle
        whole = np.zeros(min(len(codes), 1), dtype=np.intp)
        return _span_hashes(codes, whole, whole + len(codes))
    words = _span_hashes(
        codes,
        np.concatenate(([0], spaces + 1)),
        np.concatenate((spaces, [len(codes)])),
    )
    count = len(words) - WORD_SHINGLE_SIZE + 1
    hashes = np.zeros(count, dtype=np.uint64)
    for offset in range(WORD_SHINGLE_SIZE):  # Horner: (w0 * M + w1) * M + w2 at every position
        hashes *= _WORD_MIX
        hashes += words[offset : offset + count]
    return hashes


_SHINGLES_PER_PASS = 8192  # a (num_perm x 8192) uint64 block: 8 MB with 128 permutations


@lru_cache(maxsize=4)
def _permutations(num_perm: int) -> tuple[np.ndarray, np.ndarray]:
    """datasketch's own permutation parameters ``a`` and ``b`` (as a column) for ``num_perm``."""
    a, b = MinHash(num_perm=num_perm, seed=_SEED, scheme=_SCHEME).permutations
    return a.astype(np.uint64), b.astype(np.uint64)[:, None]


def minhash_signature(text: str, num_perm: int = NUM_PERM) -> bytes | None:
    """The MinHash of the text's shingles as ``num_perm`` little-endian uint64 values (1 KB).

    Exactly what datasketch's ``MinHash(num_perm, seed=1, scheme="affine64")`` holds after
    ``update_batch`` with our shingle hashes (its premix, then ``a * h + b`` per permutation,
    the minimum over shingles), computed in one numpy pass so signatures work with
    ``LeanMinHash`` and ``MinHashLSH``. None when the text has fewer than ``MIN_SHINGLES``
    distinct shingles: a headline-length text would match unrelated headlines by chance.

    Signatures are versioned by this module (``SIGNATURE_VERSION``): changing the shingles,
    their hash, the seed or the scheme makes old and new signatures incomparable.
    """
    hashes = _shingle_hashes(text)
    if len(hashes) < MIN_SHINGLES:
        return None
    hashes.sort()  # to count the distinct ones; repeats cannot change a minimum
    if 1 + np.count_nonzero(hashes[1:] != hashes[:-1]) < MIN_SHINGLES:
        return None
    a, b = _permutations(num_perm)
    hashes = _fmix64(hashes)
    signature = np.full(num_perm, np.iinfo(np.uint64).max, dtype=np.uint64)
    for start in range(0, len(hashes), _SHINGLES_PER_PASS):  # bounds memory on huge texts
        permuted = np.multiply.outer(a, hashes[start : start + _SHINGLES_PER_PASS])  # wraps
        permuted += b
        np.minimum(signature, permuted.min(axis=1), out=signature)
    return signature.astype(_DTYPE, copy=False).tobytes()


def _hashvalues(signature: bytes, num_perm: int | None = None) -> np.ndarray:
    if not signature or len(signature) % _DTYPE.itemsize:
        raise ValueError(f"not a MinHash signature: {len(signature)} bytes")
    values = np.frombuffer(signature, dtype=_DTYPE)
    if num_perm is not None and len(values) != num_perm:
        raise ValueError(f"signature has {len(values)} permutations, expected {num_perm}")
    return values


def signature_from_bytes(signature: bytes) -> LeanMinHash:
    """The datasketch object for a stored signature (for datasketch APIs that want one)."""
    return LeanMinHash(seed=_SEED, hashvalues=_hashvalues(signature), scheme=_SCHEME)


def estimate_jaccard(a: bytes, b: bytes) -> float:
    """Estimated Jaccard similarity of the two texts' shingle sets, in [0, 1].

    The share of equal hash values, which is what ``MinHash.jaccard`` computes, without
    building two objects per comparison.
    """
    left, right = _hashvalues(a), _hashvalues(b)
    if len(left) != len(right):
        raise ValueError(f"signatures differ in size: {len(left)} vs {len(right)} permutations")
    return float(np.count_nonzero(left == right)) / len(left)


def classify(similarity: float) -> Classification:
    """Name a Jaccard similarity by the thresholds ``SAME_ARTICLE`` and ``SAME_STORY``."""
    if similarity >= SAME_ARTICLE:
        return "same_article"
    if similarity >= SAME_STORY:
        return "same_story"
    return "different"


class NearDuplicateIndex:
    """Recent articles' signatures in a MinHash LSH index, keyed by article id.

    LSH finds candidates without comparing against every stored article; each candidate is
    then scored exactly (estimated Jaccard) and those below ``threshold`` are dropped, since LSH
    lets some through. Kept in memory: the pipeline loads the last days' signatures at start
    and removes articles as they age out. Keys behave like dict keys: adding an existing key
    replaces its signature, removing a missing key raises KeyError.
    """

    def __init__(self, threshold: float = SAME_STORY, num_perm: int = NUM_PERM) -> None:
        if not 0.0 < threshold <= 1.0:
            raise ValueError(f"threshold must be in (0, 1], got {threshold}")
        self.threshold = threshold
        self.num_perm = num_perm
        self._lsh = MinHashLSH(threshold=threshold, num_perm=num_perm)
        self._signatures: dict[int, np.ndarray] = {}

    def __len__(self) -> int:
        return len(self._signatures)

    def __contains__(self, key: object) -> bool:
        return key in self._signatures

    def add(self, key: int, signature: bytes) -> None:
        values = _hashvalues(signature, self.num_perm)
        if key in self._signatures:
            self.remove(key)
        self._lsh.insert(key, self._lean(values), check_duplication=False)
        self._signatures[key] = values

    def remove(self, key: int) -> None:
        if key not in self._signatures:
            raise KeyError(key)
        self._lsh.remove(key)
        del self._signatures[key]

    def query(self, signature: bytes) -> list[tuple[int, float]]:
        """Stored keys whose estimated Jaccard with ``signature`` is at least the threshold,
        most similar first (ties by key, so results are deterministic)."""
        values = _hashvalues(signature, self.num_perm)
        scored = []
        for key in self._lsh.query(self._lean(values)):
            similarity = float(np.count_nonzero(self._signatures[key] == values)) / len(values)
            if similarity >= self.threshold:
                scored.append((key, similarity))
        scored.sort(key=lambda item: (-item[1], item[0]))
        return scored

    @staticmethod
    def _lean(values: np.ndarray) -> LeanMinHash:
        return LeanMinHash(seed=_SEED, hashvalues=values, scheme=_SCHEME)
