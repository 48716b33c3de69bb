"""``newsbrief search``: the same search engine as the bot's /search, from the command line."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.text import Text
from sqlmodel import Session

from bot.cli import app, engine_or_exit, print_json, settings_from

out = Console()


@app.command()
def search(
    ctx: typer.Context,
    words: Annotated[
        list[str],
        typer.Argument(
            help='the query: words, "exact phrase", -exclude, OR, source:NAME, lang:fr, since:7d'
        ),
    ],
    as_json: Annotated[bool, typer.Option("--json", help="print the results as JSON")] = False,
    limit: Annotated[int, typer.Option(min=1, max=100, help="results to show")] = 10,
) -> None:
    """Search stored stories: one result per story, best first (ties: newest)."""
    from storage.search import search_page

    settings = settings_from(ctx)
    engine = engine_or_exit(settings)
    with Session(engine) as session:
        page = search_page(session, " ".join(words), limit=limit)
    if as_json:
        print_json(
            [
                {
                    "id": hit.article_id,
                    "story_id": hit.story_id,
                    "title": hit.title,
                    "url": hit.url,
                    "source": hit.source,
                    "published": hit.published_at.isoformat() if hit.published_at else None,
                    "language": hit.language,
                    "score": round(hit.score, 6),
                    "snippet": hit.snippet,
                }
                for hit in page.hits
            ]
        )
        return
    total = f"{page.total}+" if page.total_is_estimate else str(page.total)
    out.print(f"[bold]{total}[/] stories · {page.query.describe()}", highlight=False)
    for rank, hit in enumerate(page.hits, 1):
        when = f" · {hit.published_at:%Y-%m-%d}" if hit.published_at else ""
        out.print(f"\n[bold]{rank}. {escape(hit.title)}[/]", highlight=False)
        link = f"\n{hit.url}" if hit.url else ""  # on its own line: terminals wrap long URLs
        out.print(f"[dim]{escape(hit.source)}{when}{link}[/]", highlight=False)
        snippet = Text(hit.snippet)
        for start, end in hit.highlights:
            snippet.stylize("bold yellow", start, end)
        out.print(snippet)
