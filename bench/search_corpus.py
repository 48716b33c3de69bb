"""Synthetic-but-realistic articles and queries for bench/search, built from the real corpus.

Every sentence comes from the corpus (feed entries through the real parser and cleaner, plus
the article pages' gold texts); what is synthetic is the mix. An article of language L is a
window of one corpus text's sentences with a few sentences of other L texts spliced in, and
capitalised words swapped for story-specific names drawn Zipf-wise from a per-language pool
of made-up surnames (halves of two corpus words). Those names and the re-drawn numbers give
the long tail of rare terms a real archive has; recombination alone would leave a
vocabulary of a few tens of thousands of words, every one of them common at 1M articles.

Everything is seeded: chunk ``k`` of a build is a function of (seed, size, k) only, so an
interrupted build resumes and two machines build the same database. Ids grow with
fetched_at, like a database that was filled by ingestion day after day.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cache

from bench.ingest import CORPUS

CHUNK = 10_000  # articles per chunk: the unit of generation, commit and resume
SPAN = timedelta(days=730)
FEEDS = 200
MINHASH_BYTES = 1024  # what bot.ingest.dedup stores per article: it makes rows realistically wide

# Publishers and sections per language: feed titles look like "The Guardian – World".
PUBLISHERS: dict[str, str] = {  # "|"-separated
    "en": "The Guardian|New York Times|Reuters|Mail Online|Mirror|CTV News|The Verge|Indian "
    "Express|Livemint|Japan Times|Moscow Times|Slashdot|Macworld|TechCrunch|BBC News|CNN|Al "
    "Jazeera|Los Angeles Times|USA Today|Fox News|NBC News|CBS News|The Telegraph|The Sun|Sky "
    "News|Daily Express|New York Post|The Hill|PolitiFact|CNBC|Newsweek|SFGate|Washington "
    "Examiner|Business Insider|Associated Press|Daring Fireball|Scripting News",
    "de": "Golem|heise online|Spiegel|ORF|Anime2You|Süddeutsche Zeitung|Tagesschau|Die Zeit|"
    "Frankfurter Allgemeine|Stadtfeuerwehr Weiz",
    "fr": "Le Monde|Le Figaro|Psychologies|Framasoft|L'Opinion|Sciences et Avenir|Sports.fr|"
    "Libération",
    "es": "La Nación|20minutos|El País|Clarín|Infobae|El Mundo",
    "pt": "Jornal de Notícias|UOL Notícias|Folha|Jaraguá do Sul",
    "it": "RomaToday|Remember 8090|Corriere",
    "ru": "Яндекс Новости|iBash|TouchNokia|Rutube|Лента",
    "uk": "Суспільне|Українська правда",
    "zh": "新闻国内|投资资讯网|极客公园|新华网",
    "ja": "NHK|朝日新聞",
    "ko": "엔터미디어|연합뉴스",
    "ur": "بی بی سی اردو|جنگ",
    "sk": "Aktuality|SME|Pravda",
    "nl": "FC Utrecht|NOS|De Volkskrant",
    "sv": "FZ|Cyklistbloggen|Retriever|Dagens Nyheter|Aftonbladet",
}
SECTIONS: dict[str, list[str]] = {
    "en": ["World", "Politics", "Business", "Technology", "Sport", "Culture", "Science"],
    "de": ["Politik", "Wirtschaft", "Sport", "Kultur", "Netzwelt", "Wissenschaft"],
    "fr": ["International", "Politique", "Économie", "Sport", "Culture", "Sciences"],
    "es": ["Internacional", "Política", "Economía", "Deportes", "Cultura"],
    "pt": ["Mundo", "Política", "Economia", "Desporto", "Cultura"],
    "it": ["Esteri", "Politica", "Economia", "Sport", "Cultura"],
    "ru": ["Мир", "Политика", "Экономика", "Спорт", "Культура"],
    "uk": ["Світ", "Політика", "Економіка", "Спорт"],
    "zh": ["国际", "财经", "科技", "体育"],
    "ja": ["国際", "経済", "スポーツ"],
    "ko": ["국제", "경제", "연예"],
    "ur": ["دنیا", "پاکستان", "کھیل"],
    "sk": ["Svet", "Politika", "Ekonomika", "Šport"],
    "nl": ["Buitenland", "Politiek", "Economie", "Sport"],
    "sv": ["Världen", "Politik", "Ekonomi", "Sport", "Kultur"],
}
_SENTENCE = re.compile(r"(?<=[.!?…])\s+|(?<=[。！？])|\n+")
_WORD = re.compile(r"[^\W_]+")
_NAME = re.compile(r"[A-ZÀ-ÞА-ЯЁІЇЄҐ][a-zß-ÿа-яёіїєґ]{3,}")
_CAPITALISED = re.compile(r"(?<=\s)" + _NAME.pattern)  # not first in its sentence
_DIGITS = re.compile(r"\d+")


@dataclass(slots=True)
class Source:
    """One corpus text: a title and its sentences."""

    title: str
    sentences: list[str]


@dataclass(slots=True)
class Corpus:
    """The corpus texts by language, and each language's share of the corpus entries."""

    texts: dict[str, list[Source]] = field(default_factory=dict)
    share: dict[str, float] = field(default_factory=dict)
    names: dict[str, list[str]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class FeedRow:
    id: int
    title: str
    url: str
    site_url: str
    language: str
    key: str  # one lower-case word of the publisher: what a user types after source:


def _sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENTENCE.split(text) if s and len(s.strip()) >= 12]


