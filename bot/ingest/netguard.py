"""The SSRF guard and the connection pool it lives in: which addresses fetching may reach.

Feed and article URLs come from users and from feeds, so any of them may point at the bot's
own machine or network (a cloud metadata endpoint, an admin port, a router). Unless private
networks are allowed, hosts that resolve to loopback, private, link-local, reserved,
multicast or unspecified addresses are refused, and so is a host with ANY such address among
its DNS records (attackers mix them).

The check runs where the socket is opened, in a wrapped httpcore network backend, and the
socket is opened to the very address that was checked: a DNS answer that changes between
check and connect (DNS rebinding) cannot slip through. This module is apart from
``fetch.py`` because it is the one place that decides reachability, and it reaches into
httpx's connection pool (``pooled_transport``), which no other code should touch.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import httpcore
import httpx

__all__ = [
    "PRIVATE_HINT",
    "FetchFailure",
    "Resolver",
    "checked_addresses",
    "non_public_kind",
    "pooled_transport",
    "system_resolver",
]

PRIVATE_HINT = "set NEWSBRIEF_ALLOW_PRIVATE_NETWORKS=true to allow"

Resolver = Callable[[str, int], Awaitable[list[str]]]


class FetchFailure(Exception):
    """A fetch that cannot give a body; ``str()`` is the reason shown to the feed owner."""


async def system_resolver(host: str, port: int) -> list[str]:
    """Every address ``host`` resolves to, via the event loop's non-blocking getaddrinfo."""
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise FetchFailure(f"could not resolve host {host}") from exc
    # Keep resolver order (it encodes preference) but drop duplicates and IPv6 scope ids.
    return list(dict.fromkeys(str(info[4][0]).split("%", 1)[0] for info in infos))


def non_public_kind(address: str) -> str | None:
    """Why ``address`` must not be fetched ("loopback", "private", ...), or None if public."""
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped  # ::ffff:127.0.0.1 is loopback too (Python 3.11 does not say so)
    for kind, flag in (
        ("unspecified", ip.is_unspecified),
        ("loopback", ip.is_loopback),
        ("link-local", ip.is_link_local),
        ("multicast", ip.is_multicast),
        ("reserved", ip.is_reserved),  # before private: Python counts 240.0.0.0/4 as both
        ("private", ip.is_private),
    ):
        if flag:
            return kind
    return None if ip.is_global else "non-public"  # e.g. 100.64.0.0/10 carrier-grade NAT


async def checked_addresses(host: str, port: int, resolver: Resolver) -> list[str]:
    """Resolve ``host`` and refuse it if ANY address is non-public (attackers mix records)."""
    try:
        addresses = [str(ipaddress.ip_address(host))]
        literal = True  # named as written ("::ffff:127.0.0.1"), not as Python prints it
    except ValueError:
        addresses, literal = await resolver(host, port), False
    if not addresses:
        raise FetchFailure(f"could not resolve host {host}")
    for address in addresses:
        kind = non_public_kind(address)
        if kind is not None:
            who = host if literal else f"{host} resolves to {address}, which"
            article = "an" if kind[0] in "aeiou" else "a"  # "an unspecified address"
            raise FetchFailure(f"refused: {who} is {article} {kind} address ({PRIVATE_HINT})")
    return addresses


class _GuardedBackend(httpcore.AsyncNetworkBackend):
    """Opens sockets only to checked public addresses: the SSRF check at connect time."""

    def __init__(self, resolver: Resolver) -> None:
        self._inner = httpcore.AnyIOBackend()
        self._resolver = resolver

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        addresses = await checked_addresses(host, port, self._resolver)
        last: Exception | None = None
        for address in addresses:  # connect to what was checked, never re-resolve
            try:
                return await self._inner.connect_tcp(
                    address, port, timeout, local_address, socket_options
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                last = exc
        assert last is not None
        raise last

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


def pooled_transport(
    limits: httpx.Limits, resolver: Resolver, *, allow_private_networks: bool
) -> httpx.AsyncHTTPTransport:
    """httpx's pooled transport, whose sockets go through the guard unless private networks
    are allowed. Proxy variables are ignored: a proxy would resolve hosts, not us."""
    transport = httpx.AsyncHTTPTransport(limits=limits, trust_env=False)
    if not allow_private_networks:
        # httpx has no public hook for the network backend; rebuild its pool with the
        # guarded one (httpx < 1 keeps it in ``_pool``, pinned in pyproject).
        transport._pool = httpcore.AsyncConnectionPool(
            ssl_context=httpx.create_ssl_context(),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=_GuardedBackend(resolver),
        )
    return transport
