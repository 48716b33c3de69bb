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

import html as html_lib
import re
import unicodedata
from collections import Counter
from collections.abc import Collection, Iterable, Sequence
from functools import lru_cache

import ftfy
import lxml.html
from ftfy.badness import BADNESS_RE, MOJIBAKE_CATEGORIES
from lxml import etree

from bot.ingest.records import CleanResult

__all__ = [
    "clean_article",
    "fix_mojibake",
    "html_to_text",
    "is_footer",
    "learn_boilerplate",
    "normalize_paragraph",
]

# --- HTML to text -----------------------------------------------------------------------

# Elements that end one paragraph and start another. Table cells are not here: a row is one
# line of text, its cells are joined by spaces (see _CELL_TAGS).
_BLOCK_TAGS = frozenset(
    """address article aside blockquote br caption center dd details dialog dir div dl dt
    fieldset figcaption figure footer form h1 h2 h3 h4 h5 h6 header hgroup hr li main menu nav
    ol p pre section summary table tbody tfoot thead tr ul body html""".split()  # noqa: SIM905
)
_CELL_TAGS = frozenset({"td", "th"})
# Content that is never article text. <head> holds <title>/<meta>, which a caller who wants
# them reads from the feed, not from the body.
_DROP_TAGS = frozenset(
    """script style iframe noscript template object embed applet svg canvas video audio head
    select button textarea""".split()  # noqa: SIM905
)

# Characters that lxml refuses ("All strings must be XML compatible") or that carry no text:
# C0 controls except tab/newline/CR, DEL, lone surrogates, the two non-characters, and BOMs.
_BAD_CHARS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff\ufffe\uffff\ufeff]")
_XML_DECL = re.compile(r"^\s*<\?xml[^>]*\?>", re.I)
# Tags never span a line break here: a cleaned paragraph ending in "<p" followed by one
# starting with ">" must not read as a tag when the text is cleaned again.
_TAG = re.compile(r"</?([a-zA-Z][a-zA-Z0-9]*)\b[^<>\n]*>|<!--|<!\[CDATA\[|<!doctype", re.I)
_TAG_LIKE = re.compile(r"<[^<>\n]*>|<!--|-->|<!\[CDATA\[|\]\]>|<!doctype", re.I)
_ENTITY = re.compile(r"&(?:#[0-9]+|#[xX][0-9a-fA-F]+|[a-zA-Z][a-zA-Z0-9]*);")
_LINE_BREAK = re.compile(r"\r\n|[\r\n\u2028\u2029\x85\x0b\x0c]")
_KNOWN_TAGS = frozenset(lxml.html.defs.tags)
_MAX_SETTLE = 6  # rounds of re-reading double-escaped markup ("&amp;lt;p&amp;gt;")
# Paragraph break put into the parsed tree (see _marked_text): a noncharacter, which feed
# text never holds; for a document that does, a spare one it lacks (all valid in XML).
_MARK = "\ufdd0"
_SPARE_MARKS = (range(0xFDD0, 0xFDF0), range(0xF0000, 0x10FFFE))


def _sanitize(text: str) -> str:
    return _BAD_CHARS.sub("", text)


def _collapse(text: str) -> str:
    # str.split() and the regex \s agree on whitespace (both use str.isspace); split/join is
    # several times faster than re.sub on the ~150k paragraphs and lines of a corpus run.
    return " ".join(text.split())


def _has_markup(text: str) -> bool:
    """Whether ``text`` holds at least one real HTML tag (not "a < b" nor "<3")."""
    for m in _TAG.finditer(text):
        name = m.group(1)
        if name is None or name.lower() in _KNOWN_TAGS:
            return True
    return False


def _plain_paragraphs(text: str) -> list[str]:
    """Plain text keeps its line structure: every non-empty line is a paragraph."""
    return [p for p in (_collapse(line) for line in _LINE_BREAK.split(text)) if p]


def _strip_tags(markup: str) -> list[str]:
    """Fallback when lxml refuses a document: drop every tag-like run, line by line.

    Repeated until nothing changes ("<<p>p>" leaves "<p>" after one round), so the result
    holds no markup and reads the same when cleaned again.
    """
    previous = None
    while previous != markup:
        previous, markup = markup, _TAG_LIKE.sub(" ", markup)
    return _plain_paragraphs(markup)


