"""Fetcher against a real local HTTP server: validators, caps, timeouts, redirects, limits.

The SSRF guard (bot.ingest.netguard) is tested in tests/test_netguard.py.
"""

from __future__ import annotations

import asyncio
import socket
import time
import tracemalloc
import zlib
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from bot.ingest.fetch import USER_AGENT, Fetcher
from tests.support.feedserver import FeedServer
from tests.support.fetching import make_fetcher

GOLEM = "feeds/golem-de-2017-12.rss"


@pytest.fixture
def server() -> Iterator[FeedServer]:
    with FeedServer() as srv:
        yield srv


@pytest.fixture
async def fetcher() -> AsyncIterator[Fetcher]:
    async with make_fetcher() as f:
        yield f


def gzip_of_zeros(total: int) -> bytes:
    """A gzip stream of ``total`` zero bytes, built in 1 MB steps so the test never holds it."""
    z = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    block = bytes(1 << 20)
    parts = [z.compress(block) for _ in range(total >> 20)]
    return b"".join([*parts, z.flush()])


# -- success paths ----------------------------------------------------------------------------


async def test_feed_is_fetched_with_body_and_validators(
    server: FeedServer, fetcher: Fetcher, corpus_dir: Path
) -> None:
    server.alias("/golem.rss", corpus_dir / GOLEM)

    result = await fetcher.fetch(server.url("/golem.rss"))

    assert result.status == "ok", result.error
    assert result.body == (corpus_dir / GOLEM).read_bytes()  # gzip on the wire, decoded here
    assert result.http_status == 200
    assert result.content_type == "application/rss+xml"
    assert result.etag and result.etag.startswith('"')
    assert result.last_modified and result.last_modified.endswith("GMT")
    assert result.final_url == server.url("/golem.rss")
    _, _, sent = server.requests[0]
    assert sent["User-Agent"] == USER_AGENT
    assert "gzip" in sent["Accept-Encoding"]
    assert "application/rss+xml" in sent["Accept"]


async def test_etag_makes_the_second_fetch_a_304_without_body(
    server: FeedServer, fetcher: Fetcher, corpus_dir: Path
) -> None:
    server.alias("/golem.rss", corpus_dir / GOLEM)
    first = await fetcher.fetch(server.url("/golem.rss"))

    second = await fetcher.fetch(
        server.url("/golem.rss"), etag=first.etag, last_modified=first.last_modified
    )

    assert second.status == "not_modified"
    assert second.body is None
    assert second.etag == first.etag
    assert server.responses == [("/golem.rss", 200), ("/golem.rss", 304)]


async def test_last_modified_alone_gets_a_304_when_the_server_has_no_etags(
    server: FeedServer, fetcher: Fetcher, corpus_dir: Path
) -> None:
    server.set_etag_support(False)
    server.alias("/golem.rss", corpus_dir / GOLEM)
    first = await fetcher.fetch(server.url("/golem.rss"))
    assert first.etag is None

    second = await fetcher.fetch(server.url("/golem.rss"), last_modified=first.last_modified)

    assert second.status == "not_modified"
    assert second.last_modified == first.last_modified


async def test_cache_control_max_age_is_reported(server: FeedServer, fetcher: Fetcher) -> None:
    server.route("/feed", body=b"<rss/>", headers={"Cache-Control": "public, max-age=900"})

    result = await fetcher.fetch(server.url("/feed"))

    assert result.status == "ok"
    assert result.max_age == 900


async def test_feed_is_not_rejected_for_a_lying_content_type(
    server: FeedServer, fetcher: Fetcher
) -> None:
    server.route("/feed", body=b"<rss version='2.0'/>", headers={"Content-Type": "image/png"})

    result = await fetcher.fetch(server.url("/feed"))

    assert result.status == "ok"
    assert result.body == b"<rss version='2.0'/>"


async def test_page_fetch_refuses_an_image_without_downloading_it(
    server: FeedServer, fetcher: Fetcher
) -> None:
    server.route("/photo", body=b"\x89PNG" * 1000, headers={"Content-Type": "image/png"})

    result = await fetcher.fetch_page(server.url("/photo"))

    assert result.status == "error"
    assert result.error == "not an HTML page: Content-Type image/png"
    assert "text/html" in server.requests[0][2]["Accept"]


# -- byte cap ---------------------------------------------------------------------------------


