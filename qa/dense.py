"""Dense vector index over chunk embeddings (FAISS, inner product on unit vectors)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import faiss
import numpy as np

from qa.errors import IndexCorruptError

HNSW_EF_SEARCH = 128
HNSW_EF_CONSTRUCTION = 200


def _check_matrix(vectors: np.ndarray, what: str) -> np.ndarray:
    if not isinstance(vectors, np.ndarray) or vectors.ndim != 2:
        raise ValueError(f"{what} must be a 2-D numpy array, got {type(vectors).__name__} "
                         f"with shape {getattr(vectors, 'shape', None)}")
    if vectors.dtype != np.float32:
        raise ValueError(f"{what} must be float32, got {vectors.dtype}")
    if vectors.shape[0] < 1 or vectors.shape[1] < 1:
        raise ValueError(f"{what} must have at least one row and one column, got shape {vectors.shape}")
    return np.ascontiguousarray(vectors)


class DenseIndex:
    """Exact flat search for small corpora, HNSW above a row threshold; rows are chunk positions."""

    def __init__(self, index: faiss.Index) -> None:
        self._index = index
        # A copy of the stored vectors makes scores_for exact and cheap for both index kinds.
        self._vectors = index.reconstruct_n(0, index.ntotal) if index.ntotal else None

    @classmethod
    def build(cls, vectors: np.ndarray, hnsw_threshold: int = 50_000, hnsw_m: int = 32) -> DenseIndex:
        vectors = _check_matrix(vectors, "vectors")
        n, dim = vectors.shape
        if n < hnsw_threshold:
            index: faiss.Index = faiss.IndexFlatIP(dim)
        else:
            index = faiss.IndexHNSWFlat(dim, hnsw_m, faiss.METRIC_INNER_PRODUCT)
            index.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
            index.hnsw.efSearch = HNSW_EF_SEARCH
        index.add(vectors)
        return cls(index)

    @property
    def n_rows(self) -> int:
        return int(self._index.ntotal)

    @property
    def dim(self) -> int:
        return int(self._index.d)

    @property
    def kind(self) -> str:
        return "hnsw" if isinstance(self._index, faiss.IndexHNSW) else "flat"

    def _query_row(self, query: np.ndarray) -> np.ndarray:
        q = np.asarray(query, dtype=np.float32).reshape(1, -1)
        if q.shape[1] != self.dim:
            raise ValueError(f"query has dimension {q.shape[1]}, index has {self.dim}")
        return np.ascontiguousarray(q)

    def search(self, query: np.ndarray, k: int) -> list[tuple[int, float]]:
        """Top-k rows by descending inner product (k is clipped to the number of rows)."""
        k = min(int(k), self.n_rows)
        if k < 1:
            return []
        scores, ids = self._index.search(self._query_row(query), k)
        # HNSW may return fewer than k results, padded with id -1.
        return [(int(i), float(s)) for i, s in zip(ids[0], scores[0], strict=True) if i >= 0]

    def scores_for(self, query: np.ndarray, rows: Sequence[int]) -> np.ndarray:
        """Exact inner products between the query and the given rows, in the given order."""
        idx = np.asarray(rows, dtype=np.int64)
        if idx.size == 0:
            return np.zeros(0, dtype=np.float32)
        if idx.min() < 0 or idx.max() >= self.n_rows:
            raise IndexError(f"row out of range 0..{self.n_rows - 1}: {rows!r}")
        assert self._vectors is not None
        return (self._vectors[idx] @ self._query_row(query)[0]).astype(np.float32)

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        faiss.write_index(self._index, str(path))

    @classmethod
    def load(cls, path: Path) -> DenseIndex:
        if not path.is_file():
            raise IndexCorruptError(f"dense index file {path} is missing; rebuild it with `qa index`")
        try:
            index = faiss.read_index(str(path))
        except RuntimeError as exc:  # faiss reports every read/format failure as RuntimeError
            raise IndexCorruptError(f"dense index file {path} is unreadable ({exc}); "
                                    "rebuild it with `qa index`") from exc
        return cls(index)
