"""``newsbrief feeds …`` and ``newsbrief fetch``: the feed catalogue and fetch cycles."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from sqlmodel import Session

from bot.cli import app, engine_or_exit, err, fail, print_json, settings_from
from storage import feeds as feed_queries
from storage.models import Feed

if TYPE_CHECKING:  # the pipeline pulls in the NLP stack; commands import it when they run
    from bot.ingest.records import CycleReport, FeedReport

feeds_app = typer.Typer(no_args_is_help=True, help="The feed catalogue.")
app.add_typer(feeds_app, name="feeds")


def feed_json(feed: Feed) -> dict[str, object]:
    return {
        "id": feed.id,
        "url": feed.url,
        "title": feed.title,
        "language": feed.language,
        "enabled": feed.enabled,
        "error_count": feed.error_count,
        "last_error": feed.last_error,
        "last_status": feed.last_status,
        "last_success": feed.last_success_at.isoformat() if feed.last_success_at else None,
        "next_check": feed.next_check_at.isoformat() if feed.next_check_at else None,
    }


@feeds_app.command("add")
def feeds_add(
    ctx: typer.Context,
    urls: Annotated[list[str], typer.Argument(help="feed URLs")],
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Add one or more feeds (the same feed under another spelling is refused)."""
    from bot.services import InvalidFeedURLError, add_feed

    engine = engine_or_exit(settings_from(ctx))
    added, problems = [], 0
    for url in urls:
        try:
            feed = add_feed(engine, url)
        except (InvalidFeedURLError, feed_queries.DuplicateFeedError) as exc:
            err.print(f"[yellow]skipped[/] {url}: {exc}", highlight=False)
            problems += 1
            continue
        added.append(feed)
        if not as_json:
            err.print(f"added #{feed.id} {feed.url}", highlight=False)
    if as_json:
        print_json([feed_json(f) for f in added])
    if problems and not added:
        raise typer.Exit(1)


@feeds_app.command("list")
def feeds_list(
    ctx: typer.Context, as_json: Annotated[bool, typer.Option("--json")] = False
) -> None:
    """List the feeds with their fetch state."""
    engine = engine_or_exit(settings_from(ctx))
    with Session(engine) as session:
        feeds = list(feed_queries.list_feeds(session))
    if as_json:
        print_json([feed_json(f) for f in feeds])
        return
    table = Table("id", "title", "url", "errors", "last error", "next check")
    for f in feeds:
        table.add_row(
            str(f.id),
            f.title or "",
            f.url,
            str(f.error_count),
            (f.last_error or "")[:60],
            f.next_check_at.strftime("%Y-%m-%d %H:%M") if f.next_check_at else "",
        )
    err.print(table)