@cache
def load_corpus() -> Corpus:
    """Parse and clean every corpus feed, add the gold article texts, group by language."""
    from bot.ingest.clean import clean_article
    from bot.ingest.language import LanguageDetector
    from bot.ingest.parse import FeedParseError, parse_feed
    from bot.ingest.prepare import clean_title

    index = json.loads((CORPUS / "index.json").read_text(encoding="utf-8"))
    corpus = Corpus()
    counts: dict[str, int] = {}
    for item in index["feeds"]:
        try:
            parsed = parse_feed(
                (CORPUS / item["path"]).read_bytes(), url="http://example.com/", content_type=None
            )
        except FeedParseError:
            continue
        lang = item["lang"]
        for entry in parsed.entries:
            title = clean_title(entry.title)
            sentences = _sentences(clean_article(entry.content_html, title=title).text)
            if not sentences and not title:
                continue
            counts[lang] = counts.get(lang, 0) + 1
            title = title or " ".join(sentences[0].split()[:10])
            corpus.texts.setdefault(lang, []).append(Source(title, sentences or [title]))
    detector = LanguageDetector()
    for item in index["articles"]:
        if item.get("gold_type") != "full_text":
            continue
        text = (CORPUS / item["gold_txt"]).read_text(encoding="utf-8")
        lang = (item.get("html_lang_attr") or "")[:2].lower() or detector.detect(text) or "en"
        sentences = _sentences(text)
        if sentences:
            title = " ".join(sentences[0].split()[:12]).rstrip(".")
            corpus.texts.setdefault(lang, []).append(Source(title, sentences))
            counts[lang] = counts.get(lang, 0) + 1
    total = sum(counts.values())
    corpus.share = {lang: n / total for lang, n in sorted(counts.items())}
    for lang, sources in corpus.texts.items():
        corpus.names[lang] = _name_pool(lang, sources)
    return corpus


