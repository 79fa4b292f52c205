"""Extracted texts by the file's content hash (sqlite, beside the embedding cache): an unchanged PDF or scan is
read, and OCRed, once."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from qa.cachedb import open_cache
from qa.documents.model import Extracted

_SCHEMA = "CREATE TABLE IF NOT EXISTS extracted (key TEXT PRIMARY KEY, record TEXT NOT NULL) WITHOUT ROWID"


def content_key(path: Path, salt: str) -> str:
    """sha256 of the file's bytes (read in blocks) and of what else decides the extraction (reader, OCR)."""
    digest = hashlib.sha256(salt.encode("utf-8") + b"\x00")
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class ExtractCache:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._db = open_cache(path, _SCHEMA, "extraction cache")

    def get(self, key: str) -> Extracted | None:
        row = self._db.execute("SELECT record FROM extracted WHERE key = ?", (key,)).fetchone()
        if row is None:
            return None
        record = json.loads(row[0])
        return Extracted(record["title"], record["text"], tuple((int(o), str(label)) for o, label in
                                                                 record["locations"]),
                         record["pages"], record["ocr_pages"], record["ocr_seconds"])

    def put(self, key: str, extracted: Extracted) -> None:
        record = {"title": extracted.title, "text": extracted.text, "locations": extracted.locations,
                  "pages": extracted.pages, "ocr_pages": extracted.ocr_pages, "ocr_seconds": extracted.ocr_seconds}
        with self._db:
            self._db.execute("INSERT OR REPLACE INTO extracted VALUES (?, ?)",
                             (key, json.dumps(record, ensure_ascii=False)))

    def close(self) -> None:
        self._db.close()
