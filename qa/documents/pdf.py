"""PDF: the text layer read through PDFium one page at a time (pages without one go to OCR), laid out by
qa.documents.layout into Markdown with a marker per page."""

from __future__ import annotations

import ctypes
import statistics
import time
import unicodedata
from pathlib import Path

from qa.documents import layout
from qa.documents.model import Extracted, ReadOptions, TextBuilder, UnreadableFile, first_heading

_MIN_PAGE_CHARS = 8  # fewer non-blank characters than this: the page is an image (a scan), not text
_OCR_SCALE = 200 / 72  # render scanned pages at 200 dpi for OCR
_BOLD_WEIGHT = 600
# A gap between two characters of a line wider than this share of the line's glyph height separates table cells:
# beside Chinese text, which has no spaces, a narrower one than between words.
_CELL_GAP_WIDE = 0.55
_CELL_GAP = 1.2


def read(path: Path, options: ReadOptions) -> Extracted:
    import pypdfium2 as pdfium  # deferred: only corpora with PDFs pay for PDFium

    try:
        pdf = pdfium.PdfDocument(path)
    except pdfium.PdfiumError as exc:
        why = str(exc)
        if "password" in why.lower():
            raise UnreadableFile(f"{path}: the PDF is encrypted (password-protected); save an unprotected copy "
                                 "to index it") from None
        raise UnreadableFile(f"{path}: not a readable PDF ({why}); re-export or re-download it") from None
    try:
        return _read(path, pdf, options)
    finally:
        pdf.close()


def _read(path: Path, pdf: object, options: ReadOptions) -> Extracted:
    pages: list[layout.Page] = []
    ocr_pages, ocr_seconds, textless = 0, 0.0, 0
    for index in range(len(pdf)):  # type: ignore[arg-type]
        page = pdf[index]  # type: ignore[index]
        try:
            lines = _text_lines(page, index + 1)
            if sum(len(line.text.strip()) for line in lines) < _MIN_PAGE_CHARS and _has_image(page):
                if options.ocr:
                    started = time.perf_counter()
                    lines = _ocr_page(page, index + 1)
                    ocr_seconds += time.perf_counter() - started
                    ocr_pages += 1
                else:
                    textless += 1
            width, height = page.get_size()
        finally:
            page.close()
        pages.append(layout.Page(index + 1, width, height, tuple(lines)))
    if not any(page.lines for page in pages):
        hint = ("its pages are images and OCR is off: turn it on (QA_OCR=on or --ocr on)" if textless else
                "it has no text layer and no images to recognise")
        raise UnreadableFile(f"{path}: no text in this PDF; {hint}")
    out = TextBuilder()
    running = layout.running_keys(pages)
    body = layout.body_size(pages)
    levels = layout.heading_levels(pages, body)
    # One stream of lines for all pages: a paragraph goes on across a page break.
    layout.write_blocks((line for page in pages for line in layout.body_lines(page, running)), body, levels, out)
    text = out.text()
    if not text.strip():
        raise UnreadableFile(f"{path}: no text in this PDF beyond running headers and page numbers")
    title = _metadata_title(pdf) or first_heading(text) or path.stem
    return Extracted(title, text, out.locations(), pages=len(pages), ocr_pages=ocr_pages, ocr_seconds=ocr_seconds)


def _metadata_title(pdf: object) -> str:
    title = pdf.get_metadata_value("Title")  # type: ignore[attr-defined]
    return " ".join(str(title or "").split())


def _text_lines(page: object, number: int) -> list[layout.Line]:
    """The page's text as lines, from PDFium's characters (its own line breaks, and a jump in height)."""
    import pypdfium2.raw as raw

    textpage = page.get_textpage()  # type: ignore[attr-defined]
    handle = textpage.raw
    boxes = [ctypes.c_double() for _ in range(4)]
    lines: list[layout.Line] = []
    chars: list[str] = []
    geometry: list[tuple[float, float, float, float, float, bool]] = []  # x0, x1, bottom, top, size, bold

    def flush() -> None:
        if chars and "".join(chars).strip():
            lines.append(_line("".join(chars), number, geometry))
        chars.clear()
        geometry.clear()

    try:
        for i in range(raw.FPDFText_CountChars(handle)):
            char = chr(raw.FPDFText_GetUnicode(handle, i))
            if char in "\r\n\x02\ufffe":
                flush()
                continue
            if raw.FPDFText_IsGenerated(handle, i) or char.isspace():
                chars.append(" ")
                continue
            raw.FPDFText_GetCharBox(handle, i, *boxes)
            left, right, bottom, top = (b.value for b in boxes)
            if geometry and _below(top, geometry):  # PDFium gave no line break, but this is the next line
                flush()
            size = raw.FPDFText_GetFontSize(handle, i)
            if geometry and _cell_gap(left, top - bottom, size, geometry, chars, char):  # table cells
                while chars and chars[-1] == " ":
                    chars.pop()
                chars.append(layout.CELL_SEPARATOR)
            geometry.append((left, right, bottom, top, size, raw.FPDFText_GetFontWeight(handle, i) >= _BOLD_WEIGHT))
            chars.append(char)
        flush()
    finally:
        textpage.close()
    return lines


def _below(top: float, geometry: list[tuple[float, float, float, float, float, bool]]) -> bool:
    """A character wholly below the line so far, by more than half its height (an underscore or a comma hangs
    below the baseline, yet stays on the line)."""
    bottom = min(g[2] for g in geometry)
    return top < bottom - 0.5 * max(g[3] - g[2] for g in geometry)


def _cell_gap(left: float, height: float, size: float, geometry: list[tuple[float, float, float, float, float, bool]],
              chars: list[str], char: str) -> bool:
    # The tallest glyph so far, this one's, or half the font size: "一" alone is a hairline, no measure of a gap.
    height = max(height, 0.5 * size, *(g[3] - g[2] for g in geometry))
    previous = next((c for c in reversed(chars) if c != " "), "")
    if not previous or unicodedata.category(previous)[0] == "P" or unicodedata.category(char)[0] == "P":
        return False  # a full-width "。" or "，" is drawn narrow, leaving a gap that separates nothing
    wide = layout.is_wide(previous) or layout.is_wide(char)
    return left - geometry[-1][1] > (_CELL_GAP_WIDE if wide else _CELL_GAP) * height


def _line(text: str, number: int, geometry: list[tuple[float, float, float, float, float, bool]]) -> layout.Line:
    bold = sum(g[5] for g in geometry) * 2 > len(geometry)
    text = " ".join(text.split())
    return layout.Line(text, number, min(g[0] for g in geometry), max(g[1] for g in geometry),
                       max(g[3] for g in geometry), min(g[2] for g in geometry),
                       statistics.median(g[4] for g in geometry), bold, layout.CELL_SEPARATOR in text)


def _has_image(page: object) -> bool:
    import pypdfium2.raw as raw

    return any(obj.type == raw.FPDF_PAGEOBJ_IMAGE for obj in page.get_objects(max_depth=2))  # type: ignore[attr-defined]


def _ocr_page(page: object, number: int) -> list[layout.Line]:
    from qa.documents import ocr

    bitmap = page.render(scale=_OCR_SCALE)  # type: ignore[attr-defined]
    image = bitmap.to_numpy()
    width, height = page.get_size()  # type: ignore[attr-defined]
    return ocr.recognise(image, number, width, height)
