"""Main-text extraction quality: our extract + clean against the 47 full-gold article pages.

Run: ``.venv/bin/python -m bench.extract``

Metric: word-level F1, the way trafilatura's and scrapinghub's evaluations count it: tokenise
with a Unicode word regex, casefold, and compare the bags of words (multiset overlap) of the
output and the gold ``articleBody``. Precision says how much of what we kept is article,
recall how much of the article we kept. The baseline is ``trafilatura.extract`` with its
default settings, so a regression in our settings or in cleaning shows up as a gap.
"""

from __future__ import annotations

import os
import re
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import trafilatura

from bench.report import write_section
from bot.ingest.clean import clean_article
from bot.ingest.extract import extract_main_text

REPO_ROOT = Path(__file__).resolve().parent.parent
CORPUS_DIR = Path(os.environ.get("NEWSBRIEF_CORPUS_DIR", REPO_ROOT.parent / "shared" / "corpus"))
ARTICLES = CORPUS_DIR / "articles"
TARGET_F1 = 0.92

_WORD = re.compile(r"\w+")


@dataclass(frozen=True, slots=True)
class Score:
    f1: float
    precision: float
    recall: float
    seconds: float


def word_prf(predicted: str, gold: str) -> tuple[float, float, float]:
    """Bag-of-words precision, recall and F1 (casefolded Unicode word tokens)."""
    pred = Counter(_WORD.findall(predicted.casefold()))
    ref = Counter(_WORD.findall(gold.casefold()))
    overlap = sum((pred & ref).values())
    precision = overlap / sum(pred.values()) if pred else 0.0
    recall = overlap / sum(ref.values()) if ref else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return f1, precision, recall


def ours(html: str, title: str | None) -> str:
    text = extract_main_text(html)
    return clean_article(text, title=title).text if text else ""


def baseline(html: str, title: str | None) -> str:
    return trafilatura.extract(html) or ""


def page_title(html: str) -> str | None:
    """The page's own headline, standing in for the feed entry title the pipeline passes."""
    meta = trafilatura.extract_metadata(html)
    return meta.title if meta is not None else None


METHODS: dict[str, Callable[[str, str | None], str]] = {
    "extract_main_text + clean_article": ours,
    "trafilatura.extract (defaults)": baseline,
}


@dataclass(frozen=True, slots=True)
class Page:
    name: str
    html: str
    gold: str
    title: str | None


def gold_pages() -> list[Page]:
    """Every page with full gold text, with its title read from the page's metadata."""
    pages = []
    for gold in sorted(ARTICLES.glob("*.gold.txt")):
        name = gold.name.removesuffix(".gold.txt")
        html = (ARTICLES / f"{name}.html").read_text(encoding="utf-8")
        pages.append(Page(name, html, gold.read_text(encoding="utf-8"), page_title(html)))
    return pages


def score(method: Callable[[str, str | None], str], page: Page) -> Score:
    start = time.perf_counter()
    out = method(page.html, page.title)
    elapsed = time.perf_counter() - start
    return Score(*word_prf(out, page.gold), seconds=elapsed)


def mean(scores: list[Score]) -> Score:
    return Score(
        statistics.fmean(s.f1 for s in scores),
        statistics.fmean(s.precision for s in scores),
        statistics.fmean(s.recall for s in scores),
        statistics.fmean(s.seconds for s in scores),
    )


def main() -> int:
    if not ARTICLES.is_dir():
        print(f"corpus not found at {CORPUS_DIR}", file=sys.stderr)
        return 1
    pages = gold_pages()
    # One warm-up call so import-time and first-use costs do not land on the first page.
    for method in METHODS.values():
        method(pages[0].html, pages[0].title)
    results = {label: [score(m, page) for page in pages] for label, m in METHODS.items()}
    labels = list(METHODS)
    ours_label, base_label = labels

    header = f"{'page':34} {'F1':>5} {'P':>5} {'R':>5} {'ms':>6}   {'base F1':>7}"
    print(header)
    print("-" * len(header))
    for i, page in enumerate(pages):
        s, b = results[ours_label][i], results[base_label][i]
        print(
            f"{page.name[:34]:34} {s.f1:5.3f} {s.precision:5.3f} {s.recall:5.3f} "
            f"{s.seconds * 1000:6.0f}   {b.f1:7.3f}"
        )
    print()
    rows = []
    for label in labels:
        m = mean(results[label])
        print(
            f"{label:36} mean F1 {m.f1:.3f}  P {m.precision:.3f}  R {m.recall:.3f}  "
            f"{m.seconds * 1000:.0f} ms/page"
        )
        rows.append(
            f"| {label} | {m.f1:.3f} | {m.precision:.3f} | {m.recall:.3f} | "
            f"{m.seconds * 1000:.0f} |"
        )
    ranked = sorted(zip(pages, results[ours_label], strict=True), key=lambda x: x[1].f1)
    worst = ", ".join(f"{p.name} {s.f1:.2f}" for p, s in ranked[:5])
    mean_f1 = mean(results[ours_label]).f1
    median_f1 = statistics.median(s.f1 for s in results[ours_label])
    above = sum(s.f1 >= 0.95 for s in results[ours_label])
    print(f"\nworst: {worst}")
    print(f"target mean F1 >= {TARGET_F1}: {'met' if mean_f1 >= TARGET_F1 else 'NOT met'}")

    body = "\n".join(
        [
            "## Main-text extraction (`extract`)",
            "",
            "Command: `.venv/bin/python -m bench.extract`. Word-level bag-of-words F1 (Unicode "
            "word regex, casefolded) against the gold `articleBody` of the "
            f"{len(pages)} full-gold pages of corpus/articles (scrapinghub "
            "article-extraction-benchmark). Ours = `extract_main_text` then "
            "`clean_article(text, title=<page title from its metadata>).text` (the pipeline "
            "passes the feed entry's title); baseline = `trafilatura.extract(html)`.",
            "",
            "| method | mean F1 | precision | recall | ms/page |",
            "|---|---|---|---|---|",
            *rows,
            "",
            f"Target mean F1 ≥ {TARGET_F1}: {'met' if mean_f1 >= TARGET_F1 else 'not met'}. "
            f"Median F1 (ours) {median_f1:.3f}; {above} of {len(pages)} pages ≥ 0.95. "
            f"Worst pages (ours): {worst}. wired.com splits its article body into several "
            "sibling containers around ad slots and trafilatura keeps only the first (recall "
            "0.45 with every setting); the other low scores are a headline/byline or a "
            "related-links line kept, or an embedded tweet dropped.",
        ]
    )
    write_section("extract", body)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
