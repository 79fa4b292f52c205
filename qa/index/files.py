"""A finished build opened for reading: the one module that knows its files, for every reader of a build.

The local backend answers questions from it; the Milvus publisher streams it into collections. Loading maps files
and opens SQLite, it parses nothing large; scattered per-question reads go through pread (see qa.index.npyrows).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from qa.corpus import Document
from qa.errors import IndexCorruptError
from qa.index import directory, layout
from qa.index.dense import DenseIndex
from qa.index.docstore import DocStore
from qa.index.manifest import Manifest
from qa.index.npyrows import NpyRows
from qa.index.sparse import SparseIndex


@dataclass(frozen=True)
class ChunkRecord:
    """One chunk as stored: its row, document, offsets, text, headings, vector and BM25 weights."""

    row: int
    doc_idx: int
    doc_id: str
    start: int
    end: int
    ordinal: int
    text: str
    headings: tuple[str, ...]
    vector: np.ndarray
    bm25: dict[int, float]  # vocabulary id -> BM25 weight of the term in this chunk
    sentences: int  # how many sentences the chunk has


@dataclass(frozen=True)
class SentenceRecord:
    index: int
    row: int  # the chunk it belongs to
    start: int
    end: int
    vector: np.ndarray


class BuildFiles:
    """The files of one build directory, checked against each other at open."""

    def __init__(self, path: Path, manifest: Manifest) -> None:
        self.path = path
        self.manifest = manifest
        ann = path / layout.ANN if manifest.dense.kind == "ivf" else None
        self.dense = DenseIndex.load(path / layout.CHUNK_VECTORS, ann, nprobe=manifest.nprobe)
        self.sparse = SparseIndex.load(path / layout.SPARSE)
        self.docs = DocStore(path / layout.DOCS)
        self.meta = NpyRows(path / layout.CHUNK_META)  # int32 (n, 4): document idx, start, end, ordinal
        self.bounds = NpyRows(path / layout.SENTENCE_BOUNDS)  # int64 (n + 1)
        self.spans = NpyRows(path / layout.SENTENCE_SPANS)  # int32 (m, 2)
        self.sentence_vectors = NpyRows(path / layout.SENTENCE_VECTORS)  # float16 or float32 (m, dim)
        try:
            self._check_shapes()
        except IndexCorruptError:
            self.close()
            raise

    @classmethod
    def open(cls, path: Path, verify: bool = True) -> BuildFiles:
        """A build directory with its manifest read (and every file's size and checksum verified)."""
        manifest = directory.read_manifest(path)
        if verify:
            directory.verify_files(path, manifest)
        return cls(path, manifest)

    @property
    def n_chunks(self) -> int:
        return self.dense.n_rows

    @property
    def n_sentences(self) -> int:
        return len(self.spans)

    def _check_shapes(self) -> None:
        n, m = self.dense.n_rows, len(self.spans)
        problems = []
        if self.meta.shape != (n, 4):
            problems.append(f"chunk_meta has shape {self.meta.shape}, expected ({n}, 4)")
        if self.sparse.n_rows != n:
            problems.append(f"the BM25 index has {self.sparse.n_rows} rows, the vectors {n}")
        last = self.bounds.take(np.array([n])) if len(self.bounds) == n + 1 else None
        if self.bounds.shape != (n + 1,) or last is None or int(last[0]) != m:
            problems.append("sentence_bounds does not match the chunks and sentences")
        if self.sentence_vectors.shape != (m, self.dense.dim):
            problems.append(f"sentence_vectors has shape {self.sentence_vectors.shape}, expected ({m}, "
                            f"{self.dense.dim})")
        if problems:
            raise IndexCorruptError(f"index in {self.path} is inconsistent: {'; '.join(problems)}; "
                                    f"{layout.REBUILD_HINT}")

    def sentence_range(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """First and end sentence index of each chunk row."""
        bounds = self.bounds.ranges(rows, rows + 2).reshape(-1, 2)
        return bounds[:, 0], bounds[:, 1]

    def chunk_records(self, batch: int) -> Iterator[list[ChunkRecord]]:
        """Every chunk in row order, batch rows at a time (texts, vectors and weights read per batch)."""
        weights = self.sparse.row_weights()
        doc_ids = self.docs.doc_ids(range(self.docs.n_documents()))
        for lo in range(0, self.n_chunks, batch):
            hi = min(self.n_chunks, lo + batch)
            meta = self.meta.ranges(np.array([lo]), np.array([hi])).tolist()
            vectors = self.dense.vectors(lo, hi)
            texts = self.docs.chunk_texts(range(lo, hi))
            counts = np.diff(self.bounds.ranges(np.array([lo]), np.array([hi + 1]))).tolist()
            yield [ChunkRecord(row, d, doc_ids[d], s, e, o, *texts[row], np.asarray(vectors[row - lo]),
                               _row_weights(weights, row), counts[row - lo])
                   for row, (d, s, e, o) in zip(range(lo, hi), meta, strict=True)]

    def sentence_records(self, batch: int) -> Iterator[list[SentenceRecord]]:
        """Every sentence in order with the chunk row it belongs to, batch sentences at a time."""
        bounds = self.bounds.ranges(np.array([0]), np.array([self.n_chunks + 1]))
        owners = np.repeat(np.arange(self.n_chunks), np.diff(bounds))
        for lo in range(0, self.n_sentences, batch):
            hi = min(self.n_sentences, lo + batch)
            spans = self.spans.ranges(np.array([lo]), np.array([hi])).tolist()
            vectors = self.sentence_vectors.ranges(np.array([lo]), np.array([hi])).astype(np.float32)
            yield [SentenceRecord(i, int(owners[i]), s, e, vectors[i - lo])
                   for i, (s, e) in zip(range(lo, hi), spans, strict=True)]

    def documents(self) -> Iterator[tuple[int, Document]]:
        """(idx, document) of every document, in idx order."""
        return self.docs.iter_documents()

    def close(self) -> None:
        self.docs.close()
        for rows in (self.meta, self.bounds, self.spans, self.sentence_vectors):
            rows.close()
        self.dense.close()
        self.sparse.close()


def _row_weights(matrix: Any, row: int) -> dict[int, float]:
    lo, hi = matrix.indptr[row], matrix.indptr[row + 1]
    return {int(t): float(w) for t, w in zip(matrix.indices[lo:hi], matrix.data[lo:hi], strict=True) if w}