def _name_pool(lang: str, sources: list[Source], size: int = 20_000) -> list[str]:
    """Made-up surnames from halves of the language's capitalised words (none for scripts
    without case, whose texts are left as they are)."""
    words = sorted(
        {w for s in sources for sentence in s.sentences for w in _CAPITALISED.findall(sentence)}
    )
    if len(words) < 10:
        return []
    rng = random.Random(f"names-{lang}")
    pool: set[str] = set()
    for _ in range(size * 4):
        a, b = rng.choice(words), rng.choice(words)
        name = a[: max(2, len(a) // 2)] + b[len(b) // 2 :].lower()
        if 4 <= len(name) <= 14:
            pool.add(name)
        if len(pool) >= size:
            break
    names = sorted(pool)
    rng.shuffle(names)  # rank order for the Zipf draw
    return names


def zipf(rng: random.Random, n: int) -> int:
    """An index in [0, n) with P(i) ∝ 1/(i+1): a few very common, most rare."""
    return min(n - 1, int(n ** rng.random()) - 1)


def make_feeds(corpus: Corpus, count: int = FEEDS) -> list[FeedRow]:
    """About ``count`` feeds, per language in proportion to the corpus (at least two each)."""
    rng = random.Random("feeds")
    feeds: list[FeedRow] = []
    for lang, share in corpus.share.items():
        publishers = PUBLISHERS.get(lang, "News").split("|")
        sections = SECTIONS.get(lang, ["News"])
        for n in range(max(2, round(share * count))):
            publisher = publishers[n % len(publishers)]
            section = sections[(n // len(publishers)) % len(sections)]
            key = _WORD.findall(_fold(publisher).lower())
            slug = "-".join(_WORD.findall(_fold(section).lower())) or "news"
            domain = (("".join(key) or f"site{len(feeds)}") + f".{lang}")[:40]
            feeds.append(
                FeedRow(
                    id=len(feeds) + 1,
                    title=f"{publisher} – {section}",
                    url=f"https://{domain}/{slug}/rss-{n}.xml",
                    site_url=f"https://{domain}/",
                    language=lang,
                    key=max(key, key=len) if key else publisher.lower(),
                )
            )
    rng.shuffle(feeds)  # activity rank (Zipf) must not follow the language order
    return [
        FeedRow(n + 1, f.title, f.url, f.site_url, f.language, f.key) for n, f in enumerate(feeds)
    ]


def _fold(text: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))


@dataclass(slots=True)
class Generated:
    """One chunk: its stories (title, size) and its articles, in id order."""

    stories: list[tuple[str, int]]
    articles: list[dict[str, object]]  # articles columns; "story" is the index in stories


def generate_chunk(seed: int, size: int, chunk: int, end: datetime) -> Generated:
    """Chunk ``chunk`` (CHUNK articles, fewer at the end) of a ``size``-article archive."""
    corpus = load_corpus()
    feeds = make_feeds(corpus)
    by_lang: dict[str, list[FeedRow]] = {}
    for feed in feeds:
        by_lang.setdefault(feed.language, []).append(feed)
    langs = list(corpus.share)
    weights = [corpus.share[lang] for lang in langs]
    rng = random.Random(f"{seed}-{chunk}")
    first, last = chunk * CHUNK, min(size, (chunk + 1) * CHUNK)
    start = end - SPAN
    out = Generated([], [])
    position = first
    while position < last:
        lang = rng.choices(langs, weights)[0]
        sources = corpus.texts[lang]
        base = sources[rng.randrange(len(sources))]
        members = min(last - position, _story_size(rng))
        names = corpus.names[lang]
        cast = [names[zipf(rng, len(names))] for _ in range(3)] if names else []
        story = len(out.stories)
        title = ""
        for member in range(members):
            feed = by_lang[lang][zipf(rng, len(by_lang[lang]))]
            # fetched_at grows with the id, as insert_articles stamps it (storage.search
            # relies on that for since:); the feed published it a little earlier.
            fetched = start + SPAN * ((position + member) / size)
            published = fetched - timedelta(minutes=rng.uniform(2, 360))
            a_title = _vary_title(rng, base.title, cast, member)
            text = _text(rng, base, sources, cast)
            title = title or a_title
            slug = "-".join(_WORD.findall(_fold(a_title).lower())[:8]) or "article"
            url = f"{feed.site_url}{published:%Y/%m/%d}/{slug}-{position + member}"
            out.articles.append(
                {
                    "feed_id": feed.id,
                    "story": story,
                    "guid": url,
                    "url": url,
                    "url_key": url.split("://", 1)[1],
                    "title": a_title,
                    "author": cast[-1] if cast and rng.random() < 0.3 else None,
                    "published_at": None if rng.random() < 0.02 else published,
                    "fetched_at": fetched,
                    "language": lang,
                    "text": text,
                    "content_hash": hashlib.sha256(text.encode()).hexdigest(),
                    "minhash": rng.randbytes(MINHASH_BYTES),
                    "extracted": len(text) > 1500 and rng.random() < 0.5,
                }
            )
        out.stories.append((title, members))
        position += members
    return out


def _story_size(rng: random.Random) -> int:
    # Mean ≈ 1.3 articles a story: most stories are told once, a few by many feeds.
    roll = rng.random()
    if roll < 0.84:
        return 1
    if roll < 0.93:
        return 2
    if roll < 0.97:
        return 3
    return rng.randint(4, 9)


def _vary_title(rng: random.Random, title: str, cast: list[str], member: int) -> str:
    words = title.split()
    if cast and len(words) > 2:
        spots = [i for i, w in enumerate(words[1:], 1) if _NAME.fullmatch(w)] or [
            rng.randrange(1, len(words))
        ]
        words[rng.choice(spots)] = cast[member % len(cast)]
    if member and len(words) > 4:
        del words[rng.randrange(1, len(words))]  # the same story, headlined differently
    return _DIGITS.sub(lambda m: str(rng.randint(2, 99)), " ".join(words))


def _text(rng: random.Random, base: Source, sources: list[Source], cast: list[str]) -> str:
    # Teasers, summaries and extracted full texts, as feeds give them (corpus mean ≈ 960 chars).
    roll = rng.random()
    wanted = rng.randint(1, 3) if roll < 0.5 else rng.randint(4, 12) if roll < 0.85 else 30
    offset = rng.randrange(max(1, len(base.sentences) - wanted + 1))
    chosen = base.sentences[offset : offset + wanted]
    for _ in range(rng.randint(0, 1 + wanted // 3)):
        other = sources[rng.randrange(len(sources))].sentences
        chosen.insert(rng.randint(0, len(chosen)), other[rng.randrange(len(other))])
    while len(chosen) < wanted:  # a teaser base: the rest of the body from other texts
        other = sources[rng.randrange(len(sources))].sentences
        at = rng.randrange(len(other))
        chosen.extend(other[at : at + wanted - len(chosen)])

    def name(match: re.Match[str]) -> str:
        return cast[rng.randrange(len(cast))] if rng.random() < 0.35 else match.group()

    def number(match: re.Match[str]) -> str:
        return (
            str(rng.randint(1, 10 ** len(match.group()))) if rng.random() < 0.5 else match.group()
        )

    text = " ".join(chosen)
    if cast:
        text = _CAPITALISED.sub(name, text)
    return _DIGITS.sub(number, text)


def iter_sample(seed: int, chunks: int = 4, size: int = 1_000_000) -> Iterator[dict[str, object]]:
    """Articles spread over a 1M archive's two years: the vocabulary the queries come from
    (the same for every size, so figures at 100k and 1M answer the same questions)."""
    end = datetime(2030, 1, 1)  # dates do not matter to the vocabulary
    step = max(1, size // CHUNK // chunks)
    for chunk in range(0, step * chunks, step):
        yield from generate_chunk(seed, size, chunk, end).articles


# --- Queries -------------------------------------------------------------------------------

# Kinds and their share of the queries (out of 200).
KINDS: dict[str, int] = {
    "word": 28,
    "rare": 14,
    "two": 24,
    "three": 16,
    "prefix": 14,
    "unaccented": 14,
    "phrase": 20,
    "or": 14,
    "exclude": 14,
    "source": 14,
    "lang": 14,
    "since": 14,
}
# Document-frequency bands, as a fraction of all sampled articles: "common" is a frequent
# content word (not a stop word: those are above COMMON[1]), "rare" a name or term that a
# few hundred articles of a 1M archive mention.
COMMON, MID, RARE = (0.01, 0.15), (0.0005, 0.01), (0.00005, 0.0005)


@dataclass(frozen=True, slots=True)
class Query:
    """One benchmark query: what the user types, and the raw full-text query of its positive
    words on each backend (the floor the engine is compared with)."""

    kind: str
    lang: str
    text: str
    fts5: str  # MATCH expression
    tsquery: str  # to_tsquery('simple', newsbrief_unaccent(...)) input


@dataclass(slots=True)
class _Doc:
    lang: str
    words: list[str]  # lower-case, as typed (accents kept)


def _band(df: float) -> str | None:
    for name, (low, high) in (("common", COMMON), ("mid", MID), ("rare", RARE)):
        if low <= df < high:
            return name
    return None


def make_queries(seed: int, count: int = 200) -> list[Query]:
    """``count`` queries of the KINDS mix, words drawn from a sample of the generated
    articles by document frequency, languages weighted by the square root of their share."""
    docs = [
        _Doc(str(a["language"]), _WORD.findall(f"{a['title']} {a['text']}".lower()))
        for a in iter_sample(seed)
    ]
    by_lang: dict[str, list[_Doc]] = {}
    for doc in docs:
        by_lang.setdefault(doc.lang, []).append(doc)
    df: dict[str, int] = {}
    stop: set[str] = set()  # in a quarter of its language's articles: nobody searches for it
    for lang_docs in by_lang.values():
        local: dict[str, int] = {}
        for doc in lang_docs:
            for word in {_fold(w) for w in doc.words}:
                local[word] = local.get(word, 0) + 1
        for word, n in local.items():
            df[word] = df.get(word, 0) + n
            if n >= len(lang_docs) / 4:
                stop.add(word)
    bands = {w: None if w in stop else _band(n / len(docs)) for w, n in df.items()}
    langs = sorted(lang for lang, ds in by_lang.items() if len(ds) >= 50)
    weights = [len(by_lang[lang]) ** 0.7 for lang in langs]
    feeds = make_feeds(load_corpus())
    rng = random.Random(f"queries-{seed}")
    scale = count / sum(KINDS.values())
    plan = [k for k, n in KINDS.items() for _ in range(max(1, round(n * scale)))][:count]
    queries: list[Query] = []
    for kind in plan:
        for _attempt in range(200):
            lang = rng.choices(langs, weights)[0]
            query = _query(rng, kind, lang, by_lang[lang], bands, feeds)
            if query is not None:
                queries.append(query)
                break
    return queries


def _usable(word: str) -> bool:
    return len(word) >= 3 and not word.isdigit()


def _query(
    rng: random.Random,
    kind: str,
    lang: str,
    docs: list[_Doc],
    bands: dict[str, str | None],
    feeds: list[FeedRow],
) -> Query | None:
    doc = docs[rng.randrange(len(docs))]

    def pick(*wanted: str, source: _Doc = doc) -> list[str]:
        seen: dict[str, None] = {}
        for w in source.words:
            if _usable(w) and bands.get(_fold(w)) in wanted:
                seen.setdefault(w, None)
        return list(seen)

    def single(words: list[str]) -> Query | None:
        return _plain(kind, lang, words[:1], "") if words else None

    topical = pick("mid", "common")
    rng.shuffle(topical)
    if kind == "word":
        return single(topical)
    if kind == "rare":
        rare = pick("rare")
        return single([rng.choice(rare)] if rare else [])
    if kind in ("two", "three", "exclude"):
        n = 3 if kind == "three" else 2
        if len(topical) < n or not any(bands.get(_fold(w)) == "mid" for w in topical[:n]):
            return None
        if kind == "exclude":
            return _plain(kind, lang, topical[:1], f" -{topical[1]}")
        return _plain(kind, lang, topical[:n], "")
    if kind == "prefix":
        long = [w for w in topical if len(w) >= 7]
        if not long:
            return None
        stem = long[0][: max(4, len(long[0]) - 3)]
        return Query(kind, lang, f"{stem}*", f'"{stem}"*', f"'{stem}':*")
    if kind == "unaccented":
        accented = [w for w in topical if _fold(w) != w and _fold(w).isascii()]
        return single([_fold(accented[0])] if accented else [])
    if kind == "phrase":
        pairs = [
            (a, b)
            for a, b in zip(doc.words, doc.words[1:], strict=False)
            if a != b
            and _usable(a)
            and _usable(b)
            and {bands.get(_fold(a)), bands.get(_fold(b))} <= {"mid", "common"}
        ]
        if not pairs:
            return None
        a, b = rng.choice(pairs)
        return Query(kind, lang, f'"{a} {b}"', f'"{a} {b}"', f"'{a}' <-> '{b}'")
    if kind == "or":
        other = pick("mid", source=docs[rng.randrange(len(docs))])
        mid = [w for w in topical if bands.get(_fold(w)) == "mid"]
        if not mid or not other or other[0] == mid[0]:
            return None
        a, b = mid[0], rng.choice(other)
        return Query(kind, lang, f"{a} OR {b}", f'"{a}" OR "{b}"', f"'{a}' | '{b}'")
    if kind == "source":
        keys = [f.key for f in feeds if f.language == lang]
        return _plain(kind, lang, topical[:1], "", f"source:{rng.choice(keys)} ")
    if kind == "lang":
        return _plain(kind, lang, topical[:1], "", f"lang:{lang} ")
    if kind == "since":
        return _plain(kind, lang, topical[:1], "", "since:30d ")
    raise ValueError(kind)


def _plain(kind: str, lang: str, words: list[str], tail: str, head: str = "") -> Query | None:
    if not words:
        return None
    return Query(
        kind,
        lang,
        head + " ".join(words) + tail,
        " ".join(f'"{w}"' for w in words),
        " & ".join(f"'{w}'" for w in words),
    )