async def test_streamed_body_over_the_cap_is_cut(server: FeedServer) -> None:
    chunk = b"x" * 65536
    server.route("/huge", body=lambda: (chunk for _ in range(800)))  # 50 MB, no Content-Length

    async with make_fetcher(max_bytes=1_000_000) as fetcher:
        result = await fetcher.fetch(server.url("/huge"))

    assert result.status == "error"
    assert result.error == "response larger than 1000000 bytes"
    assert result.body is None


async def test_declared_length_over_the_cap_is_refused_before_reading(
    server: FeedServer,
) -> None:
    server.route("/big", body=b"y" * 2_000_000)

    async with make_fetcher(max_bytes=1_000_000) as fetcher:
        result = await fetcher.fetch(server.url("/big"))

    assert result.error == "response larger than 1000000 bytes"


async def test_gzip_bomb_is_cut_at_the_cap_without_inflating_it(server: FeedServer) -> None:
    bomb = gzip_of_zeros(100 << 20)  # 100 MB of zeros in about 100 KB
    assert len(bomb) < 200_000
    server.route("/bomb", body=bomb, headers={"Content-Encoding": "gzip"})

    tracemalloc.start()
    try:
        async with make_fetcher(max_bytes=2_000_000) as fetcher:
            result = await fetcher.fetch(server.url("/bomb"))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert result.error == "response larger than 2000000 bytes"
    assert peak < 20_000_000, f"peak {peak} bytes: the body was inflated past the cap"


async def test_gzip_body_under_the_cap_is_decoded(server: FeedServer, fetcher: Fetcher) -> None:
    server.route("/z", body=gzip_of_zeros(1 << 20), headers={"Content-Encoding": "gzip"})

    result = await fetcher.fetch(server.url("/z"))

    assert result.status == "ok"
    assert result.body == bytes(1 << 20)


async def test_corrupt_gzip_body_is_an_error(server: FeedServer, fetcher: Fetcher) -> None:
    server.route("/bad", body=b"this is not gzip at all", headers={"Content-Encoding": "gzip"})

    result = await fetcher.fetch(server.url("/bad"))

    assert result.status == "error"
    assert result.error is not None and result.error.startswith("corrupt gzip body")


# -- time -------------------------------------------------------------------------------------


async def test_server_sending_a_byte_at_a_time_is_cut_at_the_total_timeout(
    server: FeedServer,
) -> None:
    # Each read returns within the per-read timeout, so only a total deadline can stop it.
    server.route("/drip", body=lambda: (b"<" for _ in range(100)), chunk_delay=0.2)

    async with make_fetcher(timeout=1.0) as fetcher:
        started = time.monotonic()
        result = await fetcher.fetch(server.url("/drip"))
        took = time.monotonic() - started

    assert result.status == "error"
    assert result.error == "timed out after 1s"
    assert 0.9 <= took < 2.0


async def test_server_that_never_answers_times_out(server: FeedServer) -> None:
    server.route("/stall", body=b"late", delay=3.0)

    async with make_fetcher(timeout=0.5) as fetcher:
        result = await fetcher.fetch(server.url("/stall"))

    assert result.error == "timed out after 0.5s"


# -- redirects --------------------------------------------------------------------------------


async def test_redirect_is_followed_and_the_final_url_reported(
    server: FeedServer, fetcher: Fetcher, corpus_dir: Path
) -> None:
    server.alias("/new.rss", corpus_dir / GOLEM)
    server.redirect("/old.rss", "/new.rss", status=301)

    result = await fetcher.fetch(server.url("/old.rss"))

    assert result.status == "ok"
    assert result.final_url == server.url("/new.rss")
    assert server.hits["/old.rss"] == 1
    assert server.hits["/new.rss"] == 1


async def test_redirect_loop_is_an_error(server: FeedServer, fetcher: Fetcher) -> None:
    server.redirect("/a", "/b")
    server.redirect("/b", "/a")

    result = await fetcher.fetch(server.url("/a"))

    assert result.status == "error"
    assert result.error is not None and result.error.startswith("too many redirects")
    assert server.hits["/a"] == 1  # the loop is seen, not walked max_redirects times


async def test_redirect_chain_longer_than_the_limit_is_an_error(server: FeedServer) -> None:
    for i in range(4):
        server.redirect(f"/r{i}", f"/r{i + 1}")
    server.route("/r4", body=b"<rss/>")

    async with make_fetcher(max_redirects=3) as fetcher:
        result = await fetcher.fetch(server.url("/r0"))
    async with make_fetcher(max_redirects=4) as fetcher:
        allowed = await fetcher.fetch(server.url("/r0"))

    assert result.error == "too many redirects (more than 3)"
    assert allowed.status == "ok"


