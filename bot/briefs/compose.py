"""From a stored story to the brief a subscriber reads: pick, summarise, render.

Pure: it takes the story's members as plain values and a summariser, so the demo, the CLI and
(later) the bot all compose briefs the same way.
"""

from __future__ import annotations

from collections.abc import Sequence

from bot.briefs.keywords import extract_keywords
from bot.briefs.render import BriefView
from bot.briefs.stories import StoryMember, also_sources, pick_representative
from bot.briefs.summarize import Summarizer

SUMMARY_CHARS = 600


def compose_brief(members: Sequence[StoryMember], summarizer: Summarizer) -> BriefView:
    """The brief of one story: its best-written member summarised, the others as "also"."""
    best = pick_representative(members)
    summary = summarizer.summarize(
        best.text, language=best.language, title=best.title, max_chars=SUMMARY_CHARS
    )
    return BriefView(
        title=best.title,
        url=best.url,
        summary=summary,
        source=best.source,
        published=best.published,
        also=also_sources(members, best),
        language=best.language,
        # Computed here, for the few stories that become briefs, not at ingestion: yake costs
        # tens of milliseconds an article, more than everything else ingestion does to it.
        keywords=extract_keywords(best.text, language=best.language, title=best.title, top=3),
    )