def _render(markup: str) -> list[str]:
    """Paragraphs of one HTML document or fragment, via lxml (which tolerates broken HTML)."""
    markup = _XML_DECL.sub("", markup)  # lxml rejects str input with an encoding declaration
    if not markup.strip():
        return []
    try:
        root = lxml.html.fromstring(markup)
    except (etree.ParserError, ValueError):
        # lxml gives up on documents that are only a comment or a doctype, for instance.
        return _strip_tags(markup)
    if not isinstance(root.tag, str) or root.tag.lower() in _DROP_TAGS:
        return []  # the whole fragment is one script, comment...: no text
    mark: str | None = _MARK
    try:
        text = _marked_text(root, _MARK, edit=True)
    except ValueError:  # lxml will not edit text holding the control chars "&#28;" gives
        text = None
    if text is None:  # that, or the text holds our mark: mark with elements and a spare mark
        root = lxml.html.fromstring(markup)
        seen = set(etree.tostring(root, method="text", encoding="unicode"))
        mark = next((chr(c) for r in _SPARE_MARKS for c in r if chr(c) not in seen), None)
        text = _marked_text(root, mark, edit=False) if mark else None
    if text is None or mark is None:
        return _strip_tags(markup)
    # Collapsing whitespace once over the whole text equals collapsing each paragraph: the
    # mark is not whitespace, so no run of whitespace spans two paragraphs.
    return [p for p in (p.strip() for p in " ".join(text.split()).split(mark)) if p]


def _marked_text(root: etree._Element, mark: str, *, edit: bool) -> str | None:
    """The document's text with ``mark`` at every paragraph break; None if it held ``mark``.

    Rather than visit every node in Python, drop what is never text, put ``mark`` before
    each block element and after its content (exactly where a walk of the tree would end a
    paragraph) and a space after each table cell's content, and let lxml serialise the text
    in C. ``edit`` puts the marks into text and tails (fastest); otherwise into tiny elements.
    """
    etree.strip_elements(
        root,
        *_DROP_TAGS,
        etree.Comment,
        etree.ProcessingInstruction,
        etree.Entity,
        with_tail=False,
    )
    blocks = [el for el in root.iter(*_BLOCK_TAGS) if el is not root]  # its breaks are no-ops
    for el in blocks:
        if edit:
            el.text = mark + el.text if el.text else mark
            el.tail = mark + el.tail if el.tail else mark
        else:
            el.addprevious(_text_element(root, mark))
            el.append(_text_element(root, mark))
    for el in root.iter(*_CELL_TAGS):
        if edit:
            el.tail = " " + el.tail if el.tail else " "
        else:
            el.append(_text_element(root, " "))
    text = etree.tostring(root, method="text", encoding="unicode", with_tail=False)
    return text if text.count(mark) == 2 * len(blocks) else None


def _text_element(root: etree._Element, text: str) -> etree._Element:
    el = root.makeelement("m")
    el.text = text
    return el


def _settle(paragraph: str) -> list[str]:
    """Undo double escaping until the paragraph is plain text.

    Feeds often escape their HTML twice ("&amp;#8217;", "&lt;p&gt;" shown as text), so one
    round of parsing leaves markup behind. Re-reading each paragraph on its own (never the
    joined text, whose paragraph breaks are only newlines) until nothing changes also makes
    ``html_to_text`` idempotent, which the cleaning pipeline relies on.
    """
    pending = [paragraph]
    out: list[str] = []
    budget = _MAX_SETTLE * 8  # bounds the work on adversarial input; real feeds need 1-2
    while pending:
        p = pending.pop(0)
        if "<" not in p and "&" not in p:  # no tag, no entity: already plain (the usual case)
            out.append(p)
            continue
        for _ in range(_MAX_SETTLE):
            budget -= 1
            if budget < 0:
                break
            if _has_markup(p):
                parts = _render(p)
            elif _ENTITY.search(p):
                parts = _plain_paragraphs(html_lib.unescape(p))
            else:
                break
            if len(parts) != 1:
                pending[:0] = parts
                p = ""
                break
            if parts[0] == p:
                break
            p = parts[0]
        if p:
            out.append(p)
    return out


def html_to_text(html: str) -> str:
    """Plain-text paragraphs (separated by a blank line) from feed HTML or plain text.

    Block elements end paragraphs, scripts/styles/iframes are dropped, entities unescaped and
    whitespace collapsed inside each paragraph. Input without tags is treated as plain text:
    each non-empty line becomes a paragraph. Never raises: feeds are untrusted input.
    """
    try:
        text = _sanitize(html)
        if "<" not in text and "&" not in text:  # plain text: nothing to parse or unescape
            return "\n\n".join(_plain_paragraphs(text))
        paragraphs = _render(text) if _has_markup(text) else _plain_paragraphs(text)
        out: list[str] = []
        for p in paragraphs:
            out.extend(_settle(p))
        return "\n\n".join(out)
    except Exception:  # pragma: no cover - last resort; lxml failures are caught above
        return "\n\n".join(_strip_tags(_sanitize(html)))


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
# as ftfy applies it line by line). tests/test_clean.py checks the premise against the
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
    text changes nothing.

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
    return CleanResult(text="\n\n".join(kept).strip(), removed=removed)


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
