"""ROUGE of our extractive briefs against lead-3 and plain LexRank, English and French.

Run: ``.venv/bin/python -m bench.summaries``

Data: the development pairs in ``../shared/corpus/summaries`` (CNN/DailyMail + XSum for
English, OrangeSum for French). All systems get the same raw article text and the same
tokenizer; ours also gets the title where the data set has one (OrangeSum), as the bot does.

Scoring: rouge-score's default tokenizer drops every non-ASCII letter (French accents would
vanish), so a Unicode word regex + casefold + the language's Snowball stemmer is passed in and
used for every system and reference alike. CNN/DM references are PTB-tokenised ("-LRB-",
"we 're"): bracket codes are undone and the word regex then splits both sides identically.

Nothing here is tuned per article: the summariser's parameters are its documented defaults.
Two-fold discipline: each language's pairs are split by index (even / odd). Every global
parameter of the summariser was chosen on the even half; the odd half is the check. The
selection table prints both halves for the defaults and for one-step alternatives, so a
choice that only fits one half shows.
"""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from rouge_score import rouge_scorer
from sumy.models.dom import ObjectDocumentModel, Paragraph, Sentence
from sumy.summarizers.lex_rank import LexRankSummarizer

from bench.report import write_section
from bot.briefs.summarize import Algorithm, ExtractiveSummarizer
from bot.briefs.tokenize import Tokenizer, stemmer, stop_words, words

CORPUS = Path(__file__).resolve().parent.parent.parent / "shared" / "corpus" / "summaries"
ROUGE_TYPES = ("rouge1", "rouge2", "rougeL")
_PTB = {"-LRB-": "(", "-RRB-": ")", "-LSB-": "[", "-RSB-": "]", "-LCB-": "{", "-RCB-": "}"}


@dataclass(frozen=True)
class Pair:
    language: str
    title: str | None
    article: str
    reference: str


class UnicodeTokenizer:
    """rouge-score tokenizer: Unicode words, casefolded, Snowball-stemmed per language."""

    def __init__(self, language: str) -> None:
        self._stem = stemmer(language)

    def tokenize(self, text: str) -> list[str]:
        for code, char in _PTB.items():
            text = text.replace(code, char)
        return [self._stem(w.casefold()) for w in words(text)]


def load_pairs() -> dict[str, list[Pair]]:
    def read(name: str) -> list[dict[str, str]]:
        with (CORPUS / name).open(encoding="utf-8") as fh:
            return [json.loads(line) for line in fh if line.strip()]

    en = [
        Pair("en", None, r["article"], r["reference_summary"])
        for r in read("cnndm-en-frank-20.jsonl")
    ]
    en += [
        Pair("en", None, r["article"], r["reference_summary_lowercased_tokenized"])
        for r in read("xsum-en-frank-5.jsonl")
    ]
    fr = [
        Pair("fr", r.get("title"), r["article"], r["reference_summary"])
        for r in read("orangesum-fr-25.jsonl")
    ]
    return {"en": en, "fr": fr}


def lead3(pair: Pair) -> str:
    return " ".join(Tokenizer(pair.language).to_sentences(pair.article)[:3])


def lead3_capped(pair: Pair, max_chars: int = 600) -> str:
    """Lead-3 held to the brief's own budget: leading sentences while they fit."""
    taken: list[str] = []
    for sentence in Tokenizer(pair.language).to_sentences(pair.article)[:3]:
        if len(" ".join([*taken, sentence])) > max_chars:
            break
        taken.append(sentence)
    return " ".join(taken)


def plain_lexrank(pair: Pair) -> str:
    """sumy LexRank, three sentences, same tokenizer/stemmer/stop words, no lead bias."""
    tokenizer = Tokenizer(pair.language)
    sentences = tokenizer.to_sentences(pair.article)
    doc = ObjectDocumentModel([Paragraph([Sentence(s, tokenizer) for s in sentences])])
    lexrank = LexRankSummarizer(stemmer(pair.language))
    lexrank.stop_words = stop_words(pair.language)
    return " ".join(str(s) for s in lexrank(doc, 3))


def ours(summarizer: ExtractiveSummarizer) -> Callable[[Pair], str]:
    def run(pair: Pair) -> str:
        return summarizer.summarize(pair.article, language=pair.language, title=pair.title)

    return run


Scores = dict[str, float]


