"""Translations: every message the bot can say exists in each catalogue, placeholders intact."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from bot.chat.i18n import LOCALES_DIR, available_languages, pick_language, t, tn

BOT_DIR = Path(__file__).resolve().parents[1] / "bot"
KEYWORDS = {"t": (2,), "tn": (2, 3), "N_": None}
PLACEHOLDER = re.compile(r"\{(\w+)\}")


def source_messages() -> set[str | tuple[str, str]]:
    """Every message in the code: strings, and (singular, plural) pairs of counted ones."""
    found: set[str | tuple[str, str]] = set()
    for _file, _line, message, _comments, _context in extract_from_dir(
        str(BOT_DIR), method_map=[("**.py", "python")], keywords=KEYWORDS
    ):
        if isinstance(message, str) and message:
            found.add(message)
        elif isinstance(message, tuple) and len(message) == 2:
            found.add((str(message[0]), str(message[1])))
    return found


def test_the_code_has_messages_to_translate() -> None:
    messages = source_messages()
    assert len(messages) > 50
    assert "Sorry, this is for the bot's administrators only." in messages


@pytest.mark.parametrize("language", [lang for lang in available_languages() if lang != "en"])
def test_each_catalogue_translates_every_message_with_the_same_placeholders(
    language: str,
) -> None:
    path = LOCALES_DIR / language / "LC_MESSAGES" / "newsbrief.po"
    with path.open("rb") as handle:
        catalog = read_po(handle, locale=language)
    translated: dict[str | tuple[str, str], tuple[str, ...]] = {}
    for m in catalog:
        if not m.id or m.fuzzy:
            continue
        forms = m.string if isinstance(m.string, tuple) else (m.string,)
        if all(forms):
            key = m.id if isinstance(m.id, str) else (str(m.id[0]), str(m.id[1]))
            translated[key] = tuple(str(f) for f in forms)
    missing = sorted(map(str, source_messages() - set(translated)))
    assert not missing, f"{language}: {len(missing)} untranslated, e.g. {missing[:3]}"
    for msgid, texts in translated.items():
        ids = (msgid,) if isinstance(msgid, str) else msgid
        wanted = {name for text in ids for name in PLACEHOLDER.findall(text)}
        for text in texts:
            used = set(PLACEHOLDER.findall(text))
            # A plural form may leave {count} out ("the only filter"); nothing else may go.
            assert used <= wanted and wanted - {"count"} <= used, (msgid, text)


def test_french_is_available_and_used_for_french_speakers() -> None:
    assert "fr" in available_languages()
    assert t("fr", "Sorry, this is for the bot's administrators only.") != (
        "Sorry, this is for the bot's administrators only."
    )


def test_language_codes_fall_back_to_their_base_then_to_english() -> None:
    assert pick_language("fr-CA") == "fr"
    assert pick_language("pt-br") == "en"
    assert pick_language(None) == "en"
    assert pick_language("") == "en"


def form(language: str, n: int) -> str:
    """The counted message's wording for ``n``, with the number itself taken out."""
    text = tn(language, "Latest news: {count} story", "Latest news: {count} stories", n)
    assert str(n) in text
    return text.replace(str(n), "#")


def test_counted_messages_take_the_form_each_language_needs() -> None:
    assert form("en", 1) != form("en", 2) == form("en", 0)
    # French: 0 and 1 take the singular.
    assert form("fr", 0) == form("fr", 1) != form("fr", 2)
    # Russian: one (1, 21), few (3), many (5, 11).
    assert form("ru", 1) == form("ru", 21)
    assert len({form("ru", 1), form("ru", 3), form("ru", 5)}) == 3
    assert form("ru", 5) == form("ru", 11)


def test_messages_are_formatted_and_unknown_ones_pass_through() -> None:
    assert t("en", "Hello {name}", name="Ann") == "Hello Ann"
    assert t("xx", "Not in any catalogue") == "Not in any catalogue"
    assert t(None, "{count} stories", count=3) == "3 stories"
