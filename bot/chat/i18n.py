"""Translations of the bot's texts: gettext catalogues (``locales/<lang>/LC_MESSAGES``).

Messages are written in English in the code as ``t(lang, "text {name}", name=...)``, or
``tn(lang, "{count} story", "{count} stories", n)`` where the wording depends on a number;
``make i18n`` (`pybabel extract -k t:2 -k tn:2,3 -k N_`) collects them into
``locales/newsbrief.pot``. Catalogues are read from the ``.po`` files with Babel at first use,
so there is no compile step to forget: what is in the repository is what runs. Plural forms
follow each catalogue's own rule (Russian has three). A missing translation falls back to
English, never to an error.
"""

from __future__ import annotations

import functools
import gettext
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from babel.messages.pofile import read_po

LOCALES_DIR = Path(__file__).resolve().parent / "locales"
DEFAULT_LANGUAGE = "en"
DOMAIN = "newsbrief"


def _english_plural(n: int) -> int:
    return 0 if n == 1 else 1


@dataclass(frozen=True, slots=True)
class _Catalog:
    singular: dict[str, str] = field(default_factory=dict)
    plural: dict[str, tuple[str, ...]] = field(default_factory=dict)
    plural_index: Callable[[int], int] = _english_plural


@functools.cache
def _catalog(language: str) -> _Catalog:
    path = LOCALES_DIR / language / "LC_MESSAGES" / f"{DOMAIN}.po"
    if not path.is_file():
        return _Catalog()
    with path.open("rb") as handle:
        catalog = read_po(handle, locale=language)
    singular: dict[str, str] = {}
    plural: dict[str, tuple[str, ...]] = {}
    for message in catalog:
        if not message.id or message.fuzzy:
            continue
        if isinstance(message.id, str):
            if isinstance(message.string, str) and message.string:
                singular[message.id] = message.string
        elif isinstance(message.string, tuple) and all(message.string):
            plural[str(message.id[0])] = tuple(str(s) for s in message.string)
    return _Catalog(singular, plural, gettext.c2py(catalog.plural_expr))


def available_languages() -> list[str]:
    """English plus every language with a catalogue."""
    return list(_languages())


@functools.cache
def _languages() -> tuple[str, ...]:
    # Read once: every incoming update asks (pick_language), and the catalogues ship with the code.
    found = {p.parent.parent.name for p in LOCALES_DIR.glob(f"*/LC_MESSAGES/{DOMAIN}.po")}
    return (DEFAULT_LANGUAGE, *sorted(found - {DEFAULT_LANGUAGE}))


def pick_language(code: str | None) -> str:
    """The catalogue for a Telegram ``language_code`` ("fr", "pt-br", None): its base language
    when we have it, else English."""
    if not code:
        return DEFAULT_LANGUAGE
    base = code.replace("_", "-").split("-")[0].lower()
    return base if base in _languages() else DEFAULT_LANGUAGE


def t(language: str | None, message: str, /, **values: object) -> str:
    """``message`` in ``language`` with ``{name}`` placeholders filled from ``values``."""
    text = _catalog(pick_language(language)).singular.get(message, message) if language else message
    return text.format(**values) if values else text


def tn(language: str | None, singular: str, plural: str, count: int, /, **values: object) -> str:
    """The form of a counted message that ``count`` needs in ``language``; ``{count}`` and the
    other placeholders are filled in."""
    catalog = _catalog(pick_language(language)) if language else _Catalog()
    forms = catalog.plural.get(singular)
    if forms is None:
        text = singular if count == 1 else plural
    else:
        text = forms[min(max(catalog.plural_index(count), 0), len(forms) - 1)]
    return text.format(count=count, **values)


def N_(message: str) -> str:
    """Mark a message for extraction where it is defined; translate it with :func:`t` later."""
    return message
