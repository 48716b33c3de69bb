"""Which language an article is in: the feed's word first, lingua's guess second.

Feeds usually declare a language (``<language>en-us</language>``, ``xml:lang``), and that is
cheaper and more reliable than any guess, so a valid declaration wins. Detection only runs for
feeds that say nothing; it looks at the start of the text (URLs removed: a Russian video
description full of links was "French" to lingua) and gives up rather than guess on short or
ambiguous text.

Memory, measured with the 19 default languages (lingua 2.1.1, Python 3.11):

* low-accuracy mode (trigram models only, the default), preloaded: 0.2 s to build, about
  27 MB RSS, 2.5 ms per 1000-character text (0.4 ms per 200 characters);
* high-accuracy mode: 2.6 s and about 500 MB preloaded, or 330-400 MB loaded lazily (4 s)
  on the first Latin-script texts.

The modes agree on texts of 120+ characters (all ~1470 such corpus entries right in both, bar
one iBash quote that is mostly an SQL table); high accuracy only helps on headline-length
text, which low-accuracy mode therefore answers only when it is very sure.

Build one ``LanguageDetector`` per process and pass it to whoever needs it: models are loaded
once, and the object is safe to share between threads.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache

import pycountry
from lingua import IsoCode639_1, LanguageDetectorBuilder

DEFAULT_LANGUAGES: tuple[str, ...] = (
    "en", "fr", "de", "es", "ru", "it", "pt", "nl", "sv", "uk",
    "pl", "zh", "ja", "ko", "ar", "ur", "sk", "cs", "tr",
)  # fmt: skip

# The start of an article says its language; more only costs time (lingua's cost grows with
# the text: ~0.65 ms for 400 characters, ~1.3 ms for 1000). On the 2078 corpus feed entries,
# 400 characters give the same answer as 1000 for every entry (300: 2 differ, 200: 4).
MAX_CHARS = 400
MIN_LETTERS = 20  # below this any answer is a coin toss
SHORT_TEXT_CHARS = 120  # lingua's own boundary between "short" and "long" text

# Minimum top confidence, measured on 1929 corpus feed entries (title + text, URLs removed).
# Long texts: every right answer scored >= 0.9 in both modes, so 0.5 only drops true ties.
# Short texts, low accuracy: at 0.9 it keeps 355/372 right answers and 3/24 wrong ones
# (at 0.5: 18/24 wrong). High accuracy spreads its confidence thinner but is rarely wrong:
# at 0.5 it keeps 371/395 right answers and no wrong ones.
LONG_TEXT_MIN_CONFIDENCE = 0.5
SHORT_TEXT_MIN_CONFIDENCE = {False: 0.9, True: 0.5}  # keyed by high_accuracy

# Old ISO 639-1 codes still sent by some CMSs (Java's Locale used them for years).
_LEGACY_CODES = {"iw": "he", "in": "id", "ji": "yi", "jw": "jv", "mo": "ro"}

_URL_OR_EMAIL = re.compile(r"(?:[a-z][a-z0-9+.-]*://|www\.)\S+|\S+@\S+\.\w+", re.IGNORECASE)
_TAG_SEPARATORS = re.compile(r"[-_.@]")


@lru_cache(maxsize=512)
def normalize_language_tag(tag: str | None) -> str | None:
    """The ISO 639-1 code of a declared language tag, or None when it names no language.

    Accepts what feeds actually send: "en-us", "fr-FR", "de_DE", " EN ", "zh-Hans-CN",
    "pt-BR", three-letter codes ("fra", "ger"), legacy codes ("iw" for Hebrew). The region
    and script are dropped: summaries and search care about the language, not the country.
    "und", "mul", "x-default" and other non-languages give None.
    """
    if not isinstance(tag, str):
        return None
    base = _TAG_SEPARATORS.split(tag.strip().lower(), maxsplit=1)[0]
    base = _LEGACY_CODES.get(base, base)
    if len(base) == 2:
        record = pycountry.languages.get(alpha_2=base)
    elif len(base) == 3:
        record = pycountry.languages.get(alpha_3=base) or pycountry.languages.get(
            bibliographic=base
        )
    else:
        return None
    code = getattr(record, "alpha_2", None) if record is not None else None
    return code if isinstance(code, str) else None


class LanguageDetector:
    """lingua restricted to the languages the bot serves, plus the declared-tag shortcut.

    Restricting the set matters twice: fewer models in memory, and fewer wrong answers
    (a Swedish headline cannot be misread as Norwegian if Norwegian is not a candidate).
    Unknown codes in ``languages`` raise ValueError at start-up rather than silently
    shrinking the set.
    """

    def __init__(
        self,
        languages: Iterable[str] = DEFAULT_LANGUAGES,
        *,
        high_accuracy: bool = False,
        preload: bool | None = None,
    ) -> None:
        codes = sorted({code.strip().lower() for code in languages})
        unknown = [code for code in codes if not hasattr(IsoCode639_1, code.upper())]
        if unknown:
            raise ValueError(f"lingua cannot detect these languages: {', '.join(unknown)}")
        if not codes:
            raise ValueError("at least one language is needed")
        self.languages: tuple[str, ...] = tuple(codes)
        self.high_accuracy = high_accuracy
        builder = LanguageDetectorBuilder.from_iso_codes_639_1(
            *(getattr(IsoCode639_1, code.upper()) for code in codes)
        )
        if not high_accuracy:
            builder = builder.with_low_accuracy_mode()
        # Preloading is cheap in low-accuracy mode and makes the first detection as fast as
        # the rest; in high-accuracy mode it costs seconds and ~500 MB, so load lazily there.
        if preload is None:
            preload = not high_accuracy
        if preload:
            builder = builder.with_preloaded_language_models()
        self._detector = builder.build()

    def detect(self, text: str, declared: str | None = None) -> str | None:
        """ISO 639-1 code of ``text``'s language; the declared tag wins when it is valid.

        None when there is no valid declaration and the text is too short (fewer than
        ``MIN_LETTERS`` letters once URLs are removed) or lingua is not confident enough.
        """
        code = normalize_language_tag(declared)
        if code is not None:
            return code
        sample = " ".join(_URL_OR_EMAIL.sub(" ", text[: MAX_CHARS * 2]).split())[:MAX_CHARS]
        if sum(ch.isalpha() for ch in sample) < MIN_LETTERS:
            return None
        values = self._detector.compute_language_confidence_values(sample)
        if not values:
            return None
        best = values[0]
        minimum = (
            LONG_TEXT_MIN_CONFIDENCE
            if len(sample) >= SHORT_TEXT_CHARS
            else SHORT_TEXT_MIN_CONFIDENCE[self.high_accuracy]
        )
        if best.value < minimum:
            return None
        return best.language.iso_code_639_1.name.lower()
