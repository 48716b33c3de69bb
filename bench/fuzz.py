"""bench/fuzz: mutated corpus feeds through the worker's whole CPU path, looking for crashes.

Each document is a real corpus feed put through one to three random mutations (bit flips,
truncation, tags deleted or repeated, the wrong charset declared or the text re-encoded,
entity bombs and external entities, invalid character references, control bytes, huge
attributes and text, script links, splices of two feeds) and then through exactly what a
parse worker does, in-process: the function a pool worker runs (``worker._process_in_worker``:
parse_feed, the known-GUID query on a scratch SQLite database, prepare_entries: cleaning,
dedup keys, language, event terms, all under the worker's time limit, ``--timeout``), then
``render_brief`` for every article. A crash is any exception other than the documented
per-feed errors (``DocumentResult.error``: "not a feed: ...", "gave up after ..."); a
violation is output storage or Telegram would refuse (NUL or a lone surrogate in a stored
field, an index key too long, a brief over 4096 or linking anything but http(s)). A
document the time limit stops counts as a timeout; the growth of the process's peak RSS while
each document runs is recorded (Linux: the high-water mark is reset before each document;
tracemalloc would double the run time), and the run is deterministic for a given ``--seed``
(``--only N`` replays document N).

Crashing and timed-out inputs are saved under data/fuzz/. The summary goes into the "Fuzzing"
section of docs/reliability.md.

Run: .venv/bin/python -m bench.fuzz [--examples 3000] [--seconds S] [--seed 8]
"""

from __future__ import annotations

import argparse
import os
import random
import re
import resource
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from traceback import format_exc

from bench.report import write_section
from bot.briefs.render import TELEGRAM_LIMIT, BriefView, render_brief, telegram_length
from bot.ingest.prepare import PreparedArticle

# The very function a pool worker runs: parse, known GUIDs, prepare, under the time limit.
from bot.ingest.worker import DocumentJob, _init_worker, _process_in_worker
from storage.db import make_engine
from storage.migrate import upgrade

CORPUS = Path(
    os.environ.get(
        "NEWSBRIEF_CORPUS_DIR", Path(__file__).resolve().parents[2] / "shared" / "corpus"
    )
)
ROOT = Path(__file__).resolve().parent.parent
RELIABILITY = ROOT / "docs" / "reliability.md"
CRASH_DIR = ROOT / "data" / "fuzz"
MAX_BYTES = 10_000_000  # NEWSBRIEF_MAX_FEED_BYTES' default: the fetcher cuts bigger bodies
CONTENT_TYPES = [
    None,
    "application/rss+xml",
    "text/xml",
    "text/html; charset=utf-8",
    "application/xml; charset=iso-8859-1",
    "image/png",
]
_TAG = re.compile(rb"<[A-Za-z][^<>]{0,200}>")
_TEXT = re.compile(rb">([^<>]{8,400})<")
_FORBIDDEN = re.compile("[\x00\ud800-\udfff]")

Mutator = Callable[[random.Random, bytes, list[bytes]], bytes]


# --- mutations ------------------------------------------------------------------------------


def flip_bytes(rng: random.Random, doc: bytes, _corpus: list[bytes]) -> bytes:
    data = bytearray(doc)
    for _ in range(rng.randint(1, 20)):
        at = rng.randrange(len(data))
        data[at] = rng.randrange(256) if rng.random() < 0.5 else data[at] ^ (1 << rng.randrange(8))
    return bytes(data)


def truncate(rng: random.Random, doc: bytes, _corpus: list[bytes]) -> bytes:
    return doc[: rng.randrange(len(doc))]


