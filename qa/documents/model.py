"""What a document reader returns: Markdown-shaped text with location markers, built with exact offsets."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from qa.errors import CorpusError

# (offset into the text, label): the label holds from that offset to the next marker's ("第3页", "第2张幻灯片").
Locations = tuple[tuple[int, str], ...]


class UnreadableFile(CorpusError):
    """A file that cannot be read as the format it claims (encrypted, damaged, mislabelled, too large when
    unpacked, or without text): the build names it and skips it (see qa.inventory)."""


@dataclass(frozen=True)
class ReadOptions:
    ocr: bool = True  # recognise text in images and in PDF pages without a text layer
    cache_path: Path | None = None  # extracted texts by content hash (qa.documents.cache); None: no cache


@dataclass(frozen=True)
class Extracted:
    """One file's text as Markdown (`#` headings, blank lines between paragraphs) and where each part came from."""

    title: str
    text: str
    locations: Locations = ()
    pages: int = 0  # pages (PDF) or slides (PPTX) read; 0 for a format without pages
    ocr_pages: int = 0  # pages or images whose text came from OCR
    ocr_seconds: float = 0.0


def page_label(number: int) -> str:
    return f"第{number}页"


def slide_label(number: int) -> str:
    return f"第{number}张幻灯片"


@dataclass
class TextBuilder:
    """Appends headings and paragraphs as Markdown and records at which offset each location begins."""

    parts: list[str] = field(default_factory=list)
    length: int = 0
    markers: list[tuple[int, str]] = field(default_factory=list)
    _pending: str | None = None

    def locate(self, label: str) -> None:
        """What is written next lies at label (a page, a slide); the marker lands on its first character."""
        if not self.markers or self.markers[-1][1] != label:
            self._pending = label

    def heading(self, level: int, text: str) -> None:
        self._block("#" * max(1, min(level, 6)) + " " + " ".join(text.split()))

    def paragraph(self, pieces: list[tuple[str, str | None]]) -> None:
        """A paragraph made of (text, label) pieces joined as given: a piece with a new label starts a marker."""
        self._separate()
        for text, label in pieces:
            if label is not None:
                self.locate(label)
            self._write(text)

    def _block(self, text: str) -> None:
        self._separate()
        self._write(text)

    def _separate(self) -> None:
        if self.length:
            self._append("\n\n")

    def _write(self, text: str) -> None:
        if self._pending is not None and text:
            self.markers.append((self.length, self._pending))
            self._pending = None
        self._append(text)

    def _append(self, text: str) -> None:
        self.parts.append(text)
        self.length += len(text)

    def text(self) -> str:
        return "".join(self.parts)

    def locations(self) -> tuple[tuple[int, str], ...]:
        return tuple(self.markers)


def first_heading(text: str) -> str:
    """The first Markdown heading's text, or ""."""
    for line in text.split("\n"):
        if line.startswith("#"):
            return line.lstrip("#").strip()
    return ""


def location_of(locations: Locations, headings: tuple[str, ...], start: int, end: int) -> str | None:
    """Where text[start:end] lies, for a citation: its page(s) or slide, then its heading path below the title
    ("第3页 · 第二章 / 退款"); None when the document has neither."""
    labels = [label for offset, label in locations if offset <= start]
    first = labels[-1] if labels else (locations[0][1] if locations else None)
    last = next((label for offset, label in reversed(locations) if offset < end), first)
    parts = []
    if first is not None:
        parts.append(first if last == first else f"{first}–{last}")
    if len(headings) > 1:
        parts.append(" / ".join(headings[1:]))
    return " · ".join(parts) or None
