"""What a build read of the corpus directory: files by kind, pages and OCR, and every file it skipped with why."""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

# Office's lock files (~$report.docx) and editors' backups (notes.md~) sit beside the files people mean to index.
_TEMPORARY_PREFIXES = ("~$", ".~lock.")
_TEMPORARY_SUFFIXES = ("~", ".tmp", ".swp", ".crdownload", ".part")
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


def walk(root: Path, supported: Sequence[str], inventory: Inventory) -> Iterator[Path]:
    """The files under root with a supported extension; every other file, and each hidden directory (not
    walked), goes to inventory.skipped with why."""
    for dirpath, dirnames, filenames in os.walk(root):
        here = Path(dirpath)
        for name in sorted(d for d in dirnames if d.startswith(".")):  # .git and friends: named, never walked
            inventory.skipped.append(Skipped((here / name).relative_to(root).as_posix() + "/", "hidden directory"))
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        for name in filenames:
            path = here / name
            reason = _skip_reason(name, path.suffix.lower(), supported)
            if reason is None:
                yield path
            else:
                inventory.skipped.append(Skipped(path.relative_to(root).as_posix(), reason))
    inventory.skipped.sort(key=lambda s: s.path)


def _skip_reason(name: str, suffix: str, supported: Sequence[str]) -> str | None:
    if name.startswith(_TEMPORARY_PREFIXES) or name.endswith(_TEMPORARY_SUFFIXES):
        return "temporary file"
    if name.startswith("."):
        return "hidden file"
    if suffix not in supported:
        return f"unsupported extension {suffix}" if suffix else "no extension"
    return None
