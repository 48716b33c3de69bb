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


def score(system: Callable[[Pair], str], pairs: Sequence[Pair]) -> dict[str, float]:
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


def main() -> None:
    data = load_pairs()
    default = ExtractiveSummarizer()
    other: Algorithm = "lexrank" if default.algorithm == "textrank" else "textrank"
    systems: dict[str, Callable[[Pair], str]] = {
        f"**ours** ({default.algorithm}, default)": ours(default),
        f"ours with {other}, same weights": ours(ExtractiveSummarizer(algorithm=other)),
        "lead-3": lead3,
        "lead-3 within 600 chars": lead3_capped,
        "plain LexRank (3 sentences)": plain_lexrank,
    }
    header = (
        "| system | EN R-1 | EN R-2 | EN R-L | EN chars | FR R-1 | FR R-2 | FR R-L | FR chars |\n"
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|"
    )
    rows = []
    for name, system in systems.items():
        en, fr = score(system, data["en"]), score(system, data["fr"])
        rows.append(
            f"| {name} | {en['rouge1']:.1f} | {en['rouge2']:.1f} | {en['rougeL']:.1f} | "
            f"{en['chars']:.0f} | {fr['rouge1']:.1f} | {fr['rouge2']:.1f} | {fr['rougeL']:.1f} | "
            f"{fr['chars']:.0f} |"
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
            "stemming for every system. Ours is capped at 600 characters (the brief's budget) "
            "and stops adding sentences at 300; lead-3 and LexRank are uncapped, so lead-3 is "
            "also shown held to the same 600 characters. Development set only (tiny: read "
            "differences under ~2 points as noise); held-out pairs are checked separately.",
            "",
            header,
            *rows,
            "",
            "Centrality with no signal (every sentence scored the same) on "
            f"{len(everything)} articles: sumy LexRank {flat['lexrank']}, TextRank "
            f"{flat['textrank']}. sumy's LexRank has no damping and binarises similarity at "
            "0.1, so on short articles it often degenerates to pure position; its ROUGE then "
            "mirrors the lead prior. TextRank is the default for that reason; the ROUGE gap "
            "between the two rows is within noise.",
            "",
            f"Speed of the default summariser after warm-up: median {median_ms:.1f} ms per "
            f"article over the set; {five_kb_ms:.1f} ms for a 5 KB article.",
        ]
    )
    print(body)
    write_section("summaries", body)


if __name__ == "__main__":
    main()
