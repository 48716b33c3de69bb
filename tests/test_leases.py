"""Feed leases (storage/leases.py) on a real PostgreSQL: claims by concurrent sessions, the
per-host limit across claimers, expiry, renewal, release, and the end of a lease when a fetch
is recorded; and the refusal on SQLite."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from sqlmodel import Session

from storage import feeds as feed_queries
from storage import leases
from storage.db import make_engine
from storage.migrate import downgrade, upgrade
from storage.models import Feed, host_key

LEASE = 60.0


def add_feeds(engine: Engine, host: str, count: int, *, due_in: float = -60.0) -> list[int]:
    """``count`` feeds on ``host``, due ``-due_in`` seconds ago (or later, when positive)."""
    ids = []
    with Session(engine) as session:
        for n in range(count):
            url = f"https://{host}/feed-{n}.xml"
            feed = feed_queries.add_feed(session, url, url.removeprefix("https://"))
            feed.next_check_at = datetime.now(UTC) + timedelta(seconds=due_in)
            session.add(feed)
            session.commit()
            assert feed.id is not None
            ids.append(feed.id)
    return ids


def claim(engine: Engine, owner: str, limit: int = 10, **options: object) -> leases.Claim:
    values: dict[str, object] = {"lease_seconds": LEASE, "per_host": 2, **options}
    with Session(engine) as session:
        return leases.claim_feeds(session, owner, limit=limit, **values)  # type: ignore[arg-type]


def leased_by(engine: Engine) -> dict[int, str | None]:
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT id, lease_owner FROM feeds ORDER BY id")).all()
    return {feed_id: owner for feed_id, owner in rows}


def ids(result: leases.Claim) -> list[int]:
    return [feed.id for feed in result.feeds if feed.id is not None]


def test_a_claim_leases_due_feeds_oldest_first_and_skips_those_not_due(pg: Engine) -> None:
    late = add_feeds(pg, "a.example", 1, due_in=-600)
    due = add_feeds(pg, "b.example", 1, due_in=-60)
    add_feeds(pg, "c.example", 1, due_in=+600)

    result = claim(pg, "w1")

    assert ids(result) == late + due
    assert result.more is False
    assert {f: o for f, o in leased_by(pg).items() if o} == {late[0]: "w1", due[0]: "w1"}
    assert all(f.lease_owner == "w1" and f.lease_until is not None for f in result.feeds)


def test_concurrent_claimers_never_lease_one_feed_twice(pg: Engine) -> None:
    for n in range(30):
        add_feeds(pg, f"host{n}.example", 4)
    got: dict[str, list[int]] = {}
    barrier = threading.Barrier(4)

    def claimer(owner: str) -> None:
        barrier.wait()
        mine: list[int] = []
        while True:
            result = claim(pg, owner, limit=3, per_host=4)
            mine += ids(result)
            if not result.feeds and not result.more:
                break
        got[owner] = mine

    threads = [threading.Thread(target=claimer, args=(f"w{n}",)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    everything = [feed_id for mine in got.values() for feed_id in mine]
    assert sorted(everything) == list(range(1, 121))  # all 120, each once
    owners = leased_by(pg)
    assert all(owners[feed_id] == owner for owner, mine in got.items() for feed_id in mine)


def test_a_host_never_has_more_unexpired_leases_than_the_limit_across_claimers(
    pg: Engine,
) -> None:
    busy = add_feeds(pg, "busy.example", 10)
    quiet = add_feeds(pg, "quiet.example", 1)

    first = claim(pg, "w1", per_host=3)
    second = claim(pg, "w2", per_host=3)

    assert ids(first) == busy[:3] + quiet
    assert ids(second) == []
    assert second.more is True  # due feeds wait for a slot on their host
    # One of the three ends: exactly one slot opens, for whoever asks.
    with Session(pg) as session:
        feed_queries.record_fetch(
            session,
            busy[0],
            status="ok",
            next_check_at=datetime.now(UTC) + timedelta(minutes=15),
            lease_owner="w1",
        )
        session.commit()
    assert ids(claim(pg, "w2", per_host=3)) == [busy[3]]


def test_a_host_another_claimer_is_counting_is_skipped_without_waiting(pg: Engine) -> None:
    add_feeds(pg, "a.example", 2)
    other = add_feeds(pg, "b.example", 2)
    with pg.connect() as conn:  # another claimer, in the middle of its claim for a.example
        conn.execute(
            text("SELECT pg_advisory_xact_lock(:ns, hashtext('a.example'))"),
            {"ns": leases.HOST_LOCK_NAMESPACE},
        )
        started = time.monotonic()
        result = claim(pg, "w2")
        waited = time.monotonic() - started
        conn.rollback()

    assert ids(result) == other
    assert result.more is True
    assert waited < 2.0


def test_a_row_locked_by_another_transaction_is_skipped(pg: Engine) -> None:
    first, second = add_feeds(pg, "a.example", 2)
    with pg.connect() as conn:
        conn.execute(text("SELECT id FROM feeds WHERE id = :id FOR UPDATE"), {"id": first})
        result = claim(pg, "w1")
        conn.rollback()
    assert ids(result) == [second]


def test_an_expired_lease_is_claimed_again_and_no_longer_counts_for_its_host(
    pg: Engine,
) -> None:
    feeds = add_feeds(pg, "a.example", 3)
    assert ids(claim(pg, "dead", per_host=2)) == feeds[:2]
    assert ids(claim(pg, "alive", per_host=2)) == []

    with pg.begin() as conn:  # the dead worker's leases run out
        conn.execute(text("UPDATE feeds SET lease_until = now() - interval '1 second'"))

    taken = claim(pg, "alive", per_host=2)
    assert ids(taken) == feeds[:2]
    assert set(leased_by(pg).values()) == {"alive", None}


def test_a_claim_with_a_short_lease_expires_by_itself(pg: Engine) -> None:
    feed = add_feeds(pg, "a.example", 1)
    assert ids(claim(pg, "w1", lease_seconds=1)) == feed
    assert ids(claim(pg, "w2")) == []
    time.sleep(1.2)
    assert ids(claim(pg, "w2")) == feed


def test_renewal_extends_only_the_owners_own_leases(pg: Engine) -> None:
    mine, theirs = add_feeds(pg, "a.example", 1), add_feeds(pg, "b.example", 1)
    assert ids(claim(pg, "w1", limit=1, lease_seconds=5)) == mine
    assert ids(claim(pg, "w2", lease_seconds=5)) == theirs
    with Session(pg) as session:
        renewed = leases.renew_leases(session, "w1", mine + theirs, 600)
    assert renewed == 1
    with pg.connect() as conn:
        until = dict(
            conn.execute(text("SELECT id, lease_until - now() > interval '300 s' FROM feeds")).all()
        )
    assert until == {mine[0]: True, theirs[0]: False}


def test_released_feeds_are_due_again_for_the_others_at_once(pg: Engine) -> None:
    feeds = add_feeds(pg, "a.example", 2)
    claim(pg, "w1")
    with Session(pg) as session:
        assert leases.release_leases(session, "w2", feeds) == 0  # not w2's to give back
        assert leases.release_leases(session, "w1", feeds[:1]) == 1
    assert ids(claim(pg, "w2")) == feeds[:1]


def test_recording_the_fetch_ends_the_lease_and_the_feed_is_not_due_again(pg: Engine) -> None:
    feed = add_feeds(pg, "a.example", 1)[0]
    claim(pg, "w1")
    with Session(pg) as session:
        feed_queries.record_fetch(
            session,
            feed,
            status="ok",
            next_check_at=datetime.now(UTC) + timedelta(minutes=15),
            lease_owner="w1",
        )
        session.commit()
    assert leased_by(pg) == {feed: None}
    assert ids(claim(pg, "w2")) == []


def test_a_late_worker_does_not_end_the_lease_another_worker_took_over(pg: Engine) -> None:
    feed = add_feeds(pg, "a.example", 1)[0]
    claim(pg, "slow")
    with pg.begin() as conn:
        conn.execute(text("UPDATE feeds SET lease_until = now() - interval '1 second'"))
    claim(pg, "fast")
    with Session(pg) as session:
        feed_queries.record_fetch(
            session, feed, status="ok", next_check_at=datetime.now(UTC), lease_owner="slow"
        )
        session.commit()
    assert leased_by(pg) == {feed: "fast"}


def test_pending_says_whether_feeds_due_before_a_time_remain_leased_or_not(pg: Engine) -> None:
    add_feeds(pg, "a.example", 1)
    with Session(pg) as session:
        start = leases.database_now(session)
    first = claim(pg, "w1", pending_before=start)
    second = claim(pg, "w2", pending_before=start)
    assert first.pending and second.pending  # leased by w1, not done yet
    assert not second.more and not second.feeds


def test_fetch_all_makes_every_enabled_feed_due(pg: Engine) -> None:
    add_feeds(pg, "a.example", 3, due_in=+3600)
    with Session(pg) as session:
        assert leases.make_all_due(session) == 3
        assert leases.count_due(session) == 3


def test_every_feed_gets_its_host_from_its_url_even_when_the_url_changes(pg: Engine) -> None:
    with Session(pg) as session:
        feed = Feed(url="http://WWW.Example.org:8080/rss", url_key="k")
        session.add(feed)
        session.commit()
        assert feed.host == "www.example.org:8080"
        feed.url = "https://other.example/rss"
        session.add(feed)
        session.commit()
        session.refresh(feed)
        assert feed.host == "other.example"
    assert host_key("https://example.org/feed") == "example.org"
    assert host_key("not a url") == ""


def test_the_migration_fills_the_host_of_existing_feeds(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'old.db'}")
    upgrade(engine)
    downgrade(engine, "0003")
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO feeds (url, url_key, enabled, created_at, next_check_at, "
                "error_count) VALUES ('https://Feeds.Example.com/a', 'k', 1, "
                "CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, 0)"
            )
        )
    upgrade(engine)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT host FROM feeds")).scalar() == "feeds.example.com"


def test_leases_are_refused_on_sqlite_with_the_reason(tmp_path: Path) -> None:
    # SQLite keeps one in-process scheduler (Ingestor.run_cycle reads the due list there).
    engine = make_engine(f"sqlite:///{tmp_path / 'one.db'}")
    upgrade(engine)
    assert leases.supports_leases(engine) is False
    with Session(engine) as session, pytest.raises(leases.LeasesUnsupportedError, match="SQLite"):
        leases.claim_feeds(session, "w1", limit=1, lease_seconds=LEASE, per_host=2)
