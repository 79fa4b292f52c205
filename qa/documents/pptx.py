"""PowerPoint (.pptx): one section per slide headed by its title (a marker per slide), its text boxes top to
bottom and left to right, tables one row per line, and the speaker notes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from qa.documents import zipguard
from qa.documents.layout import CELL_SEPARATOR
from qa.documents.model import Extracted, ReadOptions, TextBuilder, UnreadableFile, slide_label


def read(path: Path, options: ReadOptions) -> Extracted:
    zipguard.check(path, "ppt/presentation.xml", "PowerPoint (.pptx)")
    import pptx  # deferred: only corpora with slides pay for the import
    from pptx.exc import PackageNotFoundError

    try:
        presentation = pptx.Presentation(str(path))
    except (PackageNotFoundError, KeyError, ValueError) as exc:
        raise UnreadableFile(f"{path}: not a readable PowerPoint file ({exc}); re-save it as .pptx") from None
    out = TextBuilder()
    first_title = ""
    slides = 0
    for number, slide in enumerate(presentation.slides, start=1):
        slides = number
        title_shape = slide.shapes.title
        title = " ".join((title_shape.text_frame.text if title_shape is not None else "").split())
        first_title = first_title or title
        out.locate(slide_label(number))
        out.heading(2, title or slide_label(number))
        for shape in sorted(_shapes(slide.shapes), key=lambda s: (s.top or 0, s.left or 0)):
            if title_shape is not None and shape.shape_id == title_shape.shape_id:
                continue
            _shape_text(shape, out)
        notes = slide.notes_slide.notes_text_frame.text if slide.has_notes_slide else ""
        if notes and notes.strip():
            _lines([line for line in notes.split("\n") if line.strip()], out)
    body = out.text()
    if not any(line and not line.startswith("#") for line in body.split("\n")) and not first_title:
        raise UnreadableFile(f"{path}: this presentation has no text")
    title = (presentation.core_properties.title or "").strip() or first_title or path.stem
    return Extracted(title, body, out.locations(), pages=slides)


def _shapes(shapes: Any) -> list[Any]:
    """Every shape, the members of groups included."""
    found = []
    for shape in shapes:
        if shape.shape_type is not None and getattr(shape, "shapes", None) is not None:  # a group
            found.extend(_shapes(shape.shapes))
        else:
            found.append(shape)
    return found


def _shape_text(shape: Any, out: TextBuilder) -> None:
    if getattr(shape, "has_table", False) and shape.has_table:
        rows = [CELL_SEPARATOR.join(" ".join(cell.text.split()) for cell in row.cells) for row in shape.table.rows]
        _lines([row for row in rows if row.strip(" |")], out)
    elif getattr(shape, "has_text_frame", False) and shape.has_text_frame:
        _lines([" ".join(p.text.split()) for p in shape.text_frame.paragraphs if p.text.strip()], out)


def _lines(lines: list[str], out: TextBuilder) -> None:
    if lines:
        out.paragraph([(("\n" if i else "") + line, None) for i, line in enumerate(lines)])
