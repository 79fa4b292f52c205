"""The sqlite file behind a cache (embeddings, extracted texts): opened in WAL mode with its table, or a clear error."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from qa.errors import IndexCorruptError


def open_cache(path: Path, schema: str, what: str) -> sqlite3.Connection:
    """The cache at path with its schema created; an unreadable file fails saying it may simply be deleted."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        db = sqlite3.connect(path, timeout=30)
        db.execute("PRAGMA journal_mode=WAL")  # a serving process reads while a rebuild writes
        db.executescript(schema)
        db.commit()
    except sqlite3.DatabaseError as exc:
        raise IndexCorruptError(f"{what} {path} is unreadable ({exc}); delete it and rebuild (it only saves time, "
                                "nothing is lost)") from exc
    return db
