"""Row reads by pread from .npy files equal numpy's own reads; damaged files are refused."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from qa.errors import IndexCorruptError
from qa.index.npyrows import NpyRows


@pytest.mark.parametrize("array", [
    np.arange(60, dtype=np.float16).reshape(20, 3),
    np.arange(80, dtype=np.int32).reshape(20, 4),
    np.arange(21, dtype=np.int64),
])
def test_rows_and_ranges_match_numpy(tmp_path: Path, array: np.ndarray) -> None:
    np.save(tmp_path / "a.npy", array)
    rows = NpyRows(tmp_path / "a.npy")
    assert len(rows) == len(array)
    np.testing.assert_array_equal(rows.take(np.array([7, 0, 19, 7])), array[[7, 0, 19, 7]])
    got = rows.ranges(np.array([3, 10, 5]), np.array([6, 10, 7]))
    np.testing.assert_array_equal(got, np.concatenate([array[3:6], array[10:10], array[5:7]]))
    assert rows.take(np.array([], dtype=np.int64)).shape == (0, *array.shape[1:])
    with pytest.raises(IndexError):
        rows.take(np.array([len(array)]))
    rows.close()


def test_truncated_or_foreign_files_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "a.npy"
    np.save(path, np.ones((100, 8), dtype=np.float32))
    path.write_bytes(path.read_bytes()[:-40])
    with pytest.raises(IndexCorruptError, match="truncated"):
        NpyRows(path)
    path.write_bytes(b"not an npy file at all")
    with pytest.raises(IndexCorruptError, match="unreadable"):
        NpyRows(path)
    np.save(path, np.ones((2, 2, 2), dtype=np.float32))
    with pytest.raises(IndexCorruptError, match="1-D or 2-D"):
        NpyRows(path)
