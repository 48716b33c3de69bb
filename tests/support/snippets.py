"""What the snippet tests (tests/test_snippets.py) and the search tests that check snippets of
hits (tests/test_search.py) share: a long French text, and the words a snippet highlights."""

from __future__ import annotations

# Longer than a snippet (two copies of five sentences), so a snippet is a window of it.
LONG = (
    "Le gouvernement a présenté son budget. Les syndicats ont réagi vivement. "
    "Les débats dureront plusieurs semaines au Parlement. "
    "Après des mois de campagne, les Élections régionales auront lieu en mars, "
    "et les candidats ont déposé leurs listes. La participation devrait être faible. "
    "Les résultats seront publiés le soir même. " * 2
)


def marked(snippet: str, spans: list[tuple[int, int]]) -> list[str]:
    """The highlighted parts of ``snippet``, in order."""
    return [snippet[s:e] for s, e in spans]
