"""URL canonicalisation: one link per article whatever tracking junk, scheme or host case.

The cheapest dedup layer (``dedup.py`` adds content hashes and MinHash): the same article
reaches us through links that differ only in ``utm_*`` parameters, ``http``/``https``,
``www.``, a default port, a fragment or a trailing slash. ``canonical_url`` gives a URL worth
linking to and storing; ``url_key`` a scheme-insensitive string worth looking up. Both run on
untrusted feed content, so they return None for anything that is not a usable web URL and
never raise. Apart from ``dedup.py`` because they share nothing with text hashing: different
inputs, different library (courlan), different failure modes.
"""

from __future__ import annotations

import re
from functools import lru_cache
from urllib.parse import urldefrag, urljoin, urlsplit

from courlan import normalize_url

__all__ = ["canonical_url", "url_key"]

_ALLOWED_SCHEMES = frozenset({"http", "https"})
# Longer "URLs" are junk or tracking blobs (browsers and Telegram links stop near here), and
# PostgreSQL cannot index a key past ~2.7 KB: one such link would fail a whole feed's write.
MAX_URL_LENGTH = 2048


def canonical_url(url: str | None, base: str | None = None) -> str | None:
    """A clean absolute http(s) URL to link to and store, or None for anything else.

    Relative links are resolved against ``base`` (the feed's or page's own URL); then courlan
    lowercases the host, drops default ports and strips tracking parameters (utm_*, fbclid,
    gclid, xtor, mc_cid, ...). Not ``strict=True``: it keeps only a short allow-list and drops
    real parameters such as ``?article=`` or ``?story_id=``, which would merge different
    articles. Fragments are dropped: they point into a page, not to another article (hash-routed
    sites aside). ``javascript:``, ``data:``, ``mailto:``, unparsable input and URLs longer than
    ``MAX_URL_LENGTH`` give None: this runs on untrusted feed content and must never raise.

    Results are cached (a pure function of its two strings; feeds repeat their links on every
    fetch and several feeds carry the same wire links).
    """
    if not isinstance(url, str) or not url.strip():
        return None
    if base is not None and not isinstance(base, str):
        return _canonical_url(url, base)  # odd input, maybe unhashable: not cached
    return _cached_canonical_url(url, base)


def _canonical_url(url: str, base: str | None) -> str | None:
    try:
        raw = url.strip()
        if len(raw) > MAX_URL_LENGTH:
            return None
        if base:
            raw = urljoin(base.strip(), raw)
        raw = urldefrag(raw).url
        if not _is_web_url(raw):
            return None
        normalized = normalize_url(raw, strict=False)
        # courlan may rebuild the netloc; re-check so the contract holds for its output too.
        ok = _is_web_url(normalized) and len(normalized) <= MAX_URL_LENGTH
        return normalized if ok else None
    except Exception:  # courlan/urllib raise assorted errors on garbage; garbage means None
        return None


_cached_canonical_url = lru_cache(maxsize=8192)(_canonical_url)


def url_key(url: str | None, *, canonical: bool = False) -> str | None:
    """A scheme-insensitive lookup key: ``http://www.x.org/a/`` and ``https://x.org/a`` agree.

    Sites serve the same article over http and https, with and without ``www.`` and a trailing
    slash, and feeds switch between them over the years; none of that makes a new article. The
    key is for duplicate lookup only (it is not a URL); link with ``canonical_url``. Returns
    None when ``url`` is not a usable http(s) URL.

    ``canonical=True`` says ``url`` is already ``canonical_url``'s output, which then is not
    computed again: the cheapest way for a caller that has both (``url = canonical_url(link,
    base)``, then ``url_key(url, canonical=True)``). The key is the same either way, since
    canonical_url is idempotent.
    """
    canonical_form = url if canonical else canonical_url(url)
    if not canonical_form:
        return None
    parts = urlsplit(canonical_form)
    host = parts.netloc.removeprefix("www.")
    path = parts.path.rstrip("/")
    return f"{host}{path}?{parts.query}" if parts.query else f"{host}{path}"


# Whitespace (as str.isspace sees it, which is what \s matches) or a C0 control character.
_BAD_NETLOC_CHAR = re.compile(r"[\x00-\x1f\s]")


def _is_web_url(url: str) -> bool:
    parts = urlsplit(url)
    if parts.scheme.lower() not in _ALLOWED_SCHEMES or not parts.hostname:
        return False
    if _BAD_NETLOC_CHAR.search(parts.netloc):
        return False
    _ = parts.port  # raises ValueError on a non-numeric or out-of-range port
    return True
