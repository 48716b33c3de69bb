"""Feed bytes → UTF-8 that feedparser can parse without blowing up, crashing or reading files.

Pure: bytes in, bytes out. ``parse.py`` hands feedparser the result of :func:`defused_utf8`,
never the raw body, because three things in a hostile (or merely broken) document otherwise
get through feedparser:

- **Entity expansion.** feedparser drops nested entity declarations only when each starts a
  line, expat caps expansion only at 100 times the input (with the byte cap, a gigabyte), and
  feedparser's fallback parser expands the "safe" ones it keeps without any limit: one 50 KB
  entity referenced 4,000 times was 200 MB. Every declaration except a short internal text
  entity (``_SAFE_ENTITY``) is disabled: renamed, so it defines nothing; the strict parser then
  gives way to feedparser's loose one, which knows only the safe ones. External entities are
  never read either way (feedparser tells expat not to, and they are disabled here too).
- **Character references feedparser crashes on.** Its loose parser raises on ``&#xD800;``
  (a surrogate) or ``&#x110000;``; references to anything XML forbids are dropped, and a
  surrogate pair written as two references becomes the character it encodes. Its HTML
  sanitiser runs ``int()`` on references inside escaped HTML (``&amp;#...;``), which Python
  refuses past 4300 digits: any reference of more than 8 digits, escaped or not, is read as
  U+FFFD.
- **A few bad bytes in UTF-8.** feedparser then re-reads the whole document with chardet's
  guess (cp1252 at best, a DOS code page at worst); here the bad bytes become U+FFFD instead.

The checks run on decoded text, decoded by feedparser's own rules (``convert_to_utf8``): in
UTF-16 or UTF-7 an entity declaration has no ASCII bytes to look for.
"""

from __future__ import annotations

import re
from typing import Any

from feedparser.encodings import convert_to_utf8

__all__ = ["UTF8_HEADERS", "defused_utf8"]

# How feedparser is told what it is given.
UTF8_HEADERS = {"content-type": "application/xml; charset=utf-8"}

_UTF8_DECLARATION = b"<?xml version='1.0' encoding='utf-8'?>\n"
_XML_DECLARATION = re.compile(r"^\ufeff?\s*<\?xml[^>]*?>")
_DECLARED_UTF8 = "document declared as utf-8,"  # feedparser's CharacterEncodingOverride
_REPLACEMENT = "\ufffd"
# A run of numeric character references, and one of them (hex or decimal digits).
_CHARREF_RUN = re.compile(rb"(?:&#(?:[xX][0-9a-fA-F]+|[0-9]+);)+")
_CHARREF = re.compile(rb"&#(?:[xX]([0-9a-fA-F]+)|([0-9]+));")
# The digits of any reference too long to be a character, escaped ones included.
_LONG_REF_DIGITS = re.compile(rb"(?<=#)(?:[xX][0-9a-fA-F]{9,}|[0-9]{9,})(?=;)")
_MAY_END_A_REF_PREFIX = frozenset(bytes([c]) for c in b"#xX0123456789abcdefABCDEF")
# An entity declaration that cannot amplify or read anything: an internal general entity
# whose value is one character reference or at most 8 plain characters (&nbsp; → "&#160;").
# A reference is at least 3 bytes, so these expand a document less than threefold.
_SAFE_ENTITY = re.compile(
    rb"<!ENTITY\s+[A-Za-z_:][\w.:-]{0,63}\s+"
    rb"(?:\"(?:&#(?:x[0-9a-fA-F]{1,6}|[0-9]{1,7});|[^\"&<>%]{0,8})\""
    rb"|'(?:&#(?:x[0-9a-fA-F]{1,6}|[0-9]{1,7});|[^'&<>%]{0,8})')\s*>"
)
_DISABLED_ENTITY = b"<!DISABLED-ENTITY"  # no parser knows it: the declaration defines nothing


