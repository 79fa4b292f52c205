"""The local backend: a format-2 build directory read in place (memory-mapped arrays, bm25s, SQLite)."""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from qa.chunking import Chunk
from qa.corpus import Document, DocumentInfo
from qa.errors import IndexCorruptError
from qa.index import layout
from qa.index.dense import DenseIndex
from qa.index.docstore import DocStore
from qa.index.npyrows import NpyRows
from qa.index.sparse import SparseIndex, top_positive


class LocalReader:
    """Implements `qa.backends.IndexReader` over one build directory; loading maps files, it parses nothing big."""

    def __init__(self, path: Path, manifest: Mapping[str, Any]) -> None:
        self.path = path
        self.manifest = manifest
        dense = manifest["dense"]
        ann = path / layout.ANN if dense["kind"] == "ivf" else None
        self.dense = DenseIndex.load(path / layout.CHUNK_VECTORS, ann, nprobe=int(dense.get("nprobe", 32)))
        self.sparse = SparseIndex.load(path / layout.SPARSE)
        self.docs = DocStore(path / layout.DOCS)
        # Per-question lookups touch a few scattered rows: read by pread, not mapped (see qa.npyrows).
        self._meta_rows = NpyRows(path / layout.CHUNK_META)
        self._bounds_rows = NpyRows(path / layout.SENTENCE_BOUNDS)
        self._span_rows = NpyRows(path / layout.SENTENCE_SPANS)
        self._sentence_rows = NpyRows(path / layout.SENTENCE_VECTORS)
        self._check_shapes()
        # The ranking asks for the top BM25 rows and then for the BM25 of the candidates: score each question once.
        self._bm25 = functools.lru_cache(maxsize=4)(lambda terms: self.sparse.scores(list(terms)))

    def _check_shapes(self) -> None:
        n, m = self.dense.n_rows, len(self._span_rows)
        problems = []
        if self._meta_rows.shape != (n, 4):
            problems.append(f"chunk_meta has shape {self._meta_rows.shape}, expected ({n}, 4)")
        if self.sparse.n_rows != n:
            problems.append(f"the BM25 index has {self.sparse.n_rows} rows, the vectors {n}")
        last = self._bounds_rows.take(np.array([n])) if len(self._bounds_rows) == n + 1 else None
        if self._bounds_rows.shape != (n + 1,) or last is None or int(last[0]) != m:
            problems.append("sentence_bounds does not match the chunks and sentences")
        if self._sentence_rows.shape != (m, self.dense.dim):
            problems.append(f"sentence_vectors has shape {self._sentence_rows.shape}, expected ({m}, "
                            f"{self.dense.dim})")
        if problems:
            raise IndexCorruptError(f"index in {self.path} is inconsistent: {'; '.join(problems)}; "
                                    f"{layout.REBUILD_HINT}")

    @property
    def build_id(self) -> str:
        return self.path.name

    @property
    def n_chunks(self) -> int:
        return self.dense.n_rows

    def dense_search(self, vector: np.ndarray, k: int) -> list[tuple[int, float]]:
        return self.dense.search(vector, k)

    def dense_scores(self, vector: np.ndarray, rows: np.ndarray) -> np.ndarray:
        return self.dense.scores_for(vector, rows)

    def sparse_search(self, terms: Sequence[str], k: int) -> list[tuple[int, float]]:
        return top_positive(self._bm25(tuple(terms)), k)

    def sparse_scores(self, terms: Sequence[str], rows: np.ndarray) -> np.ndarray:
        return self._bm25(tuple(terms))[np.asarray(rows, dtype=np.int64)]

    def document_frequencies(self, terms: Sequence[str]) -> np.ndarray:
        return self.sparse.document_frequencies(list(terms))

    def term_presence(self, terms: Sequence[str], rows: np.ndarray) -> np.ndarray:
        return self.sparse.presence(list(terms), rows)

    def best_sentence_scores(self, vector: np.ndarray, rows: np.ndarray) -> np.ndarray:
        rows = np.asarray(rows, dtype=np.int64)
        lo, hi = self._sentence_range(rows)
        counts = hi - lo
        best = np.zeros(len(rows), dtype=np.float32)
        if not counts.sum():
            return best
        ends = np.cumsum(counts)
        cosines = self._sentence_rows.ranges(lo, hi).astype(np.float32) @ np.asarray(vector, dtype=np.float32)
        has = counts > 0
        best[has] = np.maximum.reduceat(cosines, (ends - counts)[has])
        return best

    def _sentence_range(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """First and end sentence index of each row."""
        bounds = self._bounds_rows.ranges(rows, rows + 2).reshape(-1, 2)
        return bounds[:, 0], bounds[:, 1]

    def sentence_scores(self, vector: np.ndarray, row: int) -> tuple[np.ndarray, np.ndarray]:
        lo, hi = self._sentence_range(np.array([row]))
        cosines = self._sentence_rows.ranges(lo, hi).astype(np.float32) @ np.asarray(vector, dtype=np.float32)
        return self._span_rows.ranges(lo, hi).astype(np.int64), cosines

    def chunks(self, rows: Sequence[int]) -> list[Chunk]:
        rows = [int(r) for r in rows]
        meta = self._meta_rows.take(np.asarray(rows, dtype=np.int64)) if rows else np.zeros((0, 4), dtype=np.int32)
        texts = self.docs.chunk_texts(rows)
        doc_ids = self.docs.doc_ids(sorted({int(m[0]) for m in meta}))
        out = []
        for row, (doc_idx, start, end, ordinal) in zip(rows, meta.tolist(), strict=True):
            text, headings = texts[row]
            doc_id = doc_ids[doc_idx]
            out.append(Chunk(f"{doc_id}:{ordinal}", doc_id, start, end, text, headings))
        return out

    def document_info(self, doc_ids: Sequence[str]) -> dict[str, DocumentInfo]:
        return self.docs.document_info(doc_ids)

    def document(self, doc_id: str) -> Document | None:
        return self.docs.document(doc_id)

    def close(self) -> None:
        self.docs.close()
        for rows in (self._meta_rows, self._bounds_rows, self._span_rows, self._sentence_rows):
            rows.close()
