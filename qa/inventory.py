"""What a build read of the corpus directory: files by kind, pages and OCR, and every file it skipped with why."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

SUMMARY_NAMES = 10  # skipped files named in the one-line summary; the manifest lists them all


@dataclass(frozen=True)
class Skipped:
    path: str  # relative to the corpus directory
    reason: str


@dataclass
class Inventory:
    """Filled while the corpus is read (qa.corpus.iter_corpus); read by the build's summary and manifest."""

    read: Counter[str] = field(default_factory=Counter)  # kind ("md", "pdf", "image", ...) -> files read
    skipped: list[Skipped] = field(default_factory=list)
    pages: int = 0  # PDF pages and slides read
    ocr_pages: int = 0
    ocr_seconds: float = 0.0  # OCR time spent by this build (cached extractions cost none)
    from_cache: int = 0  # documents whose extracted text came from the extraction cache

    def summary(self) -> str:
        kinds = ", ".join(f"{n} {kind}" for kind, n in sorted(self.read.items()))
        line = f"read {sum(self.read.values())} files ({kinds or 'none'}"
        if self.pages:
            line += f"; {self.pages} pages/slides"
        if self.ocr_pages:
            line += f", {self.ocr_pages} OCRed in {self.ocr_seconds:.1f} s"
        if self.from_cache:
            line += f", {self.from_cache} from the extraction cache"
        line += ")"
        if self.skipped:
            named = "; ".join(f"{s.path} ({s.reason})" for s in self.skipped[:SUMMARY_NAMES])
            more = f"; and {len(self.skipped) - SUMMARY_NAMES} more (see the manifest)" \
                if len(self.skipped) > SUMMARY_NAMES else ""
            line += f"; skipped {len(self.skipped)}: {named}{more}"
        return line

    def as_manifest(self) -> dict[str, object]:
        return {"read": dict(sorted(self.read.items())), "pages": self.pages, "ocr_pages": self.ocr_pages,
                "ocr_seconds": round(self.ocr_seconds, 2),
                "skipped": [{"path": s.path, "reason": s.reason} for s in self.skipped]}
