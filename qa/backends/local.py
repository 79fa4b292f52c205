"""The local backend: build directories under the index directory, read in place (qa.index.files)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from qa.backends import Manifest
from qa.chunking import Chunk
from qa.config import Settings
from qa.corpus import Document, DocumentInfo
from qa.index import directory
from qa.index.files import BuildFiles
from qa.index.sparse import top_positive


class LocalReader:
    """Implements `qa.backends.IndexReader` over one build directory; loading maps files, it parses nothing big."""

    def __init__(self, path: Path, manifest: Manifest) -> None:
        self.path = path
        self.manifest = manifest
        self.files = BuildFiles(path, manifest)

    @property
    def build_id(self) -> str:
        return self.path.name

    @property
    def n_chunks(self) -> int:
        return self.files.n_chunks

    def question(self, vector: np.ndarray, terms: Sequence[str]) -> LocalQuestion:
        return LocalQuestion(self, vector, terms)

    def document_frequencies(self, terms: Sequence[str]) -> np.ndarray:
        return self.files.sparse.document_frequencies(list(terms))

    def chunks(self, rows: Sequence[int]) -> list[Chunk]:
        rows = [int(r) for r in rows]
        files = self.files
        meta = files.meta.take(np.asarray(rows, dtype=np.int64)) if rows else np.zeros((0, 4), dtype=np.int32)
        texts = files.docs.chunk_texts(rows)
        doc_ids = files.docs.doc_ids(sorted({int(m[0]) for m in meta}))
        out = []
        for row, (doc_idx, start, end, ordinal) in zip(rows, meta.tolist(), strict=True):
            text, headings = texts[row]
            doc_id = doc_ids[doc_idx]
            out.append(Chunk(f"{doc_id}:{ordinal}", doc_id, start, end, text, headings))
        return out

    def document_info(self, doc_ids: Sequence[str]) -> dict[str, DocumentInfo]:
        return self.files.docs.document_info(doc_ids)

    def document(self, doc_id: str) -> Document | None:
        return self.files.docs.document(doc_id)

    def close(self) -> None:
        self.files.close()


class LocalQuestion:
    """One question's reads: BM25 is scored over all rows once, on first use, and kept for this question only."""

    def __init__(self, reader: LocalReader, vector: np.ndarray, terms: Sequence[str]) -> None:
        self.reader = reader
        self.files = reader.files
        self.vector = np.asarray(vector, dtype=np.float32)
        self.terms = list(terms)
        self._bm25: np.ndarray | None = None

    def _scores(self) -> np.ndarray:
        if self._bm25 is None:
            self._bm25 = self.files.sparse.scores(self.terms)
        return self._bm25

    def candidates(self, n: int) -> np.ndarray:
        rows = [row for row, _ in self.dense_search(n)] + [row for row, _ in self.sparse_search(n)]
        return np.unique(np.asarray(rows, dtype=np.int64))

    def dense_search(self, k: int) -> list[tuple[int, float]]:
        return self.files.dense.search(self.vector, k)

    def dense_scores(self, rows: np.ndarray) -> np.ndarray:
        return self.files.dense.scores_for(self.vector, rows)

    def sparse_search(self, k: int) -> list[tuple[int, float]]:
        return top_positive(self._scores(), k)

    def sparse_scores(self, rows: np.ndarray) -> np.ndarray:
        return self._scores()[np.asarray(rows, dtype=np.int64)]

    def term_presence(self, rows: np.ndarray) -> np.ndarray:
        return self.files.sparse.presence(self.terms, rows)

    def best_sentence_scores(self, rows: np.ndarray) -> np.ndarray:
        rows = np.asarray(rows, dtype=np.int64)
        lo, hi = self.files.sentence_range(rows)
        counts = hi - lo
        best = np.zeros(len(rows), dtype=np.float32)
        if not counts.sum():
            return best
        ends = np.cumsum(counts)
        cosines = self.files.sentence_vectors.ranges(lo, hi).astype(np.float32) @ self.vector
        has = counts > 0
        best[has] = np.maximum.reduceat(cosines, (ends - counts)[has])
        return best

    def sentence_scores(self, row: int) -> tuple[np.ndarray, np.ndarray]:
        lo, hi = self.files.sentence_range(np.array([row]))
        cosines = self.files.sentence_vectors.ranges(lo, hi).astype(np.float32) @ self.vector
        return self.files.spans.ranges(lo, hi).astype(np.int64), cosines

    def chunks(self, rows: Sequence[int]) -> list[Chunk]:
        return self.reader.chunks(rows)

    def document_info(self, doc_ids: Sequence[str]) -> dict[str, DocumentInfo]:
        return self.reader.document_info(doc_ids)


class LocalBackend:
    """Builds under `index/builds/`, the served one named by the `index/current` symlink."""

    def describe(self, settings: Settings) -> str:
        return f"index in {settings.index_dir}"

    def current_build(self, settings: Settings) -> str:
        directory.resolve_current(settings.index_dir)  # IndexNotFoundError with the hint to build one
        return Path(os.path.realpath(directory.current_path(settings.index_dir))).name

    def manifest(self, settings: Settings, build_id: str) -> Manifest:
        return directory.read_manifest(self._path(settings, build_id))

    def open(self, settings: Settings, build_id: str, manifest: Manifest) -> LocalReader:
        path = self._path(settings, build_id)
        directory.verify_files(path, manifest)
        return LocalReader(path, manifest)

    def publish(self, settings: Settings, build_dir: Path) -> None:
        return None  # `qa index` swapped it in already: the build directory is what is served

    def rollback(self, settings: Settings) -> str:
        with directory.build_lock(settings.index_dir):
            return directory.rollback(settings.index_dir, settings.build_grace_seconds).name

    @staticmethod
    def _path(settings: Settings, build_id: str) -> Path:
        return settings.index_dir / directory.BUILDS / build_id
