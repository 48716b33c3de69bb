"""Tests for bot.ingest.netguard: the SSRF guard, alone and as the Fetcher applies it.

The guarded cases run against a real local HTTP server: a refused address must never be
connected to (the server counts its hits).
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from bot.ingest import netguard
from bot.ingest.netguard import FetchFailure, checked_addresses, non_public_kind
from tests.support.feedserver import FeedServer
from tests.support.fetching import make_fetcher


@pytest.fixture
def server() -> Iterator[FeedServer]:
    with FeedServer() as srv:
        yield srv


def resolving_to(*addresses: str) -> netguard.Resolver:
    async def resolver(host: str, port: int) -> list[str]:
        return list(addresses)

    return resolver


# -- address checks ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("address", "kind"),
    [
        ("127.0.0.1", "loopback"),
        ("::1", "loopback"),
        ("::ffff:127.0.0.1", "loopback"),
        ("10.0.0.1", "private"),
        ("192.168.1.20", "private"),
        ("169.254.169.254", "link-local"),  # cloud metadata endpoint
        ("0.0.0.0", "unspecified"),
        ("224.0.0.1", "multicast"),
        ("240.0.0.1", "reserved"),
        ("100.64.0.1", "non-public"),
        ("93.184.216.34", None),
        ("2606:4700::1111", None),
    ],
)
def test_address_classification(address: str, kind: str | None) -> None:
    assert non_public_kind(address) == kind


async def test_host_with_one_non_public_record_among_public_ones_is_refused() -> None:
    resolver = resolving_to("93.184.216.34", "10.0.0.7")

    with pytest.raises(FetchFailure, match=r"^refused: mixed\.example resolves to 10\.0\.0\.7"):
        await checked_addresses("mixed.example", 443, resolver)


async def test_public_host_gives_its_addresses_in_resolver_order() -> None:
    resolver = resolving_to("2606:4700::1111", "93.184.216.34")

    assert await checked_addresses("news.example", 443, resolver) == [
        "2606:4700::1111",
        "93.184.216.34",
    ]


async def test_host_resolving_to_nothing_is_an_error() -> None:
    with pytest.raises(FetchFailure, match=r"^could not resolve host gone\.example$"):
        await checked_addresses("gone.example", 80, resolving_to())


async def test_an_ip_literal_is_checked_without_asking_the_resolver() -> None:
    async def resolver(host: str, port: int) -> list[str]:
        raise AssertionError("resolver called for an IP literal")

    assert await checked_addresses("93.184.216.34", 80, resolver) == ["93.184.216.34"]


# -- through the Fetcher ----------------------------------------------------------------------


async def test_loopback_is_refused_unless_private_networks_are_allowed(
    server: FeedServer,
) -> None:
    server.route("/feed", body=b"<rss/>")

    async with make_fetcher(allow_private_networks=False) as fetcher:
        result = await fetcher.fetch(server.url("/feed"))

    assert result.status == "error"
    assert result.error == (
        "refused: 127.0.0.1 is a loopback address "
        "(set NEWSBRIEF_ALLOW_PRIVATE_NETWORKS=true to allow)"
    )
    assert server.hits["/feed"] == 0


async def test_hostname_resolving_to_loopback_is_refused(server: FeedServer) -> None:
    server.route("/feed", body=b"<rss/>")

    async with make_fetcher(allow_private_networks=False) as fetcher:
        result = await fetcher.fetch(server.url("/feed", host="localhost"))

    assert result.error is not None
    assert result.error.startswith("refused: localhost resolves to 127.0.0.1, which is a loopback")
    assert server.hits["/feed"] == 0


@pytest.mark.parametrize(
    ("location", "reason"),
    [
        ("http://10.0.0.1/feed", "refused: 10.0.0.1 is a private address"),
        (
            "http://intranet.example/feed",
            "refused: intranet.example resolves to 192.168.1.20, which is a private address",
        ),
        ("file:///etc/passwd", "refused: scheme 'file'"),
    ],
)
async def test_redirect_from_a_public_host_to_a_private_one_is_refused(
    server: FeedServer, monkeypatch: pytest.MonkeyPatch, location: str, reason: str
) -> None:
    # Pretend the test server's address is public so the first hop is allowed.
    real_kind = netguard.non_public_kind
    monkeypatch.setattr(
        netguard, "non_public_kind", lambda a: None if a == "127.0.0.1" else real_kind(a)
    )

    async def resolver(host: str, port: int) -> list[str]:
        return {"intranet.example": ["192.168.1.20"]}.get(host, ["127.0.0.1"])

    server.redirect("/hop", location)

    async with make_fetcher(allow_private_networks=False, resolver=resolver) as fetcher:
        result = await fetcher.fetch(server.url("/hop"))

    assert server.hits["/hop"] == 1  # the allowed hop was really fetched
    assert result.status == "error"
    assert result.error is not None and result.error.startswith(reason)


async def test_guard_also_applies_with_a_caller_supplied_transport(server: FeedServer) -> None:
    server.route("/feed", body=b"<rss/>")
    transport = httpx.AsyncHTTPTransport()

    async with make_fetcher(allow_private_networks=False, transport=transport) as fetcher:
        result = await fetcher.fetch(server.url("/feed"))

    assert result.error is not None and result.error.startswith("refused: 127.0.0.1")
    assert server.hits["/feed"] == 0