def score(system: Callable[[Pair], str], pairs: Sequence[Pair]) -> Scores:
    """Mean ROUGE F1 ×100 per type, and mean summary length in characters ("chars")."""
    scorer = rouge_scorer.RougeScorer(
        list(ROUGE_TYPES), tokenizer=UnicodeTokenizer(pairs[0].language)
    )
    totals = dict.fromkeys(ROUGE_TYPES, 0.0)
    chars = 0
    for pair in pairs:
        summary = system(pair)
        chars += len(summary)
        result = scorer.score(pair.reference, summary)
        for kind in ROUGE_TYPES:
            totals[kind] += result[kind].fmeasure
    out = {kind: 100 * total / len(pairs) for kind, total in totals.items()}
    out["chars"] = chars / len(pairs)
    return out


def halves(pairs: Sequence[Pair]) -> dict[str, list[Pair]]:
    """The fixed two-fold split: even indices select, odd indices check."""
    return {"even": list(pairs[0::2]), "odd": list(pairs[1::2])}


def cells(en: Scores, fr: Scores) -> str:
    return " | ".join(
        f"{lang['rouge1']:.1f} | {lang['rouge2']:.1f} | {lang['rougeL']:.1f} | {lang['chars']:.0f}"
        for lang in (en, fr)
    )


def margins(ours_: dict[str, Scores], lead: dict[str, Scores]) -> str:
    """Worst and mean lead over lead-3 among the six figures (R-1/R-2/R-L × EN/FR), as
    "worst / mean": a worst above zero beats lead-3 on all six."""
    gaps = [ours_[lang][kind] - lead[lang][kind] for lang in ours_ for kind in ROUGE_TYPES]
    return f"{min(gaps):+.1f} / {sum(gaps) / len(gaps):+.1f}"


def flat_centrality(algorithm: Algorithm, pairs: Sequence[Pair]) -> int:
    """Articles on which the ranker gives every candidate sentence the same score (no signal)."""
    flat = 0
    for pair in pairs:
        ranked = ExtractiveSummarizer(algorithm=algorithm).rank(
            pair.article, language=pair.language, title=pair.title
        )
        flat += len(ranked) > 1 and len({round(r.centrality, 6) for r in ranked}) == 1
    return flat


def timing(summarizer: ExtractiveSummarizer, pairs: Sequence[Pair]) -> tuple[float, float]:
    """(median ms per article, ms for a 5 KB article made of real corpus paragraphs)."""
    for pair in pairs:  # warm-up: segmenter rule sets, stemmer caches
        summarizer.summarize(pair.article, language=pair.language, title=pair.title)
    per_article = []
    for pair in pairs:
        start = time.perf_counter()
        summarizer.summarize(pair.article, language=pair.language, title=pair.title)
        per_article.append(1000 * (time.perf_counter() - start))
    five_kb = "\n\n".join(p.article for p in pairs if p.language == "en")[:5000]
    runs = []
    for _ in range(5):
        start = time.perf_counter()
        summarizer.summarize(five_kb, language="en")
        runs.append(1000 * (time.perf_counter() - start))
    return statistics.median(per_article), statistics.median(runs)


# One-step departures from the defaults, and the summariser as it was before the two-fold
# selection, to show what each choice is worth on each half.
BEFORE = ExtractiveSummarizer(
    centrality_weight=0.3, quote_penalty=0.0, min_sentences=1, dangling_needs_antecedent=False
)
VARIANTS: dict[str, ExtractiveSummarizer] = {
    "**defaults**": ExtractiveSummarizer(),
    "before (w = 0.3, no quote or pronoun rule, min 1)": BEFORE,
    "centrality weight 0.1": ExtractiveSummarizer(centrality_weight=0.1),
    "centrality weight 0.3": ExtractiveSummarizer(centrality_weight=0.3),
    "soft length 60 % of budget": ExtractiveSummarizer(target_share=0.6),
    "soft length 70 % of budget": ExtractiveSummarizer(target_share=0.7),
    "fill the 600-char budget (no soft length, no 3-sentence cap)": ExtractiveSummarizer(
        target_share=1.0, max_sentences=None
    ),
    "no quote penalty": ExtractiveSummarizer(quote_penalty=0.0),
    "one sentence may do (min 1)": ExtractiveSummarizer(min_sentences=1),
    "pronoun-led sentences allowed alone": ExtractiveSummarizer(dangling_needs_antecedent=False),
}
HEADER = (
    "| {first} | EN R-1 | EN R-2 | EN R-L | EN chars | FR R-1 | FR R-2 | FR R-L | FR chars |\n"
    "|---|---:|---:|---:|---:|---:|---:|---:|---:|"
)


