"""Dense index: exact and IVF search over memory-mapped vectors, exact re-scoring, corrupt files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from qa.errors import IndexCorruptError
from qa.index.dense import DenseIndex, build_ivf, ivf_lists


def _unit_rows(n: int, dim: int = 32, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    vectors = rng.standard_normal((n, dim)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def _index(tmp_path: Path, vectors: np.ndarray, kind: str) -> DenseIndex:
    np.save(tmp_path / "vectors.npy", vectors)
    if kind == "exact":
        return DenseIndex.load(tmp_path / "vectors.npy")
    build_ivf(vectors, tmp_path / "dense.faiss", nlist=4)
    # probing every list makes IVF exhaustive, so its results must equal exact search
    return DenseIndex.load(tmp_path / "vectors.npy", tmp_path / "dense.faiss", nprobe=4)


@pytest.mark.parametrize("kind", ["exact", "ivf"])
def test_nearest_neighbour_is_found(tmp_path: Path, kind: str) -> None:
    vectors = _unit_rows(300)
    index = _index(tmp_path, vectors, kind)
    assert (index.kind, index.n_rows, index.dim) == (kind, 300, 32)
    query = vectors[123] + 0.05 * _unit_rows(1, seed=7)[0]
    hits = index.search(query, 5)
    assert hits[0][0] == 123
    scores = [s for _, s in hits]
    assert scores == sorted(scores, reverse=True)
    np.testing.assert_allclose(scores, vectors[[r for r, _ in hits]] @ query, atol=1e-5)
    assert [r for r, _ in hits] == [r for r, _ in index.search(query, 5, exact=True)]


@pytest.mark.parametrize("kind", ["exact", "ivf"])
def test_scores_for_are_exact_inner_products(tmp_path: Path, kind: str) -> None:
    vectors = _unit_rows(200)
    index = _index(tmp_path, vectors, kind)
    query = _unit_rows(1, seed=3)[0]
    rows = [40, 2, 17]
    scores = index.scores_for(query, rows)
    assert scores.dtype == np.float32
    np.testing.assert_allclose(scores, vectors[rows] @ query, atol=1e-6)
    assert index.scores_for(query, []).shape == (0,)
    with pytest.raises(IndexError):
        index.scores_for(query, [200])


def test_k_larger_than_rows_is_clipped(tmp_path: Path) -> None:
    vectors = _unit_rows(4)
    index = _index(tmp_path, vectors, "exact")
    hits = index.search(vectors[2], 10)
    assert sorted(r for r, _ in hits) == [0, 1, 2, 3]
    assert hits[0][0] == 2
    assert index.search(vectors[2], 0) == []


def test_ivf_lists_grow_with_the_square_root() -> None:
    assert ivf_lists(100) == 40 and ivf_lists(1_000_000) == 4000 and ivf_lists(1) == 16


def test_missing_or_corrupt_files_are_index_corrupt_errors(tmp_path: Path) -> None:
    with pytest.raises(IndexCorruptError, match=r"nope\.npy"):
        DenseIndex.load(tmp_path / "nope.npy")
    np.save(tmp_path / "vectors.npy", _unit_rows(20))
    corrupt = tmp_path / "dense.faiss"
    corrupt.write_bytes(b"this is not a faiss index")
    with pytest.raises(IndexCorruptError, match=r"dense\.faiss"):
        DenseIndex.load(tmp_path / "vectors.npy", corrupt)
    build_ivf(_unit_rows(30), corrupt, nlist=2)  # an IVF index of other vectors than the vector file
    with pytest.raises(IndexCorruptError, match="rebuild"):
        DenseIndex.load(tmp_path / "vectors.npy", corrupt)


@pytest.mark.parametrize(("vectors", "message"), [
    (np.zeros((0, 8), dtype=np.float32), "at least one row"),
    (np.zeros(8, dtype=np.float32), "2-D"),
    (np.zeros((3, 8), dtype=np.float64), "float32"),
])
def test_bad_vector_files_are_rejected(tmp_path: Path, vectors: np.ndarray, message: str) -> None:
    np.save(tmp_path / "v.npy", vectors)
    with pytest.raises(ValueError, match=message):
        DenseIndex.load(tmp_path / "v.npy")


def test_query_of_wrong_dimension_is_rejected(tmp_path: Path) -> None:
    index = _index(tmp_path, _unit_rows(5), "exact")
    with pytest.raises(ValueError, match="dimension"):
        index.search(np.ones(7, dtype=np.float32), 1)
