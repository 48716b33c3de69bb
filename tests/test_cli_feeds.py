"""`newsbrief feeds import` and `newsbrief feeds export`, run as a user runs them: a real
process, real files, a real database on each backend (the second database of the round trip
is a fresh SQLite file, so on PostgreSQL the round trip also crosses engines)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from sqlmodel import Session

from bot.ingest.opml import parse_opml
from storage import feeds as feed_queries
from storage.db import make_engine

NEWSBRIEF = Path(sys.executable).with_name("newsbrief")

# What a feed reader exports: categories, a comment, OPML 1.0, tracking parameters, the same
# feed twice under two spellings, and outlines that are no http(s) feed at all.
READER_EXPORT = """<?xml version="1.0" encoding="UTF-8"?>
<!-- OPML exported by a feed reader -->
<opml version="1.0">
  <head>
    <title>Subscriptions of reader@example.org</title>
    <dateCreated>Sun, 01 Mar 2026 08:00:00 GMT</dateCreated>
  </head>
  <body>
    <outline text="News" title="News">
      <outline text="Le Monde - Actualités" title="Le Monde - Actualités" type="rss"
               xmlUrl="https://www.lemonde.fr/rss/une.xml" htmlUrl="https://www.lemonde.fr"/>
      <outline text="BBC News - World" type="rss"
               xmlUrl="http://feeds.bbci.co.uk/news/world/rss.xml"/>
      <outline text="Медуза" type="rss" xmlUrl="https://meduza.io/rss/all"/>
    </outline>
    <outline text="Tech">
      <outline text="Golem.de &amp; more" type="rss"
               xmlUrl="https://rss.golem.de/rss.php?feed=RSS2.0&amp;utm_source=reader"/>
      <outline text="heise online" type="rss" xmlUrl="https://www.heise.de/rss/heise-atom.xml"/>
      <outline text="heise, again" type="rss" xmlUrl="http://heise.de/rss/heise-atom.xml/"/>
    </outline>
    <outline text="Broken" type="rss" xmlUrl="javascript:alert(1)"/>
    <outline text="Podcasts"><outline text="Mail" xmlUrl="mailto:news@example.org"/></outline>
  </body>
</opml>
"""
EXPECTED = {  # what the import stores: canonical URLs, the reader's titles
    "https://www.lemonde.fr/rss/une.xml": "Le Monde - Actualités",
    "http://feeds.bbci.co.uk/news/world/rss.xml": "BBC News - World",
    "https://meduza.io/rss/all": "Медуза",
    "https://rss.golem.de/rss.php?feed=RSS2.0": "Golem.de & more",
    "https://www.heise.de/rss/heise-atom.xml": "heise online",
}


def newsbrief(
    *args: str, cwd: Path, database_url: str, stdin: bytes | None = None
) -> subprocess.CompletedProcess[bytes]:
    """Bytes in and out: an OPML export is bytes, and stdout must be exactly the document."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSBRIEF_")}
    env.update({"NEWSBRIEF_DATABASE_URL": database_url, "COLUMNS": "120"})
    return subprocess.run(
        [str(NEWSBRIEF), *args], cwd=cwd, env=env, input=stdin, capture_output=True, timeout=120
    )


def stored(database_url: str) -> dict[str, str | None]:
    """The feeds in the database, read directly (each CLI start loads the ingest stack)."""
    engine = make_engine(database_url)
    try:
        with Session(engine) as session:
            return {f.url: f.title for f in feed_queries.list_feeds(session)}
    finally:
        engine.dispose()


@pytest.fixture
def opml_file(tmp_path: Path) -> Path:
    path = tmp_path / "subscriptions.opml"
    path.write_text(READER_EXPORT, encoding="utf-8")
    return path


@pytest.fixture
def fresh_database(tmp_path: Path) -> str:
    """A second, empty database, migrated the way a user migrates one."""
    url = f"sqlite:///{tmp_path / 'second.db'}"
    upgraded = newsbrief("db", "upgrade", cwd=tmp_path, database_url=url)
    assert upgraded.returncode == 0, upgraded.stderr.decode()
    return url