def defused_utf8(body: bytes, headers: dict[str, str]) -> tuple[bytes, str | None, list[str]]:
    """``body`` as UTF-8 with an XML declaration saying so, decoded as feedparser would
    (``headers``: the response's Content-Type, as feedparser takes it), defused.

    Returns (UTF-8 bytes, the decoding's warning or None, what was defused, in words).
    """
    result: dict[str, Any] = {}
    try:
        data = convert_to_utf8(headers, body, result)
    except UnicodeError as exc:  # a codec that fails in a way feedparser does not expect
        result = {"bozo_exception": exc}
    warning = str(result["bozo_exception"]) if result.get("bozo_exception") else None
    bad = _bad_utf8(body) if (warning or "").lower().startswith(_DECLARED_UTF8) else 0
    if not result.get("encoding") or bad:
        # Nothing else decoded it, or UTF-8 with a few bad bytes: those become U+FFFD.
        text = _XML_DECLARATION.sub("", body.decode("utf-8", "replace"))
        data = _UTF8_DECLARATION + text.encode()
        if bad:
            warning = f"invalid UTF-8: {bad} bad byte sequences replaced"
    defused = []
    data, refs = _repair_charrefs(data)
    if refs:
        defused.append(f"dropped invalid character references ({refs})")
    data, entities = _disable_unsafe_entities(data)
    if entities:
        defused.append(f"disabled entity declarations that could expand or read files ({entities})")
    return data, warning, defused


def _bad_utf8(body: bytes) -> int:
    """How many bad sequences ``body`` has if it is UTF-8 with a few bad bytes, else 0.

    "A few": at least twice as many valid non-ASCII characters as bad sequences. A Latin-1
    document has next to no valid UTF-8 sequences, so it stays with feedparser's reading.
    """
    text = body.decode("utf-8", "replace")
    bad = text.count(_REPLACEMENT) - body.count(_REPLACEMENT.encode())
    valid = sum(1 for ch in text if ch > "\x7f") - text.count(_REPLACEMENT)
    return bad if bad > 0 and 2 * bad <= valid else 0


def _repair_charrefs(data: bytes) -> tuple[bytes, int]:
    """``data`` with character references to what XML forbids dropped; how many changed."""
    data, changed = _LONG_REF_DIGITS.subn(b"65533", data)

    def repair(run: re.Match[bytes]) -> bytes:
        nonlocal changed
        fixed = _valid_charrefs(run[0])
        if fixed == run[0]:
            return fixed
        changed += 1
        # Dropped from "&#12&#0;34;", the run would leave a new reference behind ("&#1234;"):
        # after what may end one ("&#", "&#x", digits), a space instead.
        joins = not fixed and data[run.start() - 1 : run.start()] in _MAY_END_A_REF_PREFIX
        return b" " if joins else fixed

    return _CHARREF_RUN.sub(repair, data), changed


def _valid_charrefs(run: bytes) -> bytes:
    """A run of character references with those XML forbids dropped; unchanged when valid."""
    points = []
    for hex_digits, decimal in _CHARREF.findall(run):
        digits = (hex_digits or decimal).lstrip(b"0") or b"0"
        # Bound the digits first: int() of a million digits is slow, then refused.
        points.append(int(digits, 16 if hex_digits else 10) if len(digits) <= 8 else -1)
    kept: list[int] = []
    for point in points:
        if 0xDC00 <= point <= 0xDFFF and kept and 0xD800 <= kept[-1] <= 0xDBFF:
            kept[-1] = 0x10000 + ((kept[-1] - 0xD800) << 10) + (point - 0xDC00)
        else:
            kept.append(point)
    valid = [p for p in kept if _is_xml_char(p)]
    if valid == points:
        return run
    return b"".join(b"&#%d;" % p for p in valid)


def _is_xml_char(point: int) -> bool:
    return (
        point in (0x9, 0xA, 0xD)
        or 0x20 <= point <= 0xD7FF
        or 0xE000 <= point <= 0xFFFD
        or 0x10000 <= point <= 0x10FFFF
    )


def _disable_unsafe_entities(data: bytes) -> tuple[bytes, int]:
    """``data`` with every entity declaration but the ``_SAFE_ENTITY`` ones disabled.

    Renamed where it starts rather than removed: finding where a hostile declaration ends
    (quotes, nesting, no end at all) is the kind of parsing this is here to avoid.
    """
    disabled = 0

    def disable(declaration: re.Match[bytes]) -> bytes:
        nonlocal disabled
        if _SAFE_ENTITY.match(data, declaration.start()):
            return declaration[0]
        disabled += 1
        return _DISABLED_ENTITY

    return re.sub(rb"<!ENTITY", disable, data), disabled
