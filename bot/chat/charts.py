"""The admins' /stats chart: articles fetched per day per feed over messages sent per day.

``stats_chart`` is pure (figures in, PNG bytes out) and slow enough (~0.2 s) to run in a worker
thread. It uses matplotlib's object API on the Agg canvas and never pyplot: pyplot keeps
global figure state and may pick a GUI backend, neither of which belongs in a server.
Matplotlib is not thread-safe, so renders take turns.
"""

from __future__ import annotations

import io
import threading
from collections.abc import Sequence
from datetime import date

from babel.dates import format_skeleton
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from bot.chat.i18n import pick_language, t
from storage.stats import DailyCounts

TOP_FEEDS = 8  # feeds drawn on their own; the rest are summed as "other feeds"
NAME_CHARS = 32  # of a feed's name in the legend
SIZE = (10.0, 7.0)  # inches
DPI = 100  # so the PNG is 1000 × 700 pixels
# Colour-blind-friendly categorical colours (matplotlib's tab10), grey for "other".
PALETTE = (
    "#1f77b4",
    "#ff7f0e",
    "#2ca02c",
    "#d62728",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#17becf",
)
OTHER_COLOUR = "#b0b0b0"
SENT_COLOUR = "#2b6cb0"
_RENDERING = threading.Lock()


def _label(text: str) -> str:
    """A feed name as a legend entry: shortened, and with "$" escaped (matplotlib would read
    "$5 $10" as mathematics, or fail on it)."""
    text = " ".join(text.split())
    if len(text) > NAME_CHARS:
        text = text[: NAME_CHARS - 1] + "…"
    return text.replace("$", r"\$")


def _day_labels(days: Sequence[date], lang: str) -> list[str]:
    # CLDR's short day-and-month for the reader's language: "May 1", "1 mai", "1. Mai", "1 мая".
    return [format_skeleton("MMMd", day, locale=pick_language(lang)) for day in days]


def _articles_panel(axes: Axes, data: DailyCounts, lang: str, days: int) -> None:
    x = list(range(len(data.days[-days:])))
    base = [0] * len(x)
    top, rest = data.feeds[:TOP_FEEDS], data.feeds[TOP_FEEDS:]
    series = [(f"#{feed.feed_id} {feed.name}", feed.counts[-days:]) for feed in top]
    colours = list(PALETTE[: len(series)])
    if rest:
        other = [sum(feed.counts[-days:][n] for feed in rest) for n in range(len(x))]
        series.append((t(lang, "Other feeds ({count})", count=len(rest)), tuple(other)))
        colours.append(OTHER_COLOUR)
    for (name, counts), colour in zip(series, colours, strict=True):
        axes.bar(x, counts, bottom=base, color=colour, label=_label(name), width=0.8)
        base = [b + c for b, c in zip(base, counts, strict=True)]
    axes.set_title(t(lang, "Articles fetched per day, by feed"), loc="left")
    axes.set_ylabel(t(lang, "Articles"))
    if series:
        axes.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small", frameon=False)


def _sent_panel(axes: Axes, data: DailyCounts, lang: str, days: int) -> None:
    sent = data.sent[-days:]
    axes.bar(range(len(sent)), sent, color=SENT_COLOUR, width=0.8)
    axes.set_title(t(lang, "Messages sent per day"), loc="left")
    axes.set_ylabel(t(lang, "Messages"))


def stats_chart(data: DailyCounts, *, lang: str, days: int = 14) -> bytes:
    """The last ``days`` days of ``data`` as a PNG (``SIZE`` × ``DPI`` pixels): stacked bars of
    articles per day for the ``TOP_FEEDS`` busiest feeds plus the others, above the messages
    sent per day; texts in ``lang``, days in UTC."""
    shown = data.days[-days:]
    with _RENDERING:
        figure = Figure(figsize=SIZE, dpi=DPI, layout="constrained")
        FigureCanvasAgg(figure)
        articles, sent = figure.subplots(2, 1, sharex=True, height_ratios=(2, 1))
        _articles_panel(articles, data, lang, days)
        _sent_panel(sent, data, lang, days)
        for axes in (articles, sent):
            axes.yaxis.set_major_locator(MaxNLocator(integer=True))
            axes.grid(axis="y", alpha=0.3)
            axes.set_axisbelow(True)
            axes.spines[["top", "right"]].set_visible(False)
        sent.set_xticks(
            range(len(shown)),
            _day_labels(shown, lang),
            fontsize="small",
            rotation=45,
            rotation_mode="anchor",
            ha="right",
        )
        sent.set_xlabel(t(lang, "Day (UTC)"))
        figure.suptitle(t(lang, "The last {days} days", days=len(shown)))
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png", dpi=DPI)
    return buffer.getvalue()
