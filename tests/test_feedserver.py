"""The test HTTP server itself: every fetch test trusts what it serves and counts."""

from __future__ import annotations

import gzip
import socket
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.feedserver import FeedServer, content_type_for


@pytest.fixture
def site(tmp_path: Path) -> Path:
    (tmp_path / "feeds").mkdir()
    (tmp_path / "feeds" / "a.rss").write_bytes(b"<rss version='2.0'><channel/></rss>")
    (tmp_path / "secret.txt").write_text("outside")
    return tmp_path


@pytest.fixture
def server(site: Path) -> Iterator[FeedServer]:
    with FeedServer(root=site / "feeds") as srv:
        yield srv


def test_file_is_served_with_validators_and_a_charsetless_type(server: FeedServer) -> None:
    response = httpx.get(server.url("/a.rss"), headers={"Accept-Encoding": "identity"})

    assert response.status_code == 200
    assert response.content == b"<rss version='2.0'><channel/></rss>"
    assert response.headers["Content-Type"] == "application/rss+xml"
    assert response.headers["ETag"].startswith('"')
    assert response.headers["Last-Modified"].endswith("GMT")


def test_conditional_requests_get_304(server: FeedServer) -> None:
    first = httpx.get(server.url("/a.rss"))

    by_etag = httpx.get(server.url("/a.rss"), headers={"If-None-Match": first.headers["ETag"]})
    by_date = httpx.get(
        server.url("/a.rss"), headers={"If-Modified-Since": first.headers["Last-Modified"]}
    )
    stale = httpx.get(server.url("/a.rss"), headers={"If-None-Match": '"other"'})

    assert (by_etag.status_code, by_date.status_code, stale.status_code) == (304, 304, 200)
    assert by_etag.content == b""
    assert [s for _, s in server.responses] == [200, 304, 304, 200]


def test_gzip_only_when_asked(server: FeedServer, site: Path) -> None:
    original = (site / "feeds" / "a.rss").read_bytes()
    with httpx.stream("GET", server.url("/a.rss"), headers={"Accept-Encoding": "gzip"}) as zipped:
        wire = b"".join(zipped.iter_raw())
    plain = httpx.get(server.url("/a.rss"), headers={"Accept-Encoding": "identity"})

    assert zipped.headers["Content-Encoding"] == "gzip"
    assert gzip.decompress(wire) == original
    assert "Content-Encoding" not in plain.headers
    assert plain.content == original


def test_paths_outside_the_root_are_not_served(server: FeedServer) -> None:
    # A raw request: httpx would normalise the dot segments away before sending.
    with socket.create_connection(("127.0.0.1", server.port)) as sock:
        sock.sendall(b"GET /../secret.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        answer = b"".join(iter(lambda: sock.recv(4096), b""))
    assert answer.startswith(b"HTTP/1.1 404")
    assert b"outside" not in answer


def test_alias_serves_a_file_under_another_path(server: FeedServer, site: Path) -> None:
    server.alias("/copies/1/feed.xml", site / "feeds" / "a.rss")

    response = httpx.get(server.url("/copies/1/feed.xml"))

    assert response.status_code == 200
    assert response.content.startswith(b"<rss")
    assert server.hits["/copies/1/feed.xml"] == 1


def test_routes_stream_bodies_and_redirect_to_absolute_urls(server: FeedServer) -> None:
    server.route("/stream", body=lambda: (bytes([65 + i]) for i in range(5)))
    server.redirect("/moved", "/stream", status=301)

    response = httpx.get(server.url("/moved"), follow_redirects=True)

    assert response.content == b"ABCDE"
    assert response.history[0].headers["Location"] == server.url("/stream")
    assert server.hits == {"/moved": 1, "/stream": 1}


def test_requests_are_recorded_with_their_headers(server: FeedServer) -> None:
    httpx.get(server.url("/a.rss?x=1"), headers={"User-Agent": "probe"})

    method, target, headers = server.requests[0]
    assert (method, target, headers["User-Agent"]) == ("GET", "/a.rss?x=1", "probe")
    assert server.hits["/a.rss"] == 1


def test_etags_can_be_switched_off(server: FeedServer) -> None:
    server.set_etag_support(False)
    response = httpx.get(server.url("/a.rss"))
    assert "ETag" not in response.headers
    assert "Last-Modified" in response.headers


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("x.rss", "application/rss+xml"),
        ("x.xml", "text/xml"),
        ("x.rdf", "application/rdf+xml"),
        ("x.atom", "application/atom+xml"),
        ("x.html", "text/html"),
        ("x.html.rss", "application/rss+xml"),
    ],
)
def test_content_type_follows_the_last_extension(name: str, expected: str) -> None:
    assert content_type_for(name) == expected
    assert content_type_for(name, "utf-8") == f"{expected}; charset=utf-8"
