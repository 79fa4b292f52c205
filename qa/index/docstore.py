"""Document and chunk texts in one SQLite file: written once per build, read per request, nothing parsed at load."""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from qa.corpus import Document, DocumentInfo
from qa.errors import IndexCorruptError
from qa.index.layout import REBUILD_HINT

_SCHEMA = """
CREATE TABLE documents (
    idx INTEGER PRIMARY KEY, doc_id TEXT NOT NULL UNIQUE, title TEXT NOT NULL,
    url TEXT, date TEXT, source TEXT, text TEXT NOT NULL, kind TEXT NOT NULL,
    locations TEXT NOT NULL  -- JSON [[offset, label], ...]: where each page or slide begins
);
CREATE TABLE chunks (row INTEGER PRIMARY KEY, text TEXT NOT NULL, headings TEXT NOT NULL);
"""
# SQLite's limit on host parameters per statement is 999 in older builds.
_SQL_BATCH = 500


class DocStoreWriter:
    """Appends documents and chunks inside one transaction; `close` commits."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._db = sqlite3.connect(path)
        self._db.executescript("PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF;" + _SCHEMA)
        self._db.execute("BEGIN")

    def add_document(self, idx: int, doc: Document) -> None:
        self._db.execute("INSERT INTO documents VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                         (idx, doc.doc_id, doc.title, doc.url, doc.date, doc.source, doc.text, doc.kind,
                          json.dumps(doc.locations, ensure_ascii=False)))

    def add_chunks(self, rows: Sequence[tuple[int, str, tuple[str, ...]]]) -> None:
        self._db.executemany("INSERT INTO chunks VALUES (?, ?, ?)",
                             [(row, text, json.dumps(list(headings), ensure_ascii=False))
                              for row, text, headings in rows])

    def close(self) -> None:
        self._db.commit()
        self._db.close()


class DocStore:
    """Read-only access; one connection per thread (opened lazily, so none crosses a fork)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        if not path.is_file():
            raise IndexCorruptError(f"document store {path} is missing; {REBUILD_HINT}")
        self._local = threading.local()
        # every thread's connection, so close() releases them all (a swapped-out build must let go of its files)
        self._opened: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        try:
            self._connection().execute("SELECT idx FROM documents LIMIT 1").fetchall()
            self._connection().execute("SELECT row FROM chunks LIMIT 1").fetchall()
        except sqlite3.DatabaseError as exc:
            raise IndexCorruptError(f"document store {path} is unreadable ({exc}); {REBUILD_HINT}") from exc

    def _connection(self) -> sqlite3.Connection:
        db: sqlite3.Connection | None = getattr(self._local, "db", None)
        if db is None or getattr(self._local, "pid", None) != os.getpid():
            # immutable: the file never changes after the build, so SQLite needs no locks or journal.
            db = sqlite3.connect(f"file:{self.path}?mode=ro&immutable=1", uri=True, check_same_thread=False)
            self._local.db, self._local.pid = db, os.getpid()
            with self._lock:
                self._opened.append(db)
        return db

    def chunk_texts(self, rows: Sequence[int]) -> dict[int, tuple[str, tuple[str, ...]]]:
        """(text, headings) of each row."""
        out: dict[int, tuple[str, tuple[str, ...]]] = {}
        for part in _batches(list(rows)):
            query = f"SELECT row, text, headings FROM chunks WHERE row IN ({_marks(part)})"
            for row, text, headings in self._connection().execute(query, part):
                out[row] = (text, tuple(json.loads(headings)))
        return out

    def doc_ids(self, idxs: Sequence[int]) -> dict[int, str]:
        out: dict[int, str] = {}
        for part in _batches(list(idxs)):
            query = f"SELECT idx, doc_id FROM documents WHERE idx IN ({_marks(part)})"
            out.update(self._connection().execute(query, part).fetchall())
        return out

    def document(self, doc_id: str) -> Document | None:
        row = self._connection().execute(
            "SELECT doc_id, title, text, url, date, source, kind, locations FROM documents WHERE doc_id = ?",
            (doc_id,)).fetchone()
        if row is None:
            return None
        doc_id, title, text, url, date, source, kind, locations = row
        return Document(doc_id, title, text, url, date, source, kind, _locations(locations))

    def document_info(self, doc_ids: Sequence[str]) -> dict[str, DocumentInfo]:
        out: dict[str, DocumentInfo] = {}
        for part in _batches(list(dict.fromkeys(doc_ids))):
            query = (f"SELECT doc_id, title, url, date, source, kind, locations FROM documents "
                     f"WHERE doc_id IN ({_marks(part)})")
            out.update((doc_id, DocumentInfo(doc_id, title, url, date, source, kind, _locations(locations)))
                       for doc_id, title, url, date, source, kind, locations in self._connection().execute(query, part))
        return out

    def n_documents(self) -> int:
        return int(self._connection().execute("SELECT COUNT(*) FROM documents").fetchone()[0])

    def iter_documents(self) -> Iterator[tuple[int, Document]]:
        """(idx, document) of every document in idx order, read as the cursor advances."""
        cursor = self._connection().execute(
            "SELECT idx, doc_id, title, text, url, date, source, kind, locations FROM documents ORDER BY idx")
        for idx, doc_id, title, text, url, date, source, kind, locations in cursor:
            yield idx, Document(doc_id, title, text, url, date, source, kind, _locations(locations))

    def iter_chunk_texts(self, start: int, stop: int, batch: int) -> Iterator[list[tuple[str, tuple[str, ...]]]]:
        """Rows start..stop-1 in order, in lists of at most batch rows (for streaming the embedding pass)."""
        for lo in range(start, stop, batch):
            hi = min(stop, lo + batch)
            texts = self.chunk_texts(range(lo, hi))
            yield [texts[row] for row in range(lo, hi)]

    def close(self) -> None:
        """Close every thread's connection (callers make sure no request still reads this store)."""
        with self._lock:
            opened, self._opened = self._opened, []
        for db in opened:
            db.close()
        self._local = threading.local()


def _locations(stored: str) -> tuple[tuple[int, str], ...]:
    return tuple((int(offset), str(label)) for offset, label in json.loads(stored))


def _batches(items: list[Any]) -> Iterator[list[Any]]:
    for start in range(0, len(items), _SQL_BATCH):
        yield items[start:start + _SQL_BATCH]


def _marks(part: Sequence[object]) -> str:
    return ",".join("?" * len(part))
