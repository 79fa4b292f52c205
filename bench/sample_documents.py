"""Real files from real writers, for tests/test_documents.py and bench/bench_documents.py: HTML printed to PDF by
headless Chromium (its header and footer on), Word and PowerPoint files written by python-docx and python-pptx,
and a scanned page (a PDF page rendered to an image by PDFium)."""

from __future__ import annotations

import html
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path

# Flags Chromium needs as root on a machine without a network (see the machine notes): no sandbox, no GPU, no
# background connections.
_CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                   "--disable-background-networking", "--disable-component-update", "--disable-sync")
STYLE = ('body{font-family:"Noto Sans CJK SC",sans-serif;font-size:12pt;line-height:1.5}'
         "h1{font-size:22pt}h2{font-size:16pt}.cols{column-count:2;column-gap:2em}"
         "table{border-collapse:collapse}td,th{border:1px solid #444;padding:4px 10px}.page{break-before:page}")


def chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def print_pdf(body_html: str, title: str, out: Path) -> Path:
    """body_html in a page titled title, printed to out by headless Chromium with its header and footer (date,
    title, file URL and page x/y on every page)."""
    browser = chromium()
    if browser is None:
        raise RuntimeError("chromium is not installed: apt-get install -y chromium fonts-noto-cjk")
    with tempfile.TemporaryDirectory() as tmp:
        page = Path(tmp) / "page.html"
        page.write_text(f'<!doctype html><html><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
                        f"<style>{STYLE}</style></head><body>{body_html}</body></html>", encoding="utf-8")
        subprocess.run([browser, *_CHROMIUM_FLAGS, f"--user-data-dir={tmp}/profile", f"--print-to-pdf={out}",
                        page.as_uri()], check=True, capture_output=True, timeout=120)
    return out


def sections_html(title: str, sections: Sequence[tuple[str, str]], page_breaks: bool = False) -> str:
    """An h1 title, then each (heading, paragraph) as an h2 and a p."""
    parts = [f"<h1>{html.escape(title)}</h1>"]
    for i, (heading, text) in enumerate(sections):
        cls = ' class="page"' if page_breaks and i else ""
        parts.append(f"<h2{cls}>{html.escape(heading)}</h2><p>{html.escape(text)}</p>")
    return "".join(parts)


def write_docx(title: str, sections: Sequence[tuple[str, str]], out: Path, subsections: bool = False) -> Path:
    """A Word file: the title in the Title style, each section a Heading 1 and a paragraph (with subsections, every
    other section a Heading 2 under the one before)."""
    import docx

    document = docx.Document()
    document.core_properties.title = title
    document.add_paragraph(title, style="Title")
    for i, (heading, text) in enumerate(sections):
        document.add_heading(heading, level=2 if subsections and i % 2 else 1)
        document.add_paragraph(text)
    document.save(str(out))
    return out


def write_pptx(title: str, slides: Sequence[tuple[str, Sequence[str]]], out: Path, notes: Sequence[str] = ()) -> Path:
    """A PowerPoint file: each (title, lines) a title-and-content slide; notes[i] the i-th slide's speaker notes."""
    import pptx

    presentation = pptx.Presentation()
    presentation.core_properties.title = title
    for i, (heading, lines) in enumerate(slides):
        slide = presentation.slides.add_slide(presentation.slide_layouts[1])
        slide.shapes.title.text = heading
        body = slide.placeholders[1].text_frame
        body.text = lines[0]
        for line in lines[1:]:
            body.add_paragraph().text = line
        if i < len(notes):
            slide.notes_slide.notes_text_frame.text = notes[i]
    presentation.save(str(out))
    return out


def scan_pdf(source: Path, page: int, out: Path, dpi: int = 150) -> Path:
    """One page of a PDF as a scan: rendered to an image by PDFium and saved as an image-only PDF."""
    import pypdfium2 as pdfium

    pdf = pdfium.PdfDocument(source)
    try:
        image = pdf[page].render(scale=dpi / 72).to_pil().convert("RGB")
    finally:
        pdf.close()
    image.save(out, "PDF", resolution=dpi)
    return out


def scan_png(source: Path, page: int, out: Path, dpi: int = 150) -> Path:
    """One page of a PDF rendered to a PNG image by PDFium (a photo or screenshot of a page)."""
    import pypdfium2 as pdfium

    pdf = pdfium.PdfDocument(source)
    try:
        pdf[page].render(scale=dpi / 72).to_pil().save(out)
    finally:
        pdf.close()
    return out
