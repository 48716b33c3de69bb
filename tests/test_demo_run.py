"""The offline demo's choice of feeds and its output (bot/demo/run.py), on 127.0.0.1 only."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from rich.console import Console

from bot.demo.run import choose_source, network_reachable, run_demo
from bot.settings import Settings
from tests.support.feedserver import FeedServer


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)  # the demo keeps its databases in ./data
    return tmp_path


def consoles() -> tuple[Console, Console]:
    return Console(record=True, width=100), Console(record=True, width=100, stderr=True)


def opml_of(tmp_path: Path, urls: list[str]) -> Path:
    outlines = "".join(f'<outline type="rss" text="f" xmlUrl="{u}"/>' for u in urls)
    path = tmp_path / "default.opml"
    path.write_text(f'<opml version="2.0"><body>{outlines}</body></opml>', encoding="utf-8")
    return path


def test_network_probe_sees_an_open_port_and_a_refused_one(server: FeedServer) -> None:
    assert network_reachable([server.url("/")], timeout=2)
    assert not network_reachable([f"http://127.0.0.1:{closed_port()}/feed"], timeout=2)


def test_a_pinned_source_is_used_without_probing() -> None:
    # Unroutable URLs would make a probe fail; a pinned choice must not look at them at all.
    urls = [f"http://127.0.0.1:{closed_port()}/feed"]
    assert choose_source(Settings(demo_source="online"), urls) == "online"
    assert choose_source(Settings(demo_source="bundled"), urls) == "bundled"
    assert choose_source(Settings(demo_source="auto"), urls) == "bundled"


def test_auto_with_unreachable_default_feeds_shows_the_bundled_demo(in_tmp: Path) -> None:
    out, err = consoles()
    default = opml_of(in_tmp, [f"http://127.0.0.1:{closed_port()}/feed.xml"])
    run_demo(Settings(demo_source="auto"), out, err, default_feeds=default)
    assert "Gannet Street Bridge" in out.export_text()
    assert "bundled demo feeds" in err.export_text()
    assert (in_tmp / "data" / "demo.db").is_file()


def test_online_source_fetches_the_default_feed_list(server: FeedServer, in_tmp: Path) -> None:
    out, err = consoles()
    urls = [
        server.url("/feeds/lemonde-une-fr-2018-02.rss"),
        server.url("/feeds/golem-de-2018-12.rss"),
    ]
    default = opml_of(in_tmp, urls)
    settings = Settings(demo_source="online", allow_private_networks=True, extract_teasers=False)
    run_demo(settings, out, err, stories=5, default_feeds=default)
    assert {path for _m, path, _h in server.requests} >= {
        "/feeds/lemonde-une-fr-2018-02.rss",
        "/feeds/golem-de-2018-12.rss",
    }
    assert out.export_text().count("story #") == 5
    assert (in_tmp / "data" / "demo-online.db").is_file()
    assert "Gannet Street Bridge" not in out.export_text()  # no bundled feeds mixed in


def test_auto_falls_back_when_every_default_feed_fails(server: FeedServer, in_tmp: Path) -> None:
    out, err = consoles()
    # The host answers (the probe succeeds) but the feeds do not exist.
    default = opml_of(in_tmp, [server.url("/feeds/missing-1.xml"), server.url("/missing-2.xml")])
    run_demo(
        Settings(demo_source="auto", allow_private_networks=True), out, err, default_feeds=default
    )
    text = err.export_text()
    assert "none of the default feeds answered" in text and "404" in text
    assert "Gannet Street Bridge" in out.export_text()
