"""Positioned text lines (from a PDF's text layer or from OCR) to headings and paragraphs in reading order:
running headers and footers dropped, two-column bands read column by column, wrapped lines joined."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, replace

from qa.documents.model import TextBuilder, page_label

_SENTENCE_END = "。！？!?；;：:…」』”)）"
_PAGE_NUMBER = re.compile(r"(?i)\s*(?:第\s*\d+\s*页(?:\s*[/／共]\s*\d+\s*页?)?|[-–—]?\s*\d+\s*[-–—]?|\d+\s*/\s*\d+|"
                          r"page\s+\d+(?:\s+of\s+\d+)?)\s*")
_NUMBERED = ((re.compile(r"第[一二三四五六七八九十百零〇两\d]+[章篇部]"), 1),
             (re.compile(r"第[一二三四五六七八九十百零〇两\d]+节"), 2),
             (re.compile(r"[一二三四五六七八九十]+、"), 2),
             (re.compile(r"\d+(?:\.\d+)+\s"), 3))
_MARGIN_SHARE = 0.1  # running headers and footers live in the top and bottom tenth of a page
_HEADING_RATIO = 1.18  # a line this much larger than the body text is a heading
_HEADING_MAX_CHARS = 80
_NUMBERED_MAX_CHARS = 30
CELL_SEPARATOR = " | "  # between the cells of a table row, each row a line of its own


@dataclass(frozen=True)
class Line:
    """One line of text on a page; coordinates in points, y upwards (PDF user space)."""

    text: str
    page: int  # 1-based
    x0: float
    x1: float
    top: float
    bottom: float
    size: float  # font size (OCR: the line's height)
    bold: bool = False
    row: bool = False  # a table row: its cells joined by CELL_SEPARATOR
    full: bool = False  # reaches its column's right edge: a paragraph may go on in the next column or page


@dataclass(frozen=True)
class Page:
    number: int  # 1-based
    width: float
    height: float
    lines: tuple[Line, ...]


def running_keys(pages: Sequence[Page]) -> set[tuple[str, str]]:
    """(band, text with digits as #) of the lines repeated at the top or bottom of at least half the pages."""
    if len(pages) < 2:
        return set()
    seen: Counter[tuple[str, str]] = Counter()
    for page in pages:
        seen.update({key for line in page.lines if (key := _margin_key(page, line)) is not None})
    need = max(2, (len(pages) + 1) // 2)
    return {key for key, count in seen.items() if count >= need}


def _margin_key(page: Page, line: Line) -> tuple[str, str] | None:
    if line.bottom >= page.height * (1 - _MARGIN_SHARE):
        band = "top"
    elif line.top <= page.height * _MARGIN_SHARE:
        band = "bottom"
    else:
        return None
    return band, re.sub(r"\d+", "#", " ".join(line.text.split()))


def body_lines(page: Page, running: set[tuple[str, str]]) -> list[Line]:
    """The page's lines in reading order without running headers, footers and page numbers."""
    kept = [line for line in page.lines
            if not ((key := _margin_key(page, line)) is not None and (key in running or _PAGE_NUMBER.fullmatch(
                line.text)))]
    mid = page.width / 2
    edges: dict[bool, float] = {}
    for line in kept:
        edges[line.x0 >= mid] = max(edges.get(line.x0 >= mid, 0.0), line.x1)
    marked = [replace(line, full=line.x1 >= edges[line.x0 >= mid] - 1.5 * line.size) for line in kept]
    return reading_order(marked, page.width)


def reading_order(lines: Sequence[Line], width: float) -> list[Line]:
    """Top to bottom; where a band of lines has a left and a right column (no line crossing the middle), the
    left column first."""
    mid, gap = width / 2, width * 0.02
    ordered: list[Line] = []
    band: list[Line] = []
    for line in sorted(lines, key=lambda item: -item.top):
        if line.x0 < mid - gap and line.x1 > mid + gap:  # crosses the middle: ends a band of columns
            ordered.extend(_columns(band, mid))
            band = []
            ordered.append(line)
        else:
            band.append(line)
    ordered.extend(_columns(band, mid))
    return ordered


def _columns(band: list[Line], mid: float) -> list[Line]:
    left = [line for line in band if line.x1 <= mid]
    right = [line for line in band if line.x1 > mid]
    if len(left) < 2 or len(right) < 2:
        return band
    return left + right


def body_size(pages: Iterable[Page]) -> float:
    """The font size most characters are set in."""
    sizes: Counter[float] = Counter()
    for page in pages:
        for line in page.lines:
            sizes[round(line.size * 2) / 2] += len(line.text)
    return sizes.most_common(1)[0][0] if sizes else 0.0


def heading_levels(pages: Iterable[Page], body: float) -> dict[float, int]:
    """Level (1 = largest) of each font size clearly larger than the body text's."""
    sizes = sorted({round(line.size * 2) / 2 for page in pages for line in page.lines
                    if line.size >= body * _HEADING_RATIO and len(line.text) <= _HEADING_MAX_CHARS}, reverse=True)
    return {size: min(level, 5) for level, size in enumerate(sizes, start=1)}


@dataclass
class _Block:
    level: int  # 0: paragraph
    lines: list[Line]


def write_blocks(lines: Iterable[Line], body: float, levels: dict[float, int], out: TextBuilder) -> None:
    """Headings and paragraphs of lines (in reading order) appended to out, each piece marked with its page."""
    for block in _blocks(lines, body, levels):
        if block.level:
            out.locate(page_label(block.lines[0].page))
            out.heading(block.level, _join(line.text for line in block.lines))
        else:
            out.paragraph(list(_pieces(block.lines)))


def _blocks(lines: Iterable[Line], body: float, levels: dict[float, int]) -> Iterator[_Block]:
    block: _Block | None = None
    previous: Line | None = None
    for line in lines:
        level = _level(line, body, levels)
        if block is not None and previous is not None and _continues(block, previous, line, level):
            block.lines.append(line)
        else:
            if block is not None:
                yield _numbered(block)
            block = _Block(level, [line])
        previous = line
    if block is not None:
        yield _numbered(block)


def _level(line: Line, body: float, levels: dict[float, int]) -> int:
    if len(line.text) > _HEADING_MAX_CHARS:
        return 0
    level = levels.get(round(line.size * 2) / 2, 0)
    if not level and line.bold and abs(line.size - body) < 0.5 and not line.text.rstrip().endswith(
            tuple(_SENTENCE_END)):
        level = len(levels) + 1
    return level


def _continues(block: _Block, previous: Line, line: Line, level: int) -> bool:
    if level != block.level or line.row != previous.row:
        return False
    if line.row:  # a table: its rows stay together, one line each
        return line.page == previous.page and 0 <= previous.top - line.top <= max(previous.size, line.size) * 3
    step = previous.top - line.top
    if line.page != previous.page or step < 0:  # a new page or column: a full last line goes on there
        return not level and (previous.full or not previous.text.rstrip().endswith(tuple(_SENTENCE_END)))
    # Wrapped lines sit about 1.2-1.5 sizes apart; a blank line or a paragraph margin makes it 2 and more.
    # Sizes measured by OCR (a line's height) wobble by a point or two within one paragraph.
    same_size = abs(line.size - previous.size) < max(1.0, 0.15 * previous.size)
    return step <= max(previous.size, line.size) * 1.75 and (level > 0 or same_size)


def _numbered(block: _Block) -> _Block:
    """A one-line paragraph such as "第一章 总则" or "一、适用范围" is a heading even at the body size."""
    if block.level or len(block.lines) != 1:
        return block
    text = block.lines[0].text.strip()
    if len(text) > _NUMBERED_MAX_CHARS or text.endswith(tuple(_SENTENCE_END)) or "，" in text:
        return block
    for pattern, level in _NUMBERED:
        if pattern.match(text):
            return _Block(level + 1, block.lines)
    return block


def _pieces(lines: list[Line]) -> Iterator[tuple[str, str | None]]:
    """Each line's text with the separator that joins it to the one before, and its page's label."""
    previous = ""
    for line in lines:
        text = line.text.strip()
        separator = ("\n" if line.row else _separator(previous, text)) if previous else ""
        if previous.endswith("-") and separator == "" and text[:1].islower():
            separator = ""  # "exam-" + "ple": the hyphen stays, nothing is inserted
        yield separator + text, page_label(line.page)
        previous = text


def _join(texts: Iterable[str]) -> str:
    out = ""
    for text in texts:
        text = text.strip()
        out += (_separator(out, text) if out else "") + text
    return out


def _separator(before: str, after: str) -> str:
    """What joins a wrapped line to the next: nothing beside Chinese or Japanese text, else a space."""
    if not before or not after:
        return ""
    if is_wide(before[-1]) or is_wide(after[0]) or before.endswith("-"):
        return ""
    return " "


def is_wide(char: str) -> bool:
    return "\u2e80" <= char <= "\u9fff" or "\uf900" <= char <= "\ufaff" or "\uff00" <= char <= "\uffef" or \
        "\u3000" <= char <= "\u303f"
