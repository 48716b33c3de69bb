"""compose_brief: one story's members in, the brief a subscriber reads out."""

from __future__ import annotations

from datetime import UTC, datetime

from bot.briefs.compose import SUMMARY_CHARS, compose_brief
from bot.briefs.render import render_brief
from bot.briefs.stories import StoryMember
from bot.briefs.summarize import ExtractiveSummarizer

FULL = (
    "The Gannet Street Bridge in Port Alder reopened to traffic at 6 a.m. on Monday after 44 "
    "days of repairs. Storm Ilse drove a barge into its central pier on 2 October. "
    "Engineers replaced two bearings and rebuilt the pier's fender at a cost of 4.2 million "
    "dollars.\n\nA 30-tonne limit applies until March 2027, the city said. About 18,000 "
    "vehicles cross the bridge every day, and buses return to their usual routes on Tuesday."
)


def member(article_id: int, source: str, text: str, hour: int) -> StoryMember:
    return StoryMember(
        article_id=article_id,
        title="Port Alder bridge reopens after storm repairs",
        text=text,
        source=source,
        url=f"https://{source.lower().replace(' ', '')}.example/bridge",
        published=datetime(2026, 11, 16, hour, tzinfo=UTC),
        language="en",
    )


def test_the_full_text_member_is_summarised_and_the_others_are_listed_as_also() -> None:
    teaser = member(1, "Coastline Wire", "The bridge reopened on Monday.", 8)
    full = member(2, "Northwind Daily", FULL, 9)

    brief = compose_brief([teaser, full], ExtractiveSummarizer())

    assert brief.source == "Northwind Daily"
    assert brief.summary.startswith("The Gannet Street Bridge in Port Alder reopened")
    assert len(brief.summary) <= SUMMARY_CHARS
    assert brief.also == [("Coastline Wire", "https://coastlinewire.example/bridge")]
    assert brief.keywords and len(brief.keywords) <= 3
    html = render_brief(brief)
    assert '<a href="https://northwinddaily.example/bridge">' in html
    assert "Coastline Wire" in html