def test_import_export_import_into_a_fresh_database_gives_the_same_feeds(
    tmp_path: Path, database_url: str, fresh_database: str, opml_file: Path
) -> None:
    first = newsbrief("feeds", "import", str(opml_file), cwd=tmp_path, database_url=database_url)
    assert first.returncode == 0, first.stderr.decode()
    assert stored(database_url) == EXPECTED

    exported = newsbrief("feeds", "export", cwd=tmp_path, database_url=database_url)
    assert exported.returncode == 0, exported.stderr.decode()
    assert exported.stderr == b""  # stdout is the document and nothing else
    assert ET.fromstring(exported.stdout).get("version") == "2.0"

    second = newsbrief(
        "feeds", "import", "-", "--json", cwd=tmp_path, database_url=fresh_database,
        stdin=exported.stdout,
    )  # fmt: skip
    assert second.returncode == 0, second.stderr.decode()
    report = json.loads(second.stdout)
    assert len(report["added"]) == 5 and report["present"] == report["invalid"] == []
    assert stored(fresh_database) == EXPECTED

    again = newsbrief("feeds", "export", cwd=tmp_path, database_url=fresh_database)
    assert parse_opml(again.stdout) == parse_opml(exported.stdout) == list(EXPECTED.items())


def test_import_names_what_it_added_and_why_it_skipped_the_rest(
    tmp_path: Path, database_url: str, opml_file: Path
) -> None:
    result = newsbrief(
        "feeds", "import", str(opml_file), "--json", cwd=tmp_path, database_url=database_url
    )
    assert result.returncode == 0
    report = json.loads(result.stdout)
    assert [(f["url"], f["title"]) for f in report["added"]] == list(EXPECTED.items())
    heise = next(f for f in report["added"] if "heise" in f["url"])
    assert report["present"] == [
        {
            "url": "http://heise.de/rss/heise-atom.xml/",
            "id": heise["id"],
            "feed_url": heise["url"],
        }
    ]
    assert [entry["url"] for entry in report["invalid"]] == [
        "javascript:alert(1)",
        "mailto:news@example.org",
    ]
    log = result.stderr.decode()
    assert f"added #{heise['id']} https://www.heise.de/rss/heise-atom.xml (heise online)" in log
    assert f"skipped http://heise.de/rss/heise-atom.xml/: already there as #{heise['id']}" in log
    assert "skipped mailto:news@example.org: not an http(s) URL" in log
    assert "8 feeds in the file: 5 added, 1 already there, 2 invalid" in log

    # The same file again: nothing new, and that is not an error.
    twice = newsbrief("feeds", "import", str(opml_file), cwd=tmp_path, database_url=database_url)
    assert twice.returncode == 0 and twice.stdout == b""
    assert "0 added, 6 already there, 2 invalid" in twice.stderr.decode()
    assert stored(database_url) == EXPECTED


@pytest.mark.parametrize(
    ("name", "content", "reason"),
    [
        ("missing.opml", None, "No such file"),
        ("feed.opml", b"<rss version='2.0'><channel/></rss>", "root element <rss>"),
        ("cut.opml", READER_EXPORT.encode()[:300], "not a readable OPML document"),
        ("words.opml", b"Le Monde, heise", "not a readable OPML document"),
    ],
)
def test_a_file_that_is_not_readable_opml_exits_1_and_adds_nothing(
    tmp_path: Path, database_url: str, name: str, content: bytes | None, reason: str
) -> None:
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    result = newsbrief(
        "feeds", "import", str(path), "--json", cwd=tmp_path, database_url=database_url
    )
    assert result.returncode == 1
    assert result.stdout == b""
    assert reason in " ".join(result.stderr.decode().split())  # rich wraps long lines
    assert stored(database_url) == {}


def test_export_to_a_file_and_of_an_empty_catalogue(tmp_path: Path, database_url: str) -> None:
    target = tmp_path / "out.opml"
    empty = newsbrief("feeds", "export", "-o", str(target), cwd=tmp_path, database_url=database_url)
    assert empty.returncode == 0 and empty.stdout == b""
    assert f"exported 0 feeds to {target}" in empty.stderr.decode()
    assert parse_opml(target.read_bytes()) == []

    bad = newsbrief(
        "feeds", "export", "--output", str(tmp_path / "no" / "such" / "dir.opml"),
        cwd=tmp_path, database_url=database_url,
    )  # fmt: skip
    assert bad.returncode == 1 and "cannot write" in bad.stderr.decode()
