"""Dense index: flat and HNSW search, exact re-scoring, persistence and corrupt files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from qa.dense import DenseIndex
from qa.errors import IndexCorruptError


def _unit_rows(n: int, dim: int = 32, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    vectors = rng.standard_normal((n, dim)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


@pytest.mark.parametrize(("threshold", "kind"), [(50_000, "flat"), (1, "hnsw")])
def test_nearest_neighbour_is_found(threshold: int, kind: str) -> None:
    vectors = _unit_rows(300)
    index = DenseIndex.build(vectors, hnsw_threshold=threshold)
    assert (index.kind, index.n_rows, index.dim) == (kind, 300, 32)
    query = vectors[123] + 0.05 * _unit_rows(1, seed=7)[0]
    hits = index.search(query, 5)
    assert hits[0][0] == 123
    scores = [s for _, s in hits]
    assert scores == sorted(scores, reverse=True)
    expected = vectors[[r for r, _ in hits]] @ query
    np.testing.assert_allclose(scores, expected, atol=1e-5)


@pytest.mark.parametrize("threshold", [50_000, 1])
def test_scores_for_are_exact_inner_products(threshold: int) -> None:
    vectors = _unit_rows(50)
    index = DenseIndex.build(vectors, hnsw_threshold=threshold)
    query = _unit_rows(1, seed=3)[0]
    rows = [40, 2, 17]
    scores = index.scores_for(query, rows)
    assert scores.dtype == np.float32
    np.testing.assert_allclose(scores, vectors[rows] @ query, atol=1e-6)
    assert index.scores_for(query, []).shape == (0,)
    with pytest.raises(IndexError):
        index.scores_for(query, [50])


@pytest.mark.parametrize("threshold", [50_000, 1])
def test_k_larger_than_rows_is_clipped(threshold: int) -> None:
    vectors = _unit_rows(4)
    index = DenseIndex.build(vectors, hnsw_threshold=threshold)
    hits = index.search(vectors[2], 10)
    assert sorted(r for r, _ in hits) == [0, 1, 2, 3]
    assert hits[0][0] == 2
    assert index.search(vectors[2], 0) == []


@pytest.mark.parametrize("threshold", [50_000, 1])
def test_save_load_round_trip(tmp_path: Path, threshold: int) -> None:
    vectors = _unit_rows(100)
    index = DenseIndex.build(vectors, hnsw_threshold=threshold)
    path = tmp_path / "sub" / "dense.faiss"
    index.save(path)
    loaded = DenseIndex.load(path)
    assert (loaded.kind, loaded.n_rows, loaded.dim) == (index.kind, 100, 32)
    assert loaded.search(vectors[9], 3) == index.search(vectors[9], 3)
    np.testing.assert_allclose(loaded.scores_for(vectors[9], [9, 1]), index.scores_for(vectors[9], [9, 1]))


def test_missing_or_corrupt_file_is_index_corrupt_error(tmp_path: Path) -> None:
    missing = tmp_path / "nope.faiss"
    with pytest.raises(IndexCorruptError, match=r"nope\.faiss"):
        DenseIndex.load(missing)
    corrupt = tmp_path / "dense.faiss"
    corrupt.write_bytes(b"this is not a faiss index")
    with pytest.raises(IndexCorruptError, match=r"dense\.faiss"):
        DenseIndex.load(corrupt)
    truncated = tmp_path / "truncated.faiss"
    DenseIndex.build(_unit_rows(20)).save(truncated)
    truncated.write_bytes(truncated.read_bytes()[:100])
    with pytest.raises(IndexCorruptError, match=r"truncated\.faiss"):
        DenseIndex.load(truncated)


@pytest.mark.parametrize(("vectors", "message"), [
    (np.zeros((0, 8), dtype=np.float32), "at least one row"),
    (np.zeros(8, dtype=np.float32), "2-D"),
    (np.zeros((3, 8), dtype=np.float64), "float32"),
    ([[0.0, 1.0]], "2-D"),
])
def test_build_rejects_bad_input(vectors: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        DenseIndex.build(vectors)  # type: ignore[arg-type]


def test_query_of_wrong_dimension_is_rejected() -> None:
    index = DenseIndex.build(_unit_rows(5))
    with pytest.raises(ValueError, match="dimension"):
        index.search(np.ones(7, dtype=np.float32), 1)
