"""Storage on both backends: migrations, schema check, constraints, full-text sync, queries."""

from __future__ import annotations

import socket
import sqlite3
from datetime import UTC, datetime, timedelta

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, exc, text
from sqlmodel import Session, SQLModel

from storage import articles as article_queries
from storage import db
from storage import feeds as feed_queries
from storage.articles import NewArticle
from storage.db import SchemaOutOfDateError, is_database_outage, make_engine
from storage.migrate import (
    check_schema,
    current_revision,
    downgrade,
    head_revision,
    include_name,
    upgrade,
)
from storage.models import Article, Chat, Feed, Story


def _feed(session: Session, n: int = 1) -> Feed:
    return feed_queries.add_feed(session, f"https://example.org/{n}.xml", f"example.org/{n}.xml")


def _article(
    feed_id: int, guid: str, title: str = "T", body: str = "body", **extra: object
) -> NewArticle:
    values = {"feed_id": feed_id, "guid": guid, "title": title, "text": body}
    values |= {"content_hash": guid, "extracted": False, **extra}
    return NewArticle(values)


def _insert(session: Session, *items: NewArticle) -> list[tuple[int, int]]:
    return article_queries.insert_articles(session, items)


def fulltext_ids(engine: Engine, word: str) -> list[int]:
    """Ids whose title or text contains ``word``, accents and case folded, on either backend."""
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            sql = "SELECT rowid FROM articles_fts WHERE articles_fts MATCH :q ORDER BY rowid"
            return [r[0] for r in conn.execute(text(sql), {"q": f'"{word}"'})]
        sql = (
            "SELECT id FROM articles WHERE search_vector @@ "
            "to_tsquery('simple', newsbrief_unaccent(:q)) ORDER BY id"
        )
        return [r[0] for r in conn.execute(text(sql), {"q": word})]


def test_models_match_the_newest_migration(engine: Engine) -> None:
    with engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"include_name": include_name})
        diff = [
            d for d in compare_metadata(ctx, SQLModel.metadata) if "search_vector" not in str(d)
        ]
    assert diff == []


def test_schema_check_refuses_an_empty_database_and_names_the_command(tmp_path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'empty.db'}")
    with pytest.raises(SchemaOutOfDateError, match="newsbrief db upgrade"):
        check_schema(engine)
    upgrade(engine)
    check_schema(engine)


def test_schema_check_refuses_an_older_revision(tmp_path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'old.db'}")
    upgrade(engine)
    downgrade(engine, "base")
    assert current_revision(engine) is None
    upgrade(engine)
    assert current_revision(engine) == head_revision()


def test_sqlite_runs_in_wal_mode_with_a_busy_timeout(tmp_path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'wal.db'}")
    with engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(text("PRAGMA busy_timeout")).scalar() >= 5000
        assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1


def _raised(engine: Engine, sql: str) -> BaseException:
    with pytest.raises(exc.DBAPIError) as caught, engine.connect() as conn:
        conn.execute(text(sql))
    return caught.value


