"""Deduplication keys for articles: canonical URLs, content hashes and MinHash signatures.

Three layers, cheapest first, because the same article reaches us in several ways:

* the same link with different tracking junk, scheme or ``www.`` (``canonical_url`` gives a
  URL worth linking to, ``url_key`` a scheme-insensitive string worth looking up);
* the same text under different links (``content_hash`` of the normalised text);
* nearly the same text (the RSS and Atom renderings of one post, a wire story re-published
  with a new headline): ``minhash_signature`` + ``NearDuplicateIndex``, with Jaccard
  thresholds ``SAME_ARTICLE`` and ``SAME_STORY``.

Everything here is pure except ``NearDuplicateIndex``, an in-memory index the pipeline fills
from stored signatures. Signatures are plain bytes so storage needs no datasketch objects, and
they stay comparable across processes only because the seed, permutation scheme and shingle
hash below are fixed: changing any of them invalidates every stored signature.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from functools import lru_cache
from typing import Literal
from urllib.parse import urldefrag, urljoin, urlsplit

import numpy as np
from courlan import normalize_url
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
_SEED = 1
_SCHEME: Literal["affine64"] = "affine64"
_DTYPE = np.dtype("<u8")  # hash values are stored as little-endian uint64, 8 bytes each

_ALLOWED_SCHEMES = frozenset({"http", "https"})

# Han, kana, Thai, Lao, Myanmar, Khmer: scripts that do not separate words with spaces.
# Korean is left out on purpose: Hangul text is spaced, so word shingles work for it.
_UNSPACED_CHAR = re.compile(
    "[\u0e00-\u0eff\u1000-\u109f\u1780-\u17ff\u3040-\u30ff\u31f0-\u31ff"
    "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0003134f]"
)

Classification = Literal["same_article", "same_story", "different"]


# --- URLs -------------------------------------------------------------------------------------


def canonical_url(url: str | None, base: str | None = None) -> str | None:
    """A clean absolute http(s) URL to link to and store, or None for anything else.

    Relative links are resolved against ``base`` (the feed's or page's own URL); then courlan
    lowercases the host, drops default ports and strips tracking parameters (utm_*, fbclid,
    gclid, xtor, mc_cid, ...). Not ``strict=True``: it keeps only a short allow-list and drops
    real parameters such as ``?article=`` or ``?story_id=``, which would merge different
    articles. Fragments are dropped: they point into a page, not to another article (hash-routed
    sites aside). ``javascript:``, ``data:``, ``mailto:`` and unparsable input give None: this
    runs on untrusted feed content and must never raise.
    """
    if not isinstance(url, str) or not url.strip():
        return None
    try:
        raw = url.strip()
        if base:
            raw = urljoin(base.strip(), raw)
        raw = urldefrag(raw).url
        if not _is_web_url(raw):
            return None
        normalized = normalize_url(raw, strict=False)
        # courlan may rebuild the netloc; re-check so the contract holds for its output too.
        return normalized if _is_web_url(normalized) else None
    except Exception:  # courlan/urllib raise assorted errors on garbage; garbage means None
        return None


def url_key(url: str | None) -> str | None:
    """A scheme-insensitive lookup key: ``http://www.x.org/a/`` and ``https://x.org/a`` agree.

    Sites serve the same article over http and https, with and without ``www.`` and a trailing
    slash, and feeds switch between them over the years; none of that makes a new article. The
    key is for duplicate lookup only (it is not a URL); link with ``canonical_url``. Returns
    None when ``url`` is not a usable http(s) URL.
    """
    canonical = canonical_url(url)
    if canonical is None:
        return None
    parts = urlsplit(canonical)
    host = parts.netloc.removeprefix("www.")
    path = parts.path.rstrip("/")
    return f"{host}{path}?{parts.query}" if parts.query else f"{host}{path}"


def _is_web_url(url: str) -> bool:
    parts = urlsplit(url)
    if parts.scheme.lower() not in _ALLOWED_SCHEMES or not parts.hostname:
        return False
    if any(ch.isspace() or ord(ch) < 0x20 for ch in parts.netloc):
        return False
    _ = parts.port  # raises ValueError on a non-numeric or out-of-range port
    return True


# --- Text -------------------------------------------------------------------------------------


class _SeparatorTable(dict[int, str]):
    """``str.translate`` table, filled lazily: punctuation, symbols, spaces and controls become
    a space, invisible format characters (soft hyphen, zero-width space) vanish so the word they
    split joins back, everything else maps to itself.

    Deciding by Unicode category keeps combining marks (Devanagari vowel signs, Arabic
    harakat) that a ``[^\\w\\s]`` regex would strip, and caching per code point keeps it fast.
    """

    def __missing__(self, codepoint: int) -> str:
        category = unicodedata.category(chr(codepoint))
        if category[0] in "PSZ" or category == "Cc":
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


def _shingle_hash(data: bytes) -> int:
    # Our own stable 64-bit hash, so a datasketch upgrade cannot silently change signatures.
    return int.from_bytes(hashlib.blake2b(data, digest_size=8).digest(), "little")


@lru_cache(maxsize=4)
def _empty_minhash(num_perm: int) -> MinHash:
    """A blank MinHash to copy: building the permutations once is what ``MinHash.bulk`` saves."""
    return MinHash(num_perm=num_perm, seed=_SEED, hashfunc=_shingle_hash, scheme=_SCHEME)


def minhash_signature(text: str, num_perm: int = NUM_PERM) -> bytes | None:
    """The MinHash of the text's shingles as ``num_perm`` little-endian uint64 values (1 KB).

    Hashing is batched (``update_batch``: one numpy pass over all shingles instead of one
    Python call per shingle). None when the text has fewer than ``MIN_SHINGLES`` shingles: a
    headline-length text would match unrelated headlines by chance.
    """
    items = shingles(text)
    if len(items) < MIN_SHINGLES:
        return None
    minhash = _empty_minhash(num_perm).copy()
    minhash.update_batch([item.encode("utf-8") for item in items])
    return np.asarray(minhash.hashvalues, dtype=_DTYPE).tobytes()


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