@feeds_app.command("import")
def feeds_import(
    ctx: typer.Context,
    source: Annotated[str, typer.Argument(metavar="FILE", help="an OPML file, or - for stdin")],
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Add the feeds of an OPML file (feeds already there and invalid URLs are skipped)."""
    from bot.ingest.opml import OPMLError, parse_opml

    try:
        data = sys.stdin.buffer.read() if source == "-" else Path(source).read_bytes()
        entries = parse_opml(data)
    except (OSError, OPMLError) as exc:
        fail(f"cannot import {source}: {exc}")
    from bot.services import import_feeds  # the ingest stack: only once there is work

    engine = engine_or_exit(settings_from(ctx))
    result = import_feeds(engine, entries)
    for feed in result.added:
        name = f" ({feed.title})" if feed.title else ""
        err.print(
            f"added #{feed.id} {feed.url}{name}", highlight=False, markup=False, soft_wrap=True
        )
    for url, existing in result.present:
        err.print(
            f"skipped {url}: already there as #{existing.id} {existing.url}",
            highlight=False,
            markup=False,
            soft_wrap=True,
        )
    for url, reason in result.invalid:
        err.print(f"skipped {url}: {reason}", highlight=False, markup=False, soft_wrap=True)
    err.print(
        f"{len(entries)} feeds in the file: {len(result.added)} added, "
        f"{len(result.present)} already there, {len(result.invalid)} invalid",
        highlight=False,
    )
    if as_json:
        print_json(
            {
                "added": [feed_json(f) for f in result.added],
                "present": [{"url": u, "id": f.id, "feed_url": f.url} for u, f in result.present],
                "invalid": [{"url": u, "reason": r} for u, r in result.invalid],
            }
        )


@feeds_app.command("export")
def feeds_export(
    ctx: typer.Context,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="write to FILE, not stdout")
    ] = None,
) -> None:
    """Write every feed as OPML 2.0 (stdout by default), for any feed reader to import."""
    from bot.ingest.opml import write_opml

    engine = engine_or_exit(settings_from(ctx))
    with Session(engine) as session:
        feeds = list(feed_queries.list_feeds(session))
    document = write_opml(feeds, title="newsbrief feeds")
    if output is None:
        sys.stdout.buffer.write(document)
        sys.stdout.buffer.flush()
        return
    try:
        output.write_bytes(document)
    except OSError as exc:
        fail(f"cannot write {output}: {exc}")
    err.print(
        f"exported {len(feeds)} feeds to {output}", highlight=False, markup=False, soft_wrap=True
    )


@feeds_app.command("remove")
def feeds_remove(
    ctx: typer.Context, ref: Annotated[str, typer.Argument(help="feed id or URL")]
) -> None:
    """Remove a feed and its articles."""
    engine = engine_or_exit(settings_from(ctx))
    with Session(engine) as session:
        feed = feed_queries.find_feed(session, ref)
        if feed is None:
            fail(f"no feed {ref!r} (see `newsbrief feeds list`)")
        session.delete(feed)
        session.commit()
    err.print(f"removed {ref}", highlight=False)


def summary_table(report: CycleReport) -> Table:
    table = Table(title=f"fetch cycle: {len(report.feeds)} feeds in {report.elapsed:.1f}s")
    for column in ("feed", "status", "new", "dup", "story", "reason"):
        table.add_column(column, overflow="fold")
    for f in sorted(report.feeds, key=lambda r: (r.status != "failed", r.feed_id)):
        style = {"failed": "red", "not_modified": "dim"}.get(f.status, "")
        table.add_row(
            f"#{f.feed_id} {f.url}",
            f.status.replace("_", " "),
            str(f.new),
            str(f.duplicate),
            str(f.same_story),
            f.error or f.warning or "",
            style=style,
        )
    table.caption = (
        f"new {report.total('new')} · duplicate {report.total('duplicate')} · "
        f"not modified {report.count('not_modified')} · failed {report.count('failed')}"
    )
    return table


def report_json(report: CycleReport) -> dict[str, object]:
    def feed(f: FeedReport) -> dict[str, object]:
        return {
            "id": f.feed_id,
            "url": f.url,
            "status": f.status,
            "new": f.new,
            "duplicate": f.duplicate,
            "same_story": f.same_story,
            "extracted": f.extracted,
            "error": f.error,
            "warning": f.warning,
            "seconds": round(f.elapsed, 3),
        }

    return {
        "feeds": [feed(f) for f in report.feeds],
        "new": report.total("new"),
        "duplicate": report.total("duplicate"),
        "not_modified": report.count("not_modified"),
        "failed": report.count("failed"),
        "seconds": round(report.elapsed, 3),
    }


@app.command()
def fetch(
    ctx: typer.Context,
    all_feeds: Annotated[bool, typer.Option("--all", help="fetch every feed, due or not")] = False,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Run one fetch cycle over the due feeds (or all) and print what it did."""
    from bot.services import add_configured_feeds, ingestor

    settings = settings_from(ctx)
    engine = engine_or_exit(settings)
    add_configured_feeds(settings, engine)

    async def cycle() -> CycleReport:
        progress = Progress(
            TextColumn("fetching"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=err,
            transient=True,
            disable=as_json,
        )
        with progress:
            task = progress.add_task("fetch", total=None)
            async with ingestor(settings, engine) as ing:
                return await ing.run_cycle(
                    all_feeds=all_feeds,
                    on_start=lambda n: progress.update(task, total=n),
                    on_feed_done=lambda _r: progress.advance(task),
                )

    report = asyncio.run(cycle())
    if as_json:
        print_json(report_json(report))
    else:
        err.print(summary_table(report))