# -- HTTP errors ------------------------------------------------------------------------------


@pytest.mark.parametrize(("status", "reason"), [(404, "Not Found"), (500, "Internal Server Error")])
async def test_http_error_status_is_reported_in_words(
    server: FeedServer, fetcher: Fetcher, status: int, reason: str
) -> None:
    server.route("/feed", status=status, body=b"oops")

    result = await fetcher.fetch(server.url("/feed"))

    assert result.status == "error"
    assert result.http_status == status
    assert result.error == f"HTTP {status} {reason}"
    assert result.body is None


async def test_429_carries_retry_after_seconds(server: FeedServer, fetcher: Fetcher) -> None:
    server.route("/feed", status=429, headers={"Retry-After": "120"})

    result = await fetcher.fetch(server.url("/feed"))

    assert result.error == "HTTP 429 Too Many Requests"
    assert result.retry_after == 120


async def test_503_retry_after_as_http_date(server: FeedServer, fetcher: Fetcher) -> None:
    server.route("/feed", status=503, headers={"Retry-After": "Fri, 31 Dec 1999 23:59:59 GMT"})

    result = await fetcher.fetch(server.url("/feed"))

    assert result.http_status == 503
    assert result.retry_after == 0  # a date in the past means "now"


async def test_closed_port_is_connection_refused(fetcher: Fetcher) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again when the block ends: nobody listens

    result = await fetcher.fetch(f"http://127.0.0.1:{port}/feed")

    assert result.status == "error"
    assert result.error == "connection refused"


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("file:///etc/passwd", "refused: scheme 'file' is not http or https"),
        ("ftp://127.0.0.1/feed", "refused: scheme 'ftp' is not http or https"),
        ("http://[::1/", "invalid URL"),
        ("http:///feed", "invalid URL: no host"),
        ("feeds/golem.rss", "invalid URL: 'feeds/golem.rss' is not absolute"),
    ],
)
async def test_unfetchable_urls_are_refused(fetcher: Fetcher, url: str, reason: str) -> None:
    result = await fetcher.fetch(url)

    assert result.status == "error"
    assert result.error is not None and result.error.startswith(reason)


# -- concurrency ------------------------------------------------------------------------------


async def test_per_host_limit_caps_parallel_requests_to_one_host(server: FeedServer) -> None:
    server.route("/slow", body=b"<rss/>", delay=0.2)

    async with make_fetcher(per_host=2, concurrency=10) as fetcher:
        results = await asyncio.gather(*(fetcher.fetch(server.url("/slow")) for _ in range(6)))

    assert all(r.status == "ok" for r in results)
    assert server.max_in_flight == 2


async def test_global_limit_caps_parallel_requests_overall(server: FeedServer) -> None:
    server.route("/slow", body=b"<rss/>", delay=0.2)

    async with make_fetcher(per_host=10, concurrency=3) as fetcher:
        await asyncio.gather(*(fetcher.fetch(server.url(f"/slow?{i}")) for i in range(7)))

    assert server.hits["/slow"] == 7
    assert server.max_in_flight == 3


async def test_a_slow_host_does_not_starve_another_host(server: FeedServer) -> None:
    # 127.0.0.1 and localhost are two hosts to the fetcher, one server here.
    server.route("/slow", body=b"<rss/>", delay=0.5)
    server.route("/fast", body=b"<rss/>")

    async with make_fetcher(per_host=1, concurrency=2) as fetcher:
        slow = [asyncio.create_task(fetcher.fetch(server.url("/slow"))) for _ in range(4)]
        await asyncio.sleep(0.05)  # the slow host's queue is formed first
        fast = await fetcher.fetch(server.url("/fast", host="localhost"))
        await asyncio.gather(*slow)

    assert fast.status == "ok"
    assert fast.elapsed < 0.4  # did not wait behind the slow host's queue


async def test_idle_hosts_are_forgotten(server: FeedServer) -> None:
    # Article pages span thousands of hosts over a bot's lifetime: no semaphore may linger.
    server.route("/p", body=b"<html></html>")

    async with make_fetcher() as fetcher:
        await asyncio.gather(
            fetcher.fetch_page(server.url("/p")), fetcher.fetch_page(server.url("/p", "localhost"))
        )
        assert fetcher._hosts == {}
