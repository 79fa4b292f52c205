"""Documents people keep (PDF, Word, PowerPoint, scans and photos of pages): one reader per format behind one
signature, chosen by extension and checked against the file's first bytes, each returning Markdown-shaped text
with location markers (qa.documents.model.Extracted)."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Protocol

from qa.documents.model import Extracted, ReadOptions, UnreadableFile


class Reader(Protocol):
    def __call__(self, path: Path, options: ReadOptions) -> Extracted: ...


# extension -> (module in this package, its reader function, what the first bytes must be, the format's name)
_FORMATS: dict[str, tuple[str, str, tuple[bytes, ...], str]] = {
    ".pdf": ("pdf", "read", (b"%PDF-",), "PDF"),
    ".docx": ("docx", "read", (b"PK\x03\x04",), "Word (.docx)"),
    ".pptx": ("pptx", "read", (b"PK\x03\x04",), "PowerPoint (.pptx)"),
    ".png": ("ocr", "read_image", (b"\x89PNG\r\n\x1a\n",), "PNG image"),
    ".jpg": ("ocr", "read_image", (b"\xff\xd8\xff",), "JPEG image"),
    ".jpeg": ("ocr", "read_image", (b"\xff\xd8\xff",), "JPEG image"),
}
EXTENSIONS = tuple(_FORMATS)
_KNOWN_STARTS = {b"%PDF-": "a PDF", b"PK\x03\x04": "a ZIP archive (an Office file?)", b"\x89PNG": "a PNG image",
                 b"\xff\xd8\xff": "a JPEG image", b"\xd0\xcf\x11\xe0": "an old Office file (.doc/.ppt/.xls)",
                 b"{\\rtf": "an RTF file", b"<": "HTML or XML"}
READER_VERSION = "1"  # part of the extraction cache's key: bump when a reader's output changes


def kind_of(path: Path) -> str:
    """The kind a file is counted under in the build's summary ("pdf", "docx", "image", ...)."""
    suffix = path.suffix.lower()
    return "image" if _FORMATS[suffix][0] == "ocr" else suffix[1:]


def extract(path: Path, options: ReadOptions) -> Extracted:
    """The file's text and locations; UnreadableFile names it and says why when it cannot be read."""
    module, function, starts, name = _FORMATS[path.suffix.lower()]
    try:
        with open(path, "rb") as handle:
            head = handle.read(1024)
    except OSError as exc:
        raise UnreadableFile(f"{path}: cannot be read ({exc.strerror})") from None
    # PDF allows junk before its header; every other format must start with its signature.
    if not (any(head.startswith(s) for s in starts) or (module == "pdf" and b"%PDF-" in head)):
        actual = next((what for start, what in _KNOWN_STARTS.items() if head.lstrip().startswith(start)),
                      "empty" if not head else "not recognised")
        raise UnreadableFile(f"{path}: named {path.suffix} but it is not a {name} file (its content is {actual}); "
                             "rename it with the right extension or re-export it")
    reader: Reader = getattr(importlib.import_module(f"qa.documents.{module}"), function)
    return reader(path, options)


__all__ = ["EXTENSIONS", "Extracted", "ReadOptions", "UnreadableFile", "extract", "kind_of"]
