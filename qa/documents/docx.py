"""Word (.docx): paragraphs in order, heading styles and outline levels as Markdown headings, list items one per
line, tables one row per line (cells joined by " | ")."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from qa.documents import zipguard
from qa.documents.layout import CELL_SEPARATOR
from qa.documents.model import Extracted, ReadOptions, TextBuilder, UnreadableFile, first_heading

_HEADING_STYLE = re.compile(r"(?i)(?:heading|标题)\s*(\d)")
_LIST_STYLE = re.compile(r"(?i)list|列表")


def read(path: Path, options: ReadOptions) -> Extracted:
    zipguard.check(path, "word/document.xml", "Word (.docx)")
    import docx  # deferred: only corpora with Word files pay for the import
    from docx.opc.exceptions import PackageNotFoundError
    from docx.table import Table

    try:
        document = docx.Document(str(path))
    except (PackageNotFoundError, KeyError, ValueError) as exc:
        raise UnreadableFile(f"{path}: not a readable Word file ({exc}); re-save it as .docx") from None
    out = TextBuilder()
    title = ""
    items: list[str] = []  # the list being collected: its items become one block, a line each
    for block in document.iter_inner_content():
        if isinstance(block, Table):
            _flush(items, out)
            _table(block, out)
            continue
        text = " ".join(block.text.split())
        if not text:
            _flush(items, out)
            continue
        style = block.style.name if block.style is not None else ""
        if style.lower() == "title" or style == "标题":
            title = title or text
            _flush(items, out)
            out.heading(1, text)
        elif (level := _heading_level(block, style)) is not None:
            _flush(items, out)
            out.heading(level, text)
        elif _LIST_STYLE.search(style) or _numbered(block):
            items.append(text)
        else:
            _flush(items, out)
            out.paragraph([(text, None)])
    _flush(items, out)
    body = out.text()
    if not body.strip():
        raise UnreadableFile(f"{path}: this Word file has no text")
    title = (document.core_properties.title or "").strip() or title or first_heading(body) or path.stem
    return Extracted(title, body)


def _heading_level(paragraph: Any, style: str) -> int | None:
    match = _HEADING_STYLE.search(style)
    if match:
        return int(match.group(1))
    level = _outline_level(paragraph._p.pPr)
    if level is None and paragraph.style is not None:
        level = _outline_level(paragraph.style.element.pPr)
    return level


def _outline_level(ppr: Any) -> int | None:
    """Word's outline level 0-8 (9 = body text) as a heading level 1-9."""
    if ppr is None:
        return None
    node = ppr.find("{http://schemas.openxmlformats.org/wordprocessingml/2006/main}outlineLvl")
    if node is None:
        return None
    value = int(node.get("{http://schemas.openxmlformats.org/wordprocessingml/2006/main}val", "9"))
    return value + 1 if value < 9 else None


def _numbered(paragraph: Any) -> bool:
    ppr = paragraph._p.pPr
    return ppr is not None and ppr.numPr is not None


def _flush(items: list[str], out: TextBuilder) -> None:
    if items:
        out.paragraph([(("\n" if i else "") + "- " + item, None) for i, item in enumerate(items)])
        items.clear()


def _table(table: Any, out: TextBuilder) -> None:
    rows = []
    for row in table.rows:
        cells: list[str] = []
        for cell in row.cells:
            text = " ".join(cell.text.split())
            if not cells or text != cells[-1]:  # a merged cell repeats in every grid column it spans
                cells.append(text)
        if any(cells):
            rows.append(CELL_SEPARATOR.join(cells))
    if rows:
        out.paragraph([(("\n" if i else "") + row, None) for i, row in enumerate(rows)])