def test_a_locked_sqlite_database_is_an_outage_and_a_bad_statement_is_not(
    tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(db, "SQLITE_BUSY_TIMEOUT_MS", 100)
    path = tmp_path / "locked.db"
    engine = make_engine(f"sqlite:///{path}")
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE t (x TEXT UNIQUE)"))
        conn.execute(text("INSERT INTO t VALUES ('a')"))
    holder = sqlite3.connect(path)
    holder.execute("BEGIN EXCLUSIVE")  # another writer holds the database
    try:
        locked = _raised(engine, "INSERT INTO t VALUES ('b')")
    finally:
        holder.rollback()
        holder.close()
    assert "locked" in str(locked) and is_database_outage(locked)
    assert not is_database_outage(_raised(engine, "SELECT * FROM no_such_table"))
    assert not is_database_outage(_raised(engine, "INSERT INTO t VALUES ('a')"))  # unique
    assert not is_database_outage(ValueError("not a database error"))


def test_postgresql_away_or_terminated_is_an_outage_and_data_errors_are_not(pg: Engine) -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    refused = make_engine(f"postgresql://postgres@127.0.0.1:{port}/test")
    assert is_database_outage(_raised(refused, "SELECT 1"))

    with pg.connect() as victim, pg.connect() as admin:
        pid = victim.execute(text("SELECT pg_backend_pid()")).scalar()
        admin.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        with pytest.raises(exc.DBAPIError) as terminated:
            victim.execute(text("SELECT 1"))
    assert is_database_outage(terminated.value)

    assert not is_database_outage(_raised(pg, "SELEKT 1"))  # syntax
    assert not is_database_outage(_raised(pg, "SELECT 'x'::int"))  # data
    # An index row over btree's limit is an OperationalError (class 54) about the data: a feed
    # whose entry triggers it must be backed off, not retried every cycle.
    too_big = _raised(
        pg,
        "CREATE TEMP TABLE big (v text PRIMARY KEY);"
        "INSERT INTO big SELECT string_agg(md5(random()::text), '') FROM generate_series(1, 400)",
    )
    assert isinstance(too_big, exc.OperationalError) and not is_database_outage(too_big)


def test_chat_ids_beyond_32_bits_round_trip(engine: Engine) -> None:
    big = -1_001_234_567_890
    with Session(engine) as session:
        session.add(Chat(id=big, type="supergroup"))
        session.commit()
    with Session(engine) as session:
        assert session.get(Chat, big) is not None


def test_the_same_feed_under_another_spelling_is_refused(engine: Engine) -> None:
    with Session(engine) as session:
        first = feed_queries.add_feed(session, "https://example.org/feed", "example.org/feed")
        with pytest.raises(feed_queries.DuplicateFeedError) as caught:
            feed_queries.add_feed(session, "http://www.example.org/feed/", "example.org/feed")
        assert caught.value.existing.id == first.id


def test_guid_is_unique_per_feed_but_not_across_feeds(engine: Engine) -> None:
    from sqlalchemy.exc import IntegrityError

    with Session(engine) as session:
        a, b = _feed(session, 1), _feed(session, 2)
        assert a.id is not None and b.id is not None
        _insert(session, _article(a.id, "g1"), _article(b.id, "g1"))
        session.commit()
        with pytest.raises(IntegrityError):
            _insert(session, _article(a.id, "g1"))


def test_fulltext_index_folds_accents_and_case_and_follows_updates(engine: Engine) -> None:
    with Session(engine) as session:
        feed = _feed(session)
        assert feed.id is not None
        (art_id, _), (ru_id, _) = _insert(
            session,
            _article(feed.id, "g", "Élection à München", "La Côte d'Ivoire vote"),
            _article(feed.id, "r", "Выборы в Москве", "Новости"),
        )
        session.commit()
    assert fulltext_ids(engine, "munchen") == [art_id]
    assert fulltext_ids(engine, "cote") == [art_id]
    assert fulltext_ids(engine, "ELECTION") == [art_id]
    assert fulltext_ids(engine, "москве") == [ru_id]
    with Session(engine) as session:
        row = session.get(Article, art_id)
        assert row is not None
        row.title = "Referendum"
        session.add(row)
        session.commit()
    assert fulltext_ids(engine, "munchen") == []
    assert fulltext_ids(engine, "referendum") == [art_id]
    with Session(engine) as session:
        session.delete(session.get(Article, art_id))
        session.commit()
    assert fulltext_ids(engine, "referendum") == []


def test_articles_join_a_story_a_batch_group_or_open_their_own(engine: Engine) -> None:
    with Session(engine) as session:
        feed = _feed(session)
        assert feed.id is not None
        [(first_id, story)] = _insert(session, _article(feed.id, "a"))
        joined = _article(feed.id, "b")
        joined.story_id = story
        grouped = [_article(feed.id, g) for g in ("c", "d")]
        for item in grouped:
            item.group = 7
        rows = _insert(session, joined, *grouped, _article(feed.id, "e"))
        session.commit()
        stories = [story_id for _, story_id in rows]
        assert stories[0] == story
        assert stories[1] == stories[2] not in (story, stories[3])
        members = article_queries.story_members_with_source(session, story)
        assert [(m.guid, source) for m, source in members] == [
            ("a", "https://example.org/1.xml"),
            ("b", "https://example.org/1.xml"),
        ]
        joined_story = session.get(Story, story)
        new_story = session.get(Story, stories[1])
        assert joined_story is not None and new_story is not None
        assert (joined_story.article_count, joined_story.representative_id) == (2, first_id)
        assert (new_story.article_count, new_story.representative_id) == (2, rows[1][0])
        assert article_queries.counts(session) == {
            "feeds": 1,
            "articles": 5,
            "stories": 3,
            "subscribers": 0,
        }


def test_existing_keys_finds_stored_urls_and_content_hashes(engine: Engine) -> None:
    with Session(engine) as session:
        feed = _feed(session)
        assert feed.id is not None
        _insert(session, _article(feed.id, "g", url_key="example.org/story", content_hash="abc"))
        session.commit()
        urls, hashes = article_queries.existing_keys(
            session, ["example.org/story", "other"], ["abc", "zzz"]
        )
    assert (urls, hashes) == ({"example.org/story"}, {"abc"})


def test_existing_guids_handles_more_than_one_chunk(engine: Engine) -> None:
    with Session(engine) as session:
        feed = _feed(session)
        assert feed.id is not None
        _insert(session, *(_article(feed.id, f"g{i}") for i in range(0, 1200, 2)))
        session.commit()
        found = article_queries.existing_guids(session, feed.id, [f"g{i}" for i in range(1200)])
    assert len(found) == 600


def test_fetch_failures_count_up_and_a_success_resets_them(engine: Engine) -> None:
    later = datetime.now(UTC) + timedelta(hours=1)
    with Session(engine) as session:
        feed = _feed(session)
        assert feed.id is not None
        for _ in range(3):
            feed_queries.record_fetch(
                session, feed.id, status="failed", next_check_at=later, error="HTTP 500"
            )
        session.commit()
        assert (feed.error_count, feed.last_error) == (3, "HTTP 500")
        assert feed_queries.due_feeds(session, datetime.now(UTC)) == []
        assert len(feed_queries.due_feeds(session, datetime.now(UTC), all_feeds=True)) == 1
        feed_queries.record_fetch(
            session,
            feed.id,
            status="ok",
            next_check_at=later,
            etag='"x"',
            boilerplate=frozenset({"share"}),
        )
        session.commit()
        assert (feed.error_count, feed.last_error, feed.etag) == (0, None, '"x"')
        assert feed_queries.learned_boilerplate(feed) == {"share"}


def test_recent_signatures_returns_only_articles_with_a_minhash(engine: Engine) -> None:
    with Session(engine) as session:
        feed = _feed(session)
        assert feed.id is not None
        _insert(session, _article(feed.id, "a", minhash=b"\x01" * 16), _article(feed.id, "b"))
        session.commit()
        rows = article_queries.recent_signatures(session, datetime.now(UTC) - timedelta(days=1))
    assert [sig for _, _, sig in rows] == [b"\x01" * 16]
