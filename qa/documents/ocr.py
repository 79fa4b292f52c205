"""OCR of scanned pages and images (Chinese and English) with RapidOCR, whose ONNX models ship inside its wheel:
nothing is downloaded at run time."""

from __future__ import annotations

import functools
import time
from pathlib import Path
from typing import Any

import numpy as np

from qa.documents import layout
from qa.documents.model import Extracted, ReadOptions, TextBuilder, UnreadableFile, first_heading

_MIN_SCORE = 0.5  # recognitions less sure than this are mostly noise (stains, stamps, ruling lines)


@functools.lru_cache(maxsize=1)
def _engine() -> Any:
    from rapidocr_onnxruntime import RapidOCR  # deferred: loading the models takes a second

    return RapidOCR()


def recognise(image: np.ndarray, page: int, width: float, height: float) -> list[layout.Line]:
    """The text lines of an image (RGB or BGR array) of a page width x height points large, y upwards."""
    found, _ = _engine()(image)
    scale_x, scale_y = width / image.shape[1], height / image.shape[0]
    boxes = []
    for points, text, score in found or []:
        if float(score) < _MIN_SCORE or not str(text).strip():
            continue
        xs = [p[0] * scale_x for p in points]
        ys = [height - p[1] * scale_y for p in points]
        boxes.append((str(text).strip(), min(xs), max(xs), max(ys), min(ys)))
    return _merge_rows(boxes, page)


def _merge_rows(boxes: list[tuple[str, float, float, float, float]], page: int) -> list[layout.Line]:
    """Boxes whose middles share a row become one line (cells of a table row, words split by a gap)."""
    rows: list[list[tuple[str, float, float, float, float]]] = []
    for box in sorted(boxes, key=lambda b: -(b[3] + b[4]) / 2):
        middle = (box[3] + box[4]) / 2
        if rows and abs((rows[-1][0][3] + rows[-1][0][4]) / 2 - middle) < (rows[-1][0][3] - rows[-1][0][4]) / 2:
            rows[-1].append(box)
        else:
            rows.append([box])
    lines = []
    for row in rows:
        row.sort(key=lambda b: b[1])
        top, bottom = max(b[3] for b in row), min(b[4] for b in row)
        # A line's height stands in for its font size; whole points keep one size per heading level.
        lines.append(layout.Line(" ".join(b[0] for b in row), page, row[0][1], max(b[2] for b in row), top, bottom,
                                 float(round(top - bottom))))
    return lines


def read_image(path: Path, options: ReadOptions) -> Extracted:
    """A .png or .jpg: its recognised text as one page."""
    if not options.ocr:
        raise UnreadableFile(f"{path}: an image, and OCR is off; turn it on (QA_OCR=on or --ocr on) to index it")
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as opened:
            image = np.asarray(opened.convert("RGB"))
    except (UnidentifiedImageError, OSError) as exc:
        raise UnreadableFile(f"{path}: not a readable image ({exc})") from None
    started = time.perf_counter()
    height, width = image.shape[:2]
    lines = recognise(image, 1, float(width), float(height))
    seconds = time.perf_counter() - started
    page = layout.Page(1, float(width), float(height), tuple(lines))
    out = TextBuilder()
    body = layout.body_size([page])
    layout.write_blocks(layout.reading_order(lines, float(width)), body, layout.heading_levels([page], body), out)
    text = out.text()
    if not text.strip():
        raise UnreadableFile(f"{path}: OCR found no text in this image")
    return Extracted(first_heading(text) or path.stem, text, (), pages=1, ocr_pages=1, ocr_seconds=seconds)
