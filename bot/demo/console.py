"""Show Telegram HTML in a terminal the way Telegram would render it (bold, italics, links)."""

from __future__ import annotations

from html.parser import HTMLParser

from rich.style import Style
from rich.text import Text


class _ToRich(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.text = Text()
        self.styles: list[Style] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        href = dict(attrs).get("href")
        style = {
            "b": Style(bold=True),
            "strong": Style(bold=True),
            "i": Style(italic=True),
            "em": Style(italic=True),
            "blockquote": Style(dim=True),
            "code": Style(color="cyan"),
        }.get(tag, Style())
        if tag == "a" and href:
            style = Style(color="bright_blue", underline=True, link=href)
        self.styles.append(style)

    def handle_endtag(self, tag: str) -> None:
        if self.styles:
            self.styles.pop()

    def handle_data(self, data: str) -> None:
        self.text.append(data, Style.combine(self.styles) if self.styles else None)


def telegram_html_to_rich(html: str) -> Text:
    parser = _ToRich()
    parser.feed(html)
    parser.close()
    return parser.text
