"""The :class:`Query` compiled for each index: an FTS5 MATCH expression (SQLite) or
to_tsquery('simple', ...) text (PostgreSQL), with the exclusions' forms for a listing.

Kept apart from the parser (:mod:`storage.query`) because this is the one place that writes
either query language: every quote, operator and prefix mark comes from here, around words
the parser has already reduced to letters, digits and marks, so nothing the user typed is
syntax to either engine. :func:`map_words` rewrites a query's words before compiling, for
PostgreSQL's unaccent (see :mod:`storage.search`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import replace

from storage.query import Atom, Phrase, Query, Term


def _fts5_atom(atom: Atom) -> str:
    # Words hold only letters, digits and marks, so nothing inside the quotes is syntax;
    # doubling quotes anyway keeps that true if words_of ever changes.
    text = " ".join(atom.words).replace('"', '""')
    return f'"{text}"' + ("*" if atom.prefix else "")


def _fts5_any(atoms: Iterable[Atom]) -> str:
    return " OR ".join(_fts5_atom(atom) for atom in atoms)


def fts5_query(query: Query) -> str | None:
    """The FTS5 MATCH expression for the positive groups minus the exclusions; None when
    there is no positive word (FTS5 cannot match a pure negation)."""
    if not query.groups:
        return None
    positive = " AND ".join(f"({_fts5_any(group)})" for group in query.groups)
    if query.excluded:
        return f"({positive}) NOT ({_fts5_any(query.excluded)})"
    return positive


def fts5_exclusions(query: Query) -> str | None:
    """A MATCH expression for any excluded atom: filters a listing without positive words."""
    return _fts5_any(query.excluded) if query.excluded else None


def _lexeme(word: str, prefix: bool) -> str:
    quoted = "'" + word.replace("\\", "\\\\").replace("'", "''") + "'" + (":*" if prefix else "")
    if word.isascii() and word.isdigit():
        # PostgreSQL's parser reads "covid-19" as 'covid' '-19' (a signed integer).
        signed = f"'-{word}'" + (":*" if prefix else "")
        return f"({quoted} | {signed})"
    return quoted


def _tsquery_atom(atom: Atom) -> str:
    last = len(atom.words) - 1
    lexemes = [_lexeme(word, atom.prefix and n == last) for n, word in enumerate(atom.words)]
    return lexemes[0] if len(lexemes) == 1 else "(" + " <-> ".join(lexemes) + ")"


def _tsquery_any(atoms: Iterable[Atom]) -> str:
    return "(" + " | ".join(_tsquery_atom(atom) for atom in atoms) + ")"


def tsquery_text(query: Query) -> str | None:
    """to_tsquery('simple', ...) text for the positive groups minus the exclusions; None
    without positive words. The words must already be what the index holds: unaccented by
    PostgreSQL itself (see :func:`map_words`), so that both sides fold alike."""
    if not query.groups:
        return None
    parts = [_tsquery_any(group) for group in query.groups]
    parts.extend("!" + _tsquery_any([atom]) for atom in query.excluded)
    return " & ".join(parts)


def tsquery_exclusions(query: Query) -> str | None:
    """tsquery text matching any excluded atom: filters a listing without positive words."""
    return _tsquery_any(query.excluded) if query.excluded else None


def map_words(query: Query, change: Callable[[str], list[str]]) -> Query:
    """``query`` with every word replaced by ``change(word)``: several words make a phrase,
    none drops the atom (and a group left empty). Used to unaccent words for PostgreSQL."""

    def atom_of(atom: Atom) -> Atom | None:
        words = [new for word in atom.words for new in change(word)]
        if not words:
            return None
        if isinstance(atom, Term) and len(words) == 1:
            return Term(words[0], atom.prefix)
        return Phrase(tuple(words), atom.prefix)

    groups = []
    for group in query.groups:
        atoms = tuple(a for a in map(atom_of, group) if a is not None)
        if atoms:
            groups.append(atoms)
    excluded = tuple(a for a in map(atom_of, query.excluded) if a is not None)
    return replace(query, groups=tuple(groups), excluded=excluded)