def main() -> None:
    data = load_pairs()
    default = ExtractiveSummarizer()
    other: Algorithm = "lexrank" if default.algorithm == "textrank" else "textrank"
    systems: dict[str, Callable[[Pair], str]] = {
        f"**ours** ({default.algorithm}, defaults)": ours(default),
        "ours before this round": ours(BEFORE),
        "ours filling the 600-char budget": ours(
            ExtractiveSummarizer(target_share=1.0, max_sentences=None)
        ),
        f"ours with {other}, same weights": ours(ExtractiveSummarizer(algorithm=other)),
        "lead-3": lead3,
        "lead-3 within 600 chars": lead3_capped,
        "plain LexRank (3 sentences)": plain_lexrank,
    }
    rows = [
        f"| {name} | {cells(score(system, data['en']), score(system, data['fr']))} |"
        for name, system in systems.items()
    ]

    split = {lang: halves(pairs) for lang, pairs in data.items()}
    lead = {
        half: {lang: score(lead3, split[lang][half]) for lang in data} for half in ("even", "odd")
    }
    half_rows = []
    for half, role in (("even", "selection"), ("odd", "check")):
        mine = {lang: score(ours(default), split[lang][half]) for lang in data}
        n = {lang: len(split[lang][half]) for lang in data}
        half_rows.append(
            f"| ours, {half} half ({role}; {n['en']} EN + {n['fr']} FR) | "
            f"{cells(mine['en'], mine['fr'])} |"
        )
        half_rows.append(f"| lead-3, {half} half | {cells(lead[half]['en'], lead[half]['fr'])} |")
    lead_all = {lang: score(lead3, data[lang]) for lang in data}
    selection = []
    for name, summarizer in VARIANTS.items():
        by_half = []
        for half in ("even", "odd"):
            mine = {lang: score(ours(summarizer), split[lang][half]) for lang in data}
            by_half.append(margins(mine, lead[half]))
        full = {lang: score(ours(summarizer), data[lang]) for lang in data}
        selection.append(
            f"| {name} | {by_half[0]} | {by_half[1]} | {margins(full, lead_all)} | "
            f"{full['en']['chars']:.0f} | {full['fr']['chars']:.0f} |"
        )

    everything = data["en"] + data["fr"]
    median_ms, five_kb_ms = timing(default, everything)
    flat = {name: flat_centrality(name, everything) for name in ("lexrank", "textrank")}
    body = "\n".join(
        [
            "## Summaries (ROUGE F1 ×100, mean over articles)",
            "",
            f"English: {len(data['en'])} pairs (CNN/DailyMail + XSum, FRANK); French: "
            f"{len(data['fr'])} pairs (OrangeSum). Unicode word tokenizer, casefold, Snowball "
            "stemming for every system. Ours is capped at 600 characters (the brief's budget), "
            "takes at most three sentences and stops adding them at 300 characters once two are "
            "taken; lead-3 and LexRank are uncapped, so lead-3 is also shown held to the same "
            "600 characters. Chars = mean summary length in characters. Development set only "
            "(tiny: read differences under ~2 points as noise); held-out pairs are checked "
            "separately.",
            "",
            HEADER.format(first="system"),
            *rows,
            "",
            "### Two-fold check (split by index: even = selection, odd = check)",
            "",
            HEADER.format(first="half"),
            *half_rows,
            "",
            "Selection: margin over lead-3 among the six figures (R-1/R-2/R-L × EN/FR), "
            "worst / mean, per half; a worst above zero beats lead-3 on all six. Each row "
            "changes one default. The soft length (50 %) was chosen on the even half. The "
            "even half cannot tell the centrality weight, quote penalty or two-sentence "
            "minimum apart on the worst figure (EN R-2, which they do not move; by the mean it "
            "prefers w = 0.3); those were set on principle (a stronger lead prior, reported "
            "facts over quotes, a lede plus support) and only the odd half shows their effect, "
            "so for them it is not an independent check.",
            "",
            "| variant | even half | odd half | all pairs | EN chars | FR chars |",
            "|---|---:|---:|---:|---:|---:|",
            *selection,
            "",
            "Centrality with no signal (every sentence scored the same) on "
            f"{len(everything)} articles: sumy LexRank {flat['lexrank']}, TextRank "
            f"{flat['textrank']}. sumy's LexRank has no damping and binarises similarity at "
            "0.1, so on short articles it often degenerates to pure position; its ROUGE then "
            "mirrors the lead prior. TextRank is the default for that reason.",
            "",
            f"Speed of the default summariser after warm-up: median {median_ms:.1f} ms per "
            f"article over the set; {five_kb_ms:.1f} ms for a 5 KB article.",
        ]
    )
    print(body)
    write_section("summaries", body)


if __name__ == "__main__":
    main()