def _random_tag(rng: random.Random, doc: bytes) -> re.Match[bytes] | None:
    tags = list(_TAG.finditer(doc, rng.randrange(len(doc) // 2 + 1)))
    return rng.choice(tags[:500]) if tags else None


def delete_tag(rng: random.Random, doc: bytes, _corpus: list[bytes]) -> bytes:
    tag = _random_tag(rng, doc)
    return doc[: tag.start()] + doc[tag.end() :] if tag else doc


def repeat_tag(rng: random.Random, doc: bytes, _corpus: list[bytes]) -> bytes:
    tag = _random_tag(rng, doc)
    if tag is None:
        return doc
    span = doc[tag.start() : tag.start() + rng.randint(len(tag[0]), 4000)]
    return doc[: tag.start()] + span * rng.choice([2, 10, 1000]) + doc[tag.start() :]


def swap_encoding(rng: random.Random, doc: bytes, _corpus: list[bytes]) -> bytes:
    """Re-encode the text, or declare a charset it is not in, or both."""
    text = doc.decode("utf-8", "replace")
    target = rng.choice(["utf-16", "utf-16-be", "utf-32", "cp1251", "latin-1", "utf-7", "gb18030"])
    if rng.random() < 0.5:
        doc = text.encode(target, "replace")
    declared = rng.choice([b"utf-8", b"iso-8859-1", b"utf-16", b"undefined", b"x-bogus", b"ebcdic"])
    return re.sub(rb'encoding=["\'][^"\']*["\']', b'encoding="' + declared + b'"', doc, count=1)


ENTITY_ATTACKS = [
    '<!DOCTYPE rss [<!ENTITY a "{big}">{laughs}]>',
    '\n<!DOCTYPE rss [\n<!ENTITY a "{big}">\n]>\n',
    '<!DOCTYPE rss [<!ENTITY a SYSTEM "file:///etc/passwd"><!ENTITY % p SYSTEM "http://127.0.0.1:9/x.dtd">%p;]>',
    '<!DOCTYPE rss SYSTEM "http://127.0.0.1:9/evil.dtd">',
    "<!DOCTYPE rss [<!ENTITY a \"&#60;!ENTITY b 'x'&#62;\">"
    "<!ENTITY % q \"<!ENTITY c '{big}'>\">%q;]>",
]
LAUGHS = "".join(f'<!ENTITY l{i} "{("&l" + str(i - 1) + ";") * 10}">' for i in range(1, 10))


def inject_entities(rng: random.Random, doc: bytes, _corpus: list[bytes]) -> bytes:
    decl = rng.choice(ENTITY_ATTACKS).format(
        big="A" * rng.choice([10, 5000, 100_000]), laughs=f'<!ENTITY l0 "lol">{LAUGHS}'
    )
    refs = rng.choice(["&a;", "&l9;", "&b;", "&c;", "%p;"]) * rng.choice([1, 100, 5000])
    head = re.sub(rb"^(\s*<\?xml[^>]*\?>)?", lambda m: (m[0] or b"") + decl.encode(), doc, count=1)
    text = _TEXT.search(head, rng.randrange(len(head) // 2 + 1))
    at = text.start(1) if text else len(head) // 2
    return head[:at] + refs.encode() + head[at:]


def inject_junk(rng: random.Random, doc: bytes, _corpus: list[bytes]) -> bytes:
    """Invalid character references, control bytes, BOMs and stray markup in text."""
    junk = rng.choice(
        [b"&#0;", b"&#xD800;", b"&#xDFFF;", b"&#x110000;", b"&#" + b"9" * 5000 + b";",
         b"&#55357;&#56832;", b"\x00", b"\x0b\x1f", b"\xef\xbb\xbf", b"\xff\xfe", b"]]>",
         b"<![CDATA[", b"&", b"<", b"&nbsp;", b"\xed\xa0\x80", b"\xc0\xaf"]
    )  # fmt: skip
    for _ in range(rng.randint(1, 10)):
        at = rng.randrange(len(doc) + 1)
        doc = doc[:at] + junk + doc[at:]
    return doc


def huge_attribute(rng: random.Random, doc: bytes, _corpus: list[bytes]) -> bytes:
    tag = _random_tag(rng, doc)
    if tag is None:
        return doc
    value = rng.choice([b"x", b"&amp;", b"\xc3\xa9", b"javascript:alert(1)"]) * rng.choice(
        [1000, 300_000]
    )
    end = tag.end() - 1 - (doc[tag.end() - 2 : tag.end() - 1] == b"/")
    return doc[:end] + b' href="' + value + b'"' + doc[end:]


def huge_text(rng: random.Random, doc: bytes, _corpus: list[bytes]) -> bytes:
    text = _TEXT.search(doc, rng.randrange(len(doc) // 2 + 1))
    if text is None:
        return doc
    words = rng.choice(
        [text[1], text[1].replace(b" ", b""), rng.randbytes(8).hex().encode() + b" "]
    )
    return (
        doc[: text.start(1)]
        + words * (rng.choice([1_000, 20_000]) // len(words) * 50 + 1)
        + doc[text.end(1) :]
    )


def script_links(rng: random.Random, doc: bytes, _corpus: list[bytes]) -> bytes:
    link = rng.choice(
        [
            b"javascript:alert(1)",
            b" JaVaScRiPt:x",
            b"data:text/html,<b>",
            b"java&#x09;script:x",
            b"vbscript:x",
            b"//evil.example/x",
            b"http://[::1",
        ]
    )
    return re.sub(
        rb"(<link>|href=[\"'])[^<\"']*", lambda m: m[1] + link, doc, count=rng.randint(1, 50)
    )


def splice(rng: random.Random, doc: bytes, corpus: list[bytes]) -> bytes:
    other = rng.choice(corpus)
    return doc[: rng.randrange(len(doc))] + other[rng.randrange(len(other)) :]


MUTATORS: list[Mutator] = [
    flip_bytes, truncate, delete_tag, repeat_tag, swap_encoding, inject_entities, inject_junk,
    huge_attribute, huge_text, script_links, splice,
]  # fmt: skip


def mutate(rng: random.Random, doc: bytes, corpus: list[bytes]) -> tuple[bytes, list[str]]:
    applied = []
    for mutator in rng.sample(MUTATORS, rng.randint(1, 3)):
        if doc:
            doc = mutator(rng, doc, corpus)
            applied.append(mutator.__name__)
    return doc, applied


# --- running one document -------------------------------------------------------------------


def _memory_kb(field: str) -> int:
    """VmRSS or VmHWM (peak) of this process in kB; 0 where /proc is not there."""
    try:
        with open("/proc/self/status") as status:
            line = next(line for line in status if line.startswith(field))
    except (OSError, StopIteration):
        return 0
    return int(line.split()[1])


def _reset_peak_memory() -> None:
    try:
        with open("/proc/self/clear_refs", "w") as refs:
            refs.write("5")  # Linux: reset VmHWM to the current RSS
    except OSError:
        pass


def violations(result_batch: list[PreparedArticle], html: list[str]) -> list[str]:
    found = []
    for article in result_batch:
        for name in ("guid", "url", "url_key", "title", "author", "text", "language"):
            value = getattr(article, name) or ""
            if _FORBIDDEN.search(value):
                found.append(f"{name} holds NUL or a lone surrogate")
        if len(article.guid) > 512 or len(article.url_key or "") > 2048:
            found.append("an indexed key is too long")
        if len(article.language or "") > 16:
            found.append("language longer than 16")
    for message in html:
        if telegram_length(message) > TELEGRAM_LIMIT:
            found.append("brief over the Telegram limit")
        for href in re.findall(r'href="([^"]*)"', message):
            if not href.lower().startswith(("http://", "https://")):
                found.append(f"brief links {href[:40]!r}")
    return found


@dataclass
class Totals:
    documents: int = 0
    feeds: int = 0
    not_feeds: int = 0
    entries: int = 0
    over_cap: int = 0
    crashes: Counter[str] = field(default_factory=Counter)
    timeouts: list[str] = field(default_factory=list)
    violations: Counter[str] = field(default_factory=Counter)
    slowest: tuple[float, str] = (0.0, "")
    peak: tuple[int, str] = (0, "")
    mutations: Counter[str] = field(default_factory=Counter)


def save(kind: str, number: int, doc: bytes, text: str) -> None:
    CRASH_DIR.mkdir(parents=True, exist_ok=True)
    (CRASH_DIR / f"{kind}-{number}.xml").write_bytes(doc)
    (CRASH_DIR / f"{kind}-{number}.txt").write_text(text)


def run_one(doc: bytes, content_type: str | None, label: str, totals: Totals) -> None:
    job = DocumentJob(1, doc, "https://feed.example/rss", content_type, None, frozenset())
    _reset_peak_memory()
    before = _memory_kb("VmRSS")
    started = time.perf_counter()
    try:
        result = _process_in_worker(job)
        articles = result.batch.articles if result.batch else []
        source = result.title or ""
        html = [
            render_brief(BriefView(a.title, a.url or "", a.text, source, a.published))
            for a in articles
        ]
    except Exception as exc:  # the point: anything else is a crash to fix
        key = f"{type(exc).__name__}: {str(exc)[:120]}"
        if not totals.crashes[key]:
            save("crash", len(totals.crashes), doc, f"{label}\n{content_type}\n{format_exc()}")
        totals.crashes[key] += 1
        return
    finally:
        elapsed = time.perf_counter() - started
        grown = max(0, _memory_kb("VmHWM") - before) * 1024
        totals.slowest = max(totals.slowest, (elapsed, label))
        totals.peak = max(totals.peak, (grown, label))
    if (result.error or "").startswith("gave up after"):
        save("slow", len(totals.timeouts), doc, f"{label}\n{content_type}\n")
        totals.timeouts.append(label)
    elif result.error is not None:
        totals.not_feeds += 1
    else:
        totals.feeds += 1
        totals.entries += len(articles)
    for problem in violations(articles, html):
        totals.violations[problem] += 1


def fuzz(
    examples: int, seconds: float | None, seed: int, timeout: float, only: int | None = None
) -> tuple[Totals, float]:
    files = sorted(p for p in (CORPUS / "feeds").iterdir() if p.is_file())
    corpus = [p.read_bytes() for p in files]
    rng = random.Random(seed)
    totals = Totals()
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        database_url = f"sqlite:///{Path(tmp) / 'fuzz.db'}"
        upgrade(make_engine(database_url))
        _init_worker(database_url, timeout)  # this process plays the pool worker
        # Its language models load on first use: before the first document's memory figure.
        _process_in_worker(
            DocumentJob(1, corpus[0], "https://feed.example/rss", None, None, frozenset())
        )
        for n in range(examples):
            if seconds is not None and time.perf_counter() - started > seconds:
                break
            index = rng.randrange(len(files))
            doc, applied = mutate(rng, corpus[index], corpus)
            label = f"#{n} {files[index].name} {'+'.join(applied)}"
            totals.documents += 1
            totals.mutations.update(applied)
            if len(doc) > MAX_BYTES:
                totals.over_cap += 1
                continue
            content_type = rng.choice(CONTENT_TYPES)
            if only is not None and n != only:
                continue  # generated all the same: document N depends on those before it
            run_one(doc, content_type, label, totals)
            if (n + 1) % 250 == 0:
                print(f"{n + 1} documents, {sum(totals.crashes.values())} crashes", flush=True)
    return totals, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--examples", type=int, default=3000, help="mutated documents to run")
    parser.add_argument("--seconds", type=float, default=None, help="stop after this long")
    parser.add_argument("--seed", type=int, default=8)
    parser.add_argument("--only", type=int, default=None, help="run only document N (replay)")
    parser.add_argument(
        "--timeout", type=float, default=60.0, help="seconds per document (the worker's limit)"
    )
    parser.add_argument("--no-write", action="store_true", help="do not update docs/reliability.md")
    args = parser.parse_args()
    totals, took = fuzz(args.examples, args.seconds, args.seed, args.timeout, args.only)
    crashes = sum(totals.crashes.values())
    peak_mb = totals.peak[0] / 1e6
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    rows = [
        ("documents (mutated corpus feeds)", f"{totals.documents} (seed {args.seed})"),
        ("parsed as feeds / refused as not a feed", f"{totals.feeds} / {totals.not_feeds}"),
        ("entries prepared and rendered", f"{totals.entries}"),
        ("skipped: over the 10 MB byte cap", f"{totals.over_cap}"),
        ("crashes (exceptions other than the per-feed error)", f"{crashes}"),
        ("output violations (unstorable field, bad brief)", f"{sum(totals.violations.values())}"),
        (f"over the {args.timeout:g} s limit per document", f"{len(totals.timeouts)}"),
        ("slowest document", f"{totals.slowest[0]:.2f} s ({totals.slowest[1]})"),
        ("largest peak RSS growth, one document", f"{peak_mb:.0f} MB ({totals.peak[1]})"),
        ("peak RSS of the process", f"{rss_mb:.0f} MB"),
        ("time", f"{took:.0f} s"),
    ]  # fmt: skip
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        print(f"{key:<{width}}  {value}")
    problems = totals.crashes + totals.violations
    for problem, count in problems.most_common():
        print(f"  {count:5d}  {problem}")
    for label in totals.timeouts[:10]:
        print(f"  timeout  {label}")
    if not args.no_write and args.only is None:
        table = "| measure | value |\n|---|---|\n" + "\n".join(f"| {k} | {v} |" for k, v in rows)
        mix = ", ".join(f"{name} {count}" for name, count in sorted(totals.mutations.items()))
        findings = [f"- {count} × {problem}" for problem, count in problems.most_common()]
        findings += [f"- stopped by the time limit: {label}" for label in totals.timeouts]
        command = f"python -m bench.fuzz --examples {args.examples}"
        if args.seconds and totals.documents < args.examples:
            command += f" --seconds {args.seconds:g}"
        write_section(
            "fuzz",
            f"`{command}`\n\n{table}\n\nMutations applied: {mix}.\n\n"
            + ("\n".join(findings) if findings else "Nothing to report."),
            doc=RELIABILITY,
        )
    # A document stopped by the time limit is a documented per-feed error, not a failure.
    raise SystemExit(1 if crashes or totals.violations else 0)


if __name__ == "__main__":
    main()
