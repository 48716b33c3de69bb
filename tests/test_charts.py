"""The /stats chart (bot/chat/charts.py): a real PNG of the expected size, with the bars the
figures call for (read back from its pixels), in any language, whatever the feed names."""

from __future__ import annotations

import asyncio
import io
from datetime import date

import numpy as np
import pytest
from PIL import Image

from bot.chat.charts import DPI, OTHER_COLOUR, PALETTE, SENT_COLOUR, SIZE, TOP_FEEDS, stats_chart
from storage.stats import DailyCounts, FeedDays, window

DAYS = window(date(2024, 5, 14), 14)
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
MIN_BAR = 30  # pixels


def data(feeds: int = 3, *, sent: int = 5, name: str = "Feed {n}") -> DailyCounts:
    return DailyCounts(
        DAYS,
        tuple(
            FeedDays(n, name.replace("{n}", str(n)), tuple((n + day) % 7 + 1 for day in range(14)))
            for n in range(1, feeds + 1)
        ),
        tuple(sent + day for day in range(14)) if sent else (0,) * 14,
    )


def pixels(png: bytes) -> np.ndarray:
    image = Image.open(io.BytesIO(png))
    assert image.format == "PNG"
    return np.asarray(image.convert("RGB"))


def mask(image: np.ndarray, colour: str) -> np.ndarray:
    rgb = [int(colour[i : i + 2], 16) for i in (1, 3, 5)]
    return np.all(image == rgb, axis=-1)


def count_colour(image: np.ndarray, colour: str) -> int:
    """Pixels of exactly this colour: a bar's inside has thousands; antialiased text may
    hit a colour by chance, a few dozen at most."""
    return int(mask(image, colour).sum())


def bars(image: np.ndarray, colour: str) -> int:
    """How many bars of this colour: runs of pixel columns holding some of it, at least
    MIN_BAR pixels wide (a bar of 14 is about 40; a legend swatch is about 23)."""
    columns = np.concatenate(([False], mask(image, colour).sum(axis=0) >= 3, [False]))
    edges = np.flatnonzero(columns[1:] != columns[:-1])
    starts, ends = edges[::2], edges[1::2]
    return int(np.count_nonzero(ends - starts >= MIN_BAR))


def test_the_chart_is_a_png_of_the_expected_size() -> None:
    png = stats_chart(data(), lang="en")
    assert png.startswith(PNG_SIGNATURE)
    image = pixels(png)
    assert image.shape == (SIZE[1] * DPI, SIZE[0] * DPI, 3)


def test_each_feed_and_the_messages_get_bars_of_their_colour() -> None:
    image = pixels(stats_chart(data(3), lang="en"))
    for colour in (*PALETTE[:3], SENT_COLOUR):
        assert bars(image, colour) == 14, colour  # one bar a day
    assert count_colour(image, PALETTE[3]) < 50  # only three feeds
    assert count_colour(image, OTHER_COLOUR) < 50  # nothing summed up as "other"


def test_feeds_beyond_the_busiest_are_summed_up_as_other_feeds() -> None:
    image = pixels(stats_chart(data(TOP_FEEDS + 3), lang="en"))
    for colour in (*PALETTE[:TOP_FEEDS], OTHER_COLOUR):
        assert bars(image, colour) == 14, colour


def test_an_empty_window_draws_empty_panels_and_data_draws_bars() -> None:
    empty = pixels(stats_chart(DailyCounts(DAYS, (), (0,) * 14), lang="en"))
    full = pixels(stats_chart(data(), lang="en"))
    assert empty.shape == full.shape
    for colour in (*PALETTE, OTHER_COLOUR, SENT_COLOUR):
        assert bars(empty, colour) == 0 and count_colour(empty, colour) < 50
    # The plot area (the middle of the image) is mostly background when empty, not when full.
    height, width = empty.shape[:2]
    middle = (slice(height // 5, height * 4 // 5), slice(width // 10, width * 7 // 10))
    ink = [float((image[middle] < 250).any(axis=-1).mean()) for image in (empty, full)]
    assert ink[0] < 0.05 < 0.2 < ink[1]


def test_no_messages_means_no_message_bars() -> None:
    image = pixels(stats_chart(data(2, sent=0), lang="en"))
    assert bars(image, SENT_COLOUR) == 0
    assert bars(image, PALETTE[0]) == 14


@pytest.mark.parametrize("lang", ["en", "fr", "de", "es", "ru"])
def test_the_chart_is_drawn_in_every_language(lang: str) -> None:
    png = stats_chart(data(), lang=lang)
    assert pixels(png).shape == (700, 1000, 3)
    if lang != "en":  # translated titles and day names change the picture
        assert png != stats_chart(data(), lang="en")


@pytest.mark.parametrize(
    "name",
    [
        r"Deals $\frac{1$ off {n}",  # mathtext would refuse this
        "<b>Tags</b> & {n} \\n ∑ 新闻 ✓",
        "A very long feed title that goes on and on and on, number {n}",
        "   ",
    ],
)
def test_any_feed_name_is_drawn_as_plain_text(name: str) -> None:
    image = pixels(stats_chart(data(2, name=name), lang="en"))
    assert bars(image, PALETTE[1]) == 14


def test_a_shorter_window_draws_only_its_days() -> None:
    week = pixels(stats_chart(data(), lang="en", days=7))
    assert week.shape == (700, 1000, 3)
    assert bars(week, SENT_COLOUR) == bars(week, PALETTE[0]) == 7


async def test_charts_can_be_drawn_from_several_threads_at_once() -> None:
    charts = await asyncio.gather(
        *(asyncio.to_thread(stats_chart, data(n), lang="en") for n in (1, 2, 3, 4))
    )
    assert all(pixels(png).shape == (700, 1000, 3) for png in charts)
    assert len(set(charts)) == 4
