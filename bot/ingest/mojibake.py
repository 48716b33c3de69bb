"""Repair UTF-8 text that was decoded with the wrong charset (mojibake), and nothing else."""

from __future__ import annotations

import re

import ftfy
from ftfy.badness import BADNESS_RE, MOJIBAKE_CATEGORIES

__all__ = ["fix_mojibake"]

# --- Mojibake ---------------------------------------------------------------------------

# Only the encoding repairs. ftfy's other defaults would change clean text: straightening
# curly quotes, turning full-width CJK punctuation into ASCII, NFC normalisation, expanding
# ligatures, unescaping HTML. We promise to leave clean text exactly as it is.
_FTFY_CONFIG = ftfy.TextFixerConfig(
    unescape_html=False,
    remove_terminal_escapes=False,
    fix_encoding=True,
    restore_byte_a0=True,
    replace_lossy_sequences=True,
    decode_inconsistent_utf8=True,
    fix_c1_controls=True,
    fix_latin_ligatures=False,
    fix_character_width=False,
    uncurl_quotes=False,
    fix_line_breaks=False,
    fix_surrogates=False,
    remove_control_chars=False,
    normalization=None,
    explain=False,
)


# A cheap, exact gate in front of ftfy, which costs ~0.3 ms even on clean text. With the
# config above ftfy changes a line only when its badness regex matches in it (C1 controls
# included), and every branch of that regex needs one character of the rarer categories below
# (mojibake's "bad" signs, accented capitals, currency, quotes, box drawing...): lowercase
# accented letters, Cyrillic and CJK alone never trigger it. So: ASCII text is clean; other
# text is looked at only around those characters, with the badness regex itself (multi-line,
# as ftfy applies it line by line). tests/test_mojibake.py checks the premise against the
# installed ftfy's regex, so an ftfy upgrade that breaks it fails a test, not silently.
_MOJIBAKE_TRIGGERS = re.compile(
    "["
    + "".join(
        MOJIBAKE_CATEGORIES[name]
        for name in (
            "c1",
            "bad",
            "upper_accented",
            "start_punctuation",
            "end_punctuation",
            "currency",
            "numeric",
            "law",
            "box",
        )
    )
    + "ŒœØÙЂ°]"
)
_MOJIBAKE_NEARBY = re.compile(BADNESS_RE.pattern, BADNESS_RE.flags | re.MULTILINE)
_MOJIBAKE_REACH = 8  # longer than the longest badness pattern (7 characters)


def _may_be_mojibake(text: str) -> bool:
    """False only when ftfy would certainly leave ``text`` unchanged (see above)."""
    if text.isascii():
        return False
    if len(text) > _FTFY_CONFIG.max_decode_length:  # ftfy would cut lines we do not see
        return True
    for trigger in _MOJIBAKE_TRIGGERS.finditer(text):
        at = trigger.start()
        window = (max(0, at - _MOJIBAKE_REACH), at + _MOJIBAKE_REACH + 1)
        if _MOJIBAKE_NEARBY.search(text, *window):
            return True
    return False


def fix_mojibake(text: str) -> str:
    """Repair UTF-8 that was decoded as Windows-1252/Latin-1 ("fÃ¼r" → "für", "â€™" → "’").

    ftfy only rewrites sequences that are far more likely to be mojibake than real text, so
    clean French, German or Russian text comes back unchanged. Text that cannot contain what
    ftfy looks for (nearly all of it) skips ftfy entirely, with the same result.
    """
    if not _may_be_mojibake(text):
        return text
    try:
        return ftfy.fix_text(text, _FTFY_CONFIG)
    except Exception:  # pragma: no cover - ftfy is defensive; never let cleaning fail
        return text
