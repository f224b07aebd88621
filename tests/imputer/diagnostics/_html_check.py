"""What every report must be: parseable, self-contained, no script, images that decode (test helper)."""

from __future__ import annotations

import base64
import struct
from html.parser import HTMLParser

_BLOCKS = {"p", "div", "dt", "dd", "td", "th", "tr", "li", "h1", "h2", "h3", "pre", "figcaption", "caption",
           "section", "header", "footer", "nav", "a", "title"}


class Parsed(HTMLParser):
    """Tags, attributes and text of a document."""

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.chunks: list[str] = []
        self._in_style = False
        self.feed(text)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        self._in_style = tag == "style"
        if tag in _BLOCKS:
            self.chunks.append(" ")

    def handle_endtag(self, tag: str) -> None:
        self._in_style = False
        if tag in _BLOCKS:
            self.chunks.append(" ")

    def handle_data(self, data: str) -> None:
        if not self._in_style:
            self.chunks.append(data)

    @property
    def text(self) -> str:
        """The visible text (not the style sheet), a space between blocks and cells, whitespace runs as one."""
        return " ".join("".join(self.chunks).split())

    def named(self, tag: str) -> list[dict[str, str | None]]:
        return [a for t, a in self.tags if t == tag]


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", data[16:24])


def check_self_contained(text: str) -> Parsed:
    """No script, no external resource; every image an inline PNG of its stated size."""
    doc = Parsed(text)
    tags = {t for t, _ in doc.tags}
    assert not tags & {"script", "link", "iframe", "object", "embed", "base"}, tags
    for attrs in (a for _, a in doc.tags):
        for key, value in attrs.items():
            assert not key.startswith("on"), key  # no event handler attributes
            if key == "href":
                assert value is not None and value.startswith("#"), value
            if key == "src":
                assert value is not None and value.startswith("data:image/png;base64,"), value[:40]
    for img in doc.named("img"):
        width, height = png_size(base64.b64decode(img["src"].split(",", 1)[1]))
        assert (width, height) == (int(img["width"]), int(img["height"]))
        assert img["alt"]
    return doc
