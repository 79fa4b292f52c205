"""Dense search over memory-mapped unit vectors: exact below a size threshold, a FAISS IVF index above it."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import faiss
import numpy as np

from qa.errors import IndexCorruptError
from qa.index.layout import REBUILD_HINT
from qa.index.npyrows import NpyRows

# Training needs ~40 points per list; more only slows the build.
_TRAIN_POINTS_PER_LIST = 40
_ADD_BATCH = 65_536


def _check_matrix(vectors: np.ndarray, what: str) -> np.ndarray:
    if not isinstance(vectors, np.ndarray) or vectors.ndim != 2:
        raise ValueError(f"{what} must be a 2-D numpy array, got {type(vectors).__name__} "
                         f"with shape {getattr(vectors, 'shape', None)}")
    if vectors.dtype != np.float32:
        raise ValueError(f"{what} must be float32, got {vectors.dtype}")
    if vectors.shape[0] < 1 or vectors.shape[1] < 1:
        raise ValueError(f"{what} must have at least one row and one column, got shape {vectors.shape}")
    return vectors


def ivf_lists(n_rows: int) -> int:
    """Number of IVF lists for n rows: about 4·√n, so a probe reads a small, bounded share of the vectors."""
    return int(min(65_536, max(16, 4 * np.sqrt(n_rows))))


def build_ivf(vectors: np.ndarray, path: Path, nlist: int, seed: int = 0) -> None:
    """Train an IVF-Flat index (inner product) on a sample of vectors, add all rows in batches, write it to path."""
    vectors = _check_matrix(vectors, "vectors")
    n, dim = vectors.shape
    rng = np.random.default_rng(seed)
    sample = np.sort(rng.choice(n, size=min(n, nlist * _TRAIN_POINTS_PER_LIST), replace=False))
    index = faiss.IndexIVFFlat(faiss.IndexFlatIP(dim), dim, nlist, faiss.METRIC_INNER_PRODUCT)
    index.train(np.ascontiguousarray(vectors[sample]))
    for start in range(0, n, _ADD_BATCH):
        index.add(np.ascontiguousarray(vectors[start:start + _ADD_BATCH]))
    faiss.write_index(index, str(path))


class DenseIndex:
    """Rows are chunk positions. Vectors stay memory-mapped, so forked workers share their pages."""

    def __init__(self, vectors: np.ndarray, ann: faiss.Index | None = None, nprobe: int = 32,
                 rows: NpyRows | None = None) -> None:
        self._vectors = vectors
        self._rows = rows  # scattered rows for exact re-scoring, read without mapping them
        self._ann = ann
        if ann is not None:
            if ann.ntotal != len(vectors) or ann.d != vectors.shape[1]:
                raise IndexCorruptError(f"the ANN index holds {ann.ntotal}×{ann.d} vectors, the vector file "
                                        f"{vectors.shape[0]}×{vectors.shape[1]}; {REBUILD_HINT}")
            faiss.extract_index_ivf(ann).nprobe = nprobe

    @classmethod
    def load(cls, vectors_path: Path, ann_path: Path | None = None, nprobe: int = 32) -> DenseIndex:
        try:
            vectors = np.load(vectors_path, mmap_mode="r")
        except (OSError, ValueError) as exc:
            raise IndexCorruptError(f"dense vectors {vectors_path} are unreadable ({exc}); "
                                    f"{REBUILD_HINT}") from exc
        ann = None
        if ann_path is not None:
            try:
                # IO_FLAG_MMAP maps the inverted lists instead of reading them: workers share the pages.
                ann = faiss.read_index(str(ann_path), faiss.IO_FLAG_MMAP | faiss.IO_FLAG_READ_ONLY)
            except RuntimeError as exc:  # faiss reports every read/format failure as RuntimeError
                raise IndexCorruptError(f"ANN index {ann_path} is unreadable ({exc}); "
                                        f"{REBUILD_HINT}") from exc
        return cls(_check_matrix(vectors, "dense vectors"), ann, nprobe, NpyRows(vectors_path))

    @property
    def n_rows(self) -> int:
        return int(self._vectors.shape[0])

    @property
    def dim(self) -> int:
        return int(self._vectors.shape[1])

    @property
    def kind(self) -> str:
        return "exact" if self._ann is None else "ivf"

    def _query_row(self, query: np.ndarray) -> np.ndarray:
        q = np.asarray(query, dtype=np.float32).reshape(1, -1)
        if q.shape[1] != self.dim:
            raise ValueError(f"query has dimension {q.shape[1]}, index has {self.dim}")
        return np.ascontiguousarray(q)

    def search(self, query: np.ndarray, k: int, exact: bool = False) -> list[tuple[int, float]]:
        """Top-k rows by descending inner product (k is clipped to the number of rows)."""
        k = min(int(k), self.n_rows)
        if k < 1:
            return []
        q = self._query_row(query)
        if self._ann is None or exact:
            scores = np.asarray(self._vectors @ q[0], dtype=np.float32)
            top = np.argpartition(-scores, k - 1)[:k]
            top = top[np.argsort(-scores[top], kind="stable")]
            return [(int(i), float(scores[i])) for i in top]
        scores_ann, ids = self._ann.search(q, k)
        # IVF returns fewer than k results, padded with id -1, when the probed lists hold fewer rows.
        return [(int(i), float(s)) for i, s in zip(ids[0], scores_ann[0], strict=True) if i >= 0]

    def vectors(self, lo: int, hi: int) -> np.ndarray:
        """Rows lo..hi-1 in order (a sequential scan, e.g. to publish the build elsewhere)."""
        return np.asarray(self._vectors[lo:hi], dtype=np.float32)

    def close(self) -> None:
        """Let go of the files: the pread descriptor now, the maps with the last reference to them (nothing else
        holds one, so CPython unmaps them here, not at some later garbage collection)."""
        if self._rows is not None:
            self._rows.close()
        self._vectors = np.zeros((0, self.dim), dtype=np.float32)
        self._ann = None

    def scores_for(self, query: np.ndarray, rows: Sequence[int] | np.ndarray) -> np.ndarray:
        """Exact inner products between the query and the given rows, in the given order."""
        idx = np.asarray(rows, dtype=np.int64)
        if idx.size == 0:
            return np.zeros(0, dtype=np.float32)
        if idx.min() < 0 or idx.max() >= self.n_rows:
            raise IndexError(f"row out of range 0..{self.n_rows - 1}: {rows!r}")
        vectors = self._rows.take(idx) if self._rows is not None else self._vectors[idx]
        return np.asarray(vectors @ self._query_row(query)[0], dtype=np.float32)
