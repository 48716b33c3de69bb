"""Turn a feed entry's body (HTML or plain text) into clean article paragraphs.

Pure: strings in, strings out, no I/O, no global state. The pipeline calls
:func:`clean_article` once per entry; :func:`learn_boilerplate` runs over a feed's recent
entries to find what that feed repeats everywhere (signatures, promos). Why: feeds carry HTML
of every quality (broken, double-escaped, full of share widgets); some crawlers stored UTF-8
decoded as Windows-1252 ("fÃ¼r"), which poisons search and language detection; and CMS
templates repeat paragraphs and append comment/share/"read more" footers that are not news
and would end up in a brief.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Collection, Iterable, Sequence
from functools import lru_cache

from bot.ingest.html_text import _collapse, _plain_paragraphs, _sanitize, html_to_text
from bot.ingest.mojibake import fix_mojibake
from bot.ingest.records import CleanResult

__all__ = [
    "clean_article",
    "fix_mojibake",
    "html_to_text",
    "is_footer",
    "learn_boilerplate",
    "normalize_paragraph",
]

# An article's text is cut after this many characters (whole paragraphs; a first paragraph
# longer than that at a word). Long reads run to ~60,000; beyond, a feed is stuffing its
# entries, and PostgreSQL's search vector refuses a text of ~1 MB with many distinct words,
# which would fail the write of the whole feed.
MAX_TEXT_CHARS = 100_000

# --- Footers and boilerplate --------------------------------------------------------------

_READ_MORE = (
    r"(?:read more|read the (?:full|whole|rest of the) (?:story|article|post)|continue reading|"
    r"keep reading|lire la suite|lire l[’']article(?: complet)?|weiterlesen|mehr lesen|"
    r"zum (?:ganzen )?artikel|leer (?:más|mas)|seguir leyendo|sigue leyendo|"
    r"читать (?:далее|дальше|полностью)|подробнее|learn more|en savoir plus|mehr erfahren)"
)
_DECOR = r"[\s.…:»›>→⟶\]\)\[\(!|–—-]*"
_SHARE = (
    r"(?:share(?: this(?: (?:article|story|post))?)?|partager(?: cet article| sur \w+)?|"
    r"teilen|diesen artikel teilen|compartir(?: en \w+)?|comparte esta noticia|поделиться|"
    r"share (?:on|via) \w+|like this|j[’']aime ?:? ?chargement…?|like loading\.*|tweet|pin it|"
    r"email this|e-?mail|imprimer|drucken|imprimir|print)"
)
_SOCIAL = (
    r"(?:twitter|facebook|instagram|youtube|linkedin|tiktok|telegram|threads|mastodon|x|"
    r"bluesky|google news|whatsapp|vk|вконтакте)"
)

_FOOTER_PATTERNS: tuple[re.Pattern[str], ...] = tuple(
    re.compile(rf"(?:{p})", re.I)
    for p in (
        # Blogger: the comment-form footer that its feeds and scrapes carry, per language.
        r"no comments\s*:?|\d+ comments?\s*:|post a comment|"
        r"note\s*: only a member of this blog may post a comment\.?|"
        r"newer post older post home|subscribe to\s*: post comments \(atom\)",
        r"aucun commentaire\s*:?|\d+ commentaires?\s*:|enregistrer un commentaire|"
        r"remarque\s*: seul un membre de ce blog est autorisé à enregistrer un commentaire\.?|"
        r"article plus récent article plus ancien accueil|"
        r"inscription à\s*: publier les commentaires \(atom\)",
        r"keine kommentare\s*:?|\d+ kommentare?\s*:|kommentar veröffentlichen|"
        r"hinweis\s*: nur ein mitglied dieses blogs kann kommentare posten\.?",
        r"no hay comentarios\s*:?|\d+ comentarios?\s*:|publicar un comentario|"
        r"nota\s*: solo los miembros de este blog pueden publicar comentarios\.?",
        r"комментариев нет\s*:?|\d+ комментари(?:й|я|ев)\s*:|отправить комментарий|"
        r"примечание\.? отправлять комментарии могут только участники этого блога\.?",
        # WordPress (Yoast/core) "appeared first on" feed footer, per language.
        r"the post .{1,250} appeared first on .{1,120}",
        r"l[’']article .{1,250} est apparu en premier sur .{1,120}",
        r"der beitrag .{1,250} erschien zuerst auf .{1,120}",
        r"la entrada .{1,250} (?:se publicó primero|aparece primero|apareció primero) en .{1,120}",
        r"запись .{1,250} впервые появилась .{1,120}",
        # "Read more" links, bare or followed by a linked headline ("Read more: ...").
        rf"{_DECOR}{_READ_MORE}{_DECOR}",
        rf"{_READ_MORE}\s*[:»›>→|–—-]\s*.{{1,150}}",
        r"continue reading .{1,150}[→»›]\s*|continue reading the main story",
        r"to read (?:this|the) (?:article|story|post) in full,? (?:please )?click here\.?",
        # Share bars and social buttons, alone on their line.
        rf"{_SHARE}\s*:?",
        rf"follow (?:us|[\w@.' ]{{1,40}}) on {_SOCIAL}(?:(?:,| and| or| &) {_SOCIAL})*\.?",
        rf"(?:suivez-nous|folgen sie uns|síguenos) (?:sur|auf|en) {_SOCIAL}"
        rf"(?:(?:,| et| und| y) {_SOCIAL})*\.?",
        r"(?:like this (?:story|article|post)\?\s*)?share (?:it|this(?: story| article)?) "
        r"with (?:a friend|friends|your friends)[.!]?",
        # "Related:/See also:" link lines, with the linked headline; "Also on site.com ...".
        r"(?:related|see also|also read|read also|lire aussi|à lire aussi|voir aussi|"
        r"lesen sie auch|mehr zum thema|lee también|te puede interesar|читайте также|"
        r"смотрите также)\s*:\s*.{1,200}",
        r"also on [\w-]+(?:\.[\w-]+)*\.[a-z]{2,} .{1,200}",
        # Related-posts widgets (Jetpack and friends) leave their heading behind.
        r"related(?: posts| articles| stories)?\s*:?|articles similaires\s*:?|"
        r"ähnliche (?:beiträge|artikel)\s*:?|entradas relacionadas\s*:?|"
        r"artículos relacionados\s*:?|похожие (?:записи|статьи)\s*:?",
        # Ad slots leave their label behind.
        r"advertisement|publicité|anzeige|werbung|publicidad|реклама",
        # An excerpt's truncation mark on its own line ("[…]", "[...]", "(…)").
        r"[\[\(]?\s*(?:…|\.\.\.)\s*[\]\)]?",
        # Separators and decoration: no letter or digit at all ("___", "* * *", "•").
        r"[\W_]+",
        # FeedBurner/feed-proxy leftovers that survive as text.
        r"(?:add to|subscribe)\s*:?\s*(?:del\.icio\.us|digg|google|yahoo|feedburner).{0,120}",
        r"(?:feeds\.feedburner\.com|feedproxy\.google\.com)\S*",
    )
)
# One alternation for the whole table: it fully matches exactly when one of the patterns
# does (fullmatch backtracks into the next branch), in a single call per paragraph.
_ANY_FOOTER = re.compile("|".join(f"(?:{p.pattern})" for p in _FOOTER_PATTERNS), re.I)
# Footers are short; anything longer is prose that happens to start like one.
_FOOTER_MAX_CHARS = 300


def is_footer(paragraph: str) -> bool:
    """Whether a whole paragraph is a known footer, share line or "read more" link.

    The patterns form a table rather than one regex so each stays readable and testable, and
    each must match the *whole* paragraph (``fullmatch``): "Read more" alone is a link, while
    "Read more books, says the minister" is a sentence. Paragraphs longer than
    300 characters are never footers.
    """
    return _is_collapsed_footer(_collapse(paragraph))


def _is_collapsed_footer(p: str) -> bool:
    # clean_article's paragraphs are collapsed already: no need to do it again.
    if not p or len(p) > _FOOTER_MAX_CHARS:
        return False
    return _ANY_FOOTER.fullmatch(p) is not None


def normalize_paragraph(p: str) -> str:
    """The comparison key for "the same paragraph": NFKC, casefolded, whitespace collapsed.

    Shared by in-article dedup, learned boilerplate and cross-article dedup so all three agree
    on what "the same" means (a non-breaking space or a capitalised copy is still a copy).
    """
    if p.isascii():  # NFKC leaves ASCII alone and casefold is lower(): the same key, faster
        return _collapse(p.lower())
    # NFKC again after casefold: casefolding can leave decomposed sequences behind, and the
    # key must be stable when normalised twice (learned sets are stored already normalised).
    return _collapse(unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", p).casefold()))


def _learned_keys(boilerplate: Collection[str]) -> frozenset[str]:
    # The pipeline passes one feed's frozenset for every entry: normalise it once, not per entry.
    if isinstance(boilerplate, frozenset):
        return _normalized_set(boilerplate)
    return frozenset(normalize_paragraph(b) for b in boilerplate)


@lru_cache(maxsize=64)
def _normalized_set(boilerplate: frozenset[str]) -> frozenset[str]:
    return frozenset(normalize_paragraph(b) for b in boilerplate)


# "Headline - Site Name", "Site | Headline": page and feed titles often carry the site name.
_TITLE_SEPARATOR = re.compile(r"\s+(?:[|–—·•:/-]|::|»)\s+")


def _title_keys(title: str) -> frozenset[str]:
    """Keys a leading paragraph may equal to count as a repeat of the title.

    The whole title, plus each part of a "Headline - Site" title that is long enough (three
    words or 15 characters) to be the headline rather than the site name.
    """
    text = fix_mojibake(html_to_text(title)).replace("\n\n", " ")
    parts = [
        text,
        *(p for p in _TITLE_SEPARATOR.split(text) if len(p.split()) >= 3 or len(p) >= 15),
    ]
    return frozenset(k for k in (normalize_paragraph(p).rstrip(" .:;!?") for p in parts) if k)


def clean_article(
    raw: str,
    *,
    boilerplate: Collection[str] = (),
    title: str | None = None,
    is_text: bool = False,
) -> CleanResult:
    """Clean one entry body: text, mojibake, repeats, footers, feed boilerplate, title.

    ``boilerplate`` is the feed's learned set (normalised paragraphs, see
    :func:`learn_boilerplate`). Dropped paragraphs are returned in ``removed``, in document
    order, so ``--json`` output can show what cleaning did. Idempotent: cleaning the cleaned
    text changes nothing. The text is at most ``MAX_TEXT_CHARS`` long (what is cut off is not
    listed in ``removed``).

    ``is_text=True`` says ``raw`` is already the output of :func:`html_to_text` (the pipeline
    converts each entry once, for :func:`learn_boilerplate` too) and skips that conversion:
    ``clean_article(html_to_text(x), is_text=True) == clean_article(x)``. Passing anything
    else with ``is_text=True`` (raw HTML, text with entities) leaves that markup in the text.
    """
    text = fix_mojibake(raw if is_text else html_to_text(raw))
    # ftfy may turn e.g. a stray NEL into a character we split on: re-split the same way.
    paragraphs = _plain_paragraphs(_sanitize(text))
    learned = _learned_keys(boilerplate)
    title_keys = _title_keys(title) if title else frozenset()
    kept: list[str] = []
    removed: list[str] = []
    seen: set[str] = set()
    for p in paragraphs:
        key = normalize_paragraph(p)
        if (
            key in seen
            or _is_collapsed_footer(p)
            or key in learned
            or (not kept and key.rstrip(" .:;!?") in title_keys)
        ):
            removed.append(p)
        else:
            kept.append(p)
        seen.add(key)
    return CleanResult(text=_bounded("\n\n".join(kept).strip()), removed=removed)


def _bounded(text: str) -> str:
    """``text`` cut to ``MAX_TEXT_CHARS`` at a paragraph end, else at a word, else anywhere."""
    if len(text) <= MAX_TEXT_CHARS:
        return text
    head = text[: MAX_TEXT_CHARS + 2]  # +2: a paragraph ending exactly at the limit counts
    for separator in ("\n\n", " "):
        cut = head.rfind(separator, 0, MAX_TEXT_CHARS + 1)
        if cut > 0:
            return head[:cut].rstrip()
    return head[:MAX_TEXT_CHARS]


# --- Learned boilerplate ----------------------------------------------------------------

# Real content rarely repeats verbatim across articles; signatures and promos are short.
_BOILERPLATE_MAX_CHARS = 300


def _paragraph_keys(text: str) -> Iterable[str]:
    for p in _plain_paragraphs(text):
        if len(p) <= _BOILERPLATE_MAX_CHARS:
            yield normalize_paragraph(p)


def learn_boilerplate(
    texts: Sequence[str], *, min_share: float = 0.4, min_docs: int = 4
) -> frozenset[str]:
    """Normalised paragraphs that recur in at least ``min_share`` of a feed's documents.

    ``texts`` are plain texts (after :func:`html_to_text`) of the feed's recent articles.
    Each paragraph counts once per document, identical documents count once (feeds repeat
    entries, which would otherwise make a whole article look like boilerplate), and a
    paragraph must appear in at least two documents. With fewer than ``min_docs`` distinct
    documents nothing is learned: there is no evidence yet.
    """
    unique = {normalize_paragraph(t): t for t in texts if t.strip()}
    docs = [frozenset(_paragraph_keys(t)) for t in unique.values()]
    if len(docs) < max(min_docs, 1):
        return frozenset()
    counts = Counter(key for doc in docs for key in doc)
    needed = max(2.0, min_share * len(docs))
    return frozenset(key for key, n in counts.items() if n >= needed)
