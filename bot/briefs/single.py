"""One document in, one brief out: what ``newsbrief brief`` does.

A document is a plain-text article (as a blog feed delivered it), an HTML fragment, or a whole
web page; pages go through main-text extraction first. The output is a plain dict so the CLI can
print it as JSON.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from bot.briefs.compose import SUMMARY_CHARS
from bot.briefs.keywords import extract_keywords
from bot.briefs.render import BriefView, render_brief
from bot.briefs.summarize import ExtractiveSummarizer, Summarizer
from bot.ingest.clean import clean_article, fix_mojibake
from bot.ingest.extract import extract_main_text
from bot.ingest.language import LanguageDetector

_PAGE = re.compile(r"<(?:!doctype\s+html|html|body|head)\b", re.I)
_TITLE = re.compile(r"<title[^>]*>(.*?)</title>", re.I | re.S)


def is_web_page(document: str) -> bool:
    """A whole page (with navigation, footers…) rather than an article body or plain text."""
    return bool(_PAGE.search(document[:5000]))


def page_title(document: str) -> str | None:
    import html

    match = _TITLE.search(document)
    if not match:
        return None
    title = " ".join(html.unescape(match.group(1)).split())
    return fix_mojibake(title) or None


def brief_from_document(
    document: str,
    *,
    title: str | None = None,
    url: str | None = None,
    detector: LanguageDetector | None = None,
    summarizer: Summarizer | None = None,
) -> dict[str, object]:
    """Clean, detect the language of, summarise and render ``document``."""
    body = document
    if is_web_page(document):
        title = title or page_title(document)
        body = extract_main_text(document, url=url) or document
    cleaned = clean_article(body, title=title)
    detector = detector or LanguageDetector()
    language = detector.detect(f"{title or ''}\n{cleaned.text}")
    summarizer = summarizer or ExtractiveSummarizer()
    summary = summarizer.summarize(
        cleaned.text, language=language, title=title, max_chars=SUMMARY_CHARS
    )
    source = urlsplit(url).hostname or "" if url else ""
    view = BriefView(
        title=title or "",
        url=url or "",
        summary=summary,
        source=source,
        published=None,
        also=[],
        language=language,
    )
    return {
        "language": language,
        "title": title,
        "summary": summary,
        "keywords": extract_keywords(cleaned.text, language=language, title=title),
        "text": cleaned.text,
        "removed": cleaned.removed,
        "html": render_brief(view),
    }
