"""The `newsbrief` console script, run as a user runs it: a real process, real files, real HTTP.

Every --json output must be exactly one JSON document on stdout (progress and logs on stderr),
so these tests parse stdout whole.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

from tests.support.botapi import BotAPIEmulator
from tests.support.process import bot_api, environment, newsbrief, start, terminate, wait


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    return tmp_path


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {
        "NEWSBRIEF_DATABASE_URL": f"sqlite:///{tmp_path / 'cli.db'}",
        "NEWSBRIEF_ALLOW_PRIVATE_NETWORKS": "true",
        "NEWSBRIEF_EXTRACT_TEASERS": "false",
        # The demo's "auto" would probe the internet; tests stay on 127.0.0.1.
        "NEWSBRIEF_DEMO_SOURCE": "bundled",
    }


def test_commands_refuse_a_database_without_schema_and_name_the_fix(workdir, env) -> None:
    result = newsbrief("stats", "--json", cwd=workdir, env=env)
    assert result.returncode == 1
    assert result.stdout == ""
    assert "newsbrief db upgrade" in result.stderr


def test_the_bot_refuses_a_database_without_schema_with_the_fix_not_a_traceback(
    workdir, env, emu: BotAPIEmulator
) -> None:
    result = newsbrief("run", cwd=workdir, env={**env, **bot_api(emu)})
    assert result.returncode == 1
    assert "newsbrief db upgrade" in result.stderr and "Traceback" not in result.stderr
    assert emu.calls == []  # it stopped before talking to Telegram


def test_stats_json_is_one_document_with_the_counts(workdir, env) -> None:
    assert newsbrief("db", "upgrade", cwd=workdir, env=env).returncode == 0
    result = newsbrief("stats", "--json", cwd=workdir, env=env)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"feeds": 0, "articles": 0, "stories": 0, "subscribers": 0}


def test_feeds_add_list_remove_and_the_same_feed_twice_is_refused(workdir, env, server) -> None:
    newsbrief("db", "upgrade", cwd=workdir, env=env)
    url = server.url("/feeds/lemonde-une-fr-2018-02.rss")
    assert newsbrief("feeds", "add", url, cwd=workdir, env=env).returncode == 0
    again = newsbrief(
        "feeds", "add", url.replace("http://", "HTTP://") + "?utm_source=x", cwd=workdir, env=env
    )
    assert again.returncode == 1 and "already added" in again.stderr

    listed = json.loads(newsbrief("feeds", "list", "--json", cwd=workdir, env=env).stdout)
    assert [f["url"] for f in listed] == [url]
    assert {"id", "url", "title", "error_count", "last_error", "next_check"} <= set(listed[0])

    assert newsbrief("feeds", "remove", str(listed[0]["id"]), cwd=workdir, env=env).returncode == 0
    assert json.loads(newsbrief("feeds", "list", "--json", cwd=workdir, env=env).stdout) == []
    missing = newsbrief("feeds", "remove", "999", cwd=workdir, env=env)
    assert missing.returncode == 1 and "no feed" in missing.stderr


def test_fetch_reports_each_feed_and_exits_zero_when_some_fail(workdir, env, server) -> None:
    server.route("/gone.xml", status=404, body=b"not here")
    env = {
        **env,
        # NEWSBRIEF_FEEDS are added on start.
        "NEWSBRIEF_FEEDS": f"{server.url('/feeds/heise-online-de.rdf')},{server.url('/gone.xml')}",
    }
    newsbrief("db", "upgrade", cwd=workdir, env=env)

    result = newsbrief("fetch", "--json", cwd=workdir, env=env)

    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["new"] == 60 and report["failed"] == 1
    failed = next(f for f in report["feeds"] if f["status"] == "failed")
    assert failed["url"].endswith("/gone.xml") and "404" in failed["error"]
    stats = json.loads(newsbrief("stats", "--json", cwd=workdir, env=env).stdout)
    assert stats["articles"] == 60 and stats["feeds"] == 2

    # Nothing is due any more; --all fetches anyway and the server answers 304.
    assert json.loads(newsbrief("fetch", "--json", cwd=workdir, env=env).stdout)["feeds"] == []
    again = json.loads(newsbrief("fetch", "--all", "--json", cwd=workdir, env=env).stdout)
    assert again["new"] == 0 and again["not_modified"] == 1


def test_fetch_without_json_prints_the_summary_table_on_stderr_only(workdir, env, server) -> None:
    newsbrief("db", "upgrade", cwd=workdir, env=env)
    newsbrief("feeds", "add", server.url("/feeds/golem-de-2018-10.rss"), cwd=workdir, env=env)
    result = newsbrief("fetch", cwd=workdir, env=env)
    assert result.returncode == 0
    assert result.stdout == ""
    assert "fetch cycle" in result.stderr and "new 40" in result.stderr


def test_brief_of_the_seed_is_french_short_and_free_of_repeats_and_footer(
    workdir, env, seeds_dir
) -> None:
    result = newsbrief(
        "brief", str(seeds_dir / "blog-article-fr.txt"), "--json", cwd=workdir, env=env
    )
    assert result.returncode == 0, result.stderr
    brief = json.loads(result.stdout)
    assert {"language", "title", "summary", "text", "removed", "html"} <= set(brief)
    assert brief["language"] == "fr"
    summary = brief["summary"]
    assert 0 < len(summary) <= 600
    sentences = [s for s in re.split(r"(?<=[.!?])\s+", summary) if s]
    assert len(sentences) == len(set(sentences))
    assert "commentaire" not in summary.lower() and "commentaire" not in brief["text"].lower()
    assert "retrait" in summary and "maintien de la paix" in summary and "Karabagh" in summary
    assert len(brief["removed"]) == 6  # three paragraphs given twice, three footer lines
    assert brief["text"].count("Le contingent russe") == 1
    assert brief["html"] and "<p>" not in brief["html"]


def test_brief_reads_stdin(workdir, env) -> None:
    text = (
        "The city council approved the new budget on Monday after a long debate. "
        "The plan raises spending on schools by 4 percent and freezes fares until 2027.\n"
        "Read more\n"
    )
    result = newsbrief("brief", "-", "--json", cwd=workdir, env=env, stdin=text)
    brief = json.loads(result.stdout)
    assert brief["language"] == "en" and "Read more" in brief["removed"]


def test_make_run_without_a_token_runs_the_offline_demo_and_prints_briefs(workdir, env) -> None:
    result = newsbrief("run", cwd=workdir, env={**env, "NEWSBRIEF_BOT_TOKEN": ""})
    assert result.returncode == 0, result.stderr
    assert "Gannet Street Bridge" in result.stdout  # the bridge story, told by two publishers
    assert "also: Coastline Wire" in result.stdout
    assert "Aucun commentaire" not in result.stdout
    assert "@BotFather" in result.stderr
    assert (workdir / "data" / "demo.db").is_file()
    # A second run finds nothing new but still shows the briefs.
    again = newsbrief("run", cwd=workdir, env={**env, "NEWSBRIEF_BOT_TOKEN": ""})
    assert again.returncode == 0 and "0 new articles" in again.stderr
    assert "Gannet Street Bridge" in again.stdout


def test_brief_of_a_web_page_extracts_its_main_text_and_title(workdir, env, server) -> None:
    url = server.url("/articles/space-com-686bb170.html")
    result = newsbrief("brief", url, "--json", cwd=workdir, env=env)
    assert result.returncode == 0, result.stderr
    brief = json.loads(result.stdout)
    assert brief["language"] == "en"
    assert "Europa" in brief["title"] and "Europa" in brief["summary"]
    assert 0 < len(brief["summary"]) <= 600
    assert f'href="{url}"' in brief["html"]


def test_run_with_a_token_serves_the_bot_api_given_and_stops_cleanly_on_sigterm(
    workdir, env
) -> None:
    assert newsbrief("db", "upgrade", cwd=workdir, env=env).returncode == 0
    with BotAPIEmulator() as emu:
        settings = {
            "NEWSBRIEF_PARSE_WORKERS": "0",
            **bot_api(emu),
            "NEWSBRIEF_ADMIN_IDS": "42",
            "NEWSBRIEF_LOG_LEVEL": "DEBUG",
        }
        process = start("run", cwd=workdir, env=environment(env, settings), stdout=subprocess.PIPE)
        try:
            emu.push_message(555, "/start")
            wait(lambda: emu.sent_to(555), process, timeout=60, what="the bot answers /start")
        finally:
            out, err = terminate(process)
    assert process.returncode == 0, err
    assert "newsbrief bot" in err and emu.base_url in err
    secret = emu.token.split(":", 1)[1]
    assert secret not in out and secret not in err  # not even at DEBUG


def test_search_prints_ranked_json_results_with_snippets_and_survives_any_query(
    workdir, env, server
) -> None:
    env = {**env, "NEWSBRIEF_FEEDS": server.url("/feeds/lemonde-une-fr-2018-02.rss")}
    newsbrief("db", "upgrade", cwd=workdir, env=env)
    assert newsbrief("fetch", "--json", cwd=workdir, env=env).returncode == 0

    result = newsbrief("search", "medaille", "fourcade", "--json", cwd=workdir, env=env)

    assert result.returncode == 0, result.stderr
    [top, *_] = hits = json.loads(result.stdout)
    assert "Fourcade" in top["title"] and top["url"].startswith("http")
    assert set(top) >= {"id", "title", "url", "source", "published", "score", "snippet"}
    assert len(hits) <= 10
    limited = newsbrief("search", "le", "--json", "--limit", "2", cwd=workdir, env=env)
    assert len(json.loads(limited.stdout)) == 2
    for hostile in ('c++ "unbalanced', "'; DROP TABLE articles; --", "NEAR(a b)", "*"):
        answer = newsbrief("search", hostile, "--json", cwd=workdir, env=env)
        assert answer.returncode == 0, answer.stderr
        assert isinstance(json.loads(answer.stdout), list)
    human = newsbrief("search", "biathlon", cwd=workdir, env=env)
    assert human.returncode == 0 and "Fourcade" in human.stdout
