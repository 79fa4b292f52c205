"""Random row reads from a 1-D or 2-D .npy file with pread, so a lookup maps nothing and reads only the rows asked for.

Gathering scattered rows through a memory map makes the kernel map (and read ahead) whole large folios around each
row: on a 1M-chunk index, 20 questions mapped 0.9 GB of vectors into each worker. pread with POSIX_FADV_RANDOM
reads the few kilobytes a question needs into the page cache, which every worker shares.
"""

from __future__ import annotations

import os
import weakref
from pathlib import Path

import numpy as np

from qa.errors import IndexCorruptError
from qa.index.layout import REBUILD_HINT


class NpyRows:
    def __init__(self, path: Path) -> None:
        try:
            with open(path, "rb") as handle:
                version = np.lib.format.read_magic(handle)
                read_header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                               else np.lib.format.read_array_header_2_0)
                shape, fortran, dtype = read_header(handle)
                self.offset = handle.tell()
        except (OSError, ValueError) as exc:
            raise IndexCorruptError(f"{path} is unreadable ({exc}); {REBUILD_HINT}") from exc
        if len(shape) not in (1, 2) or fortran:
            raise IndexCorruptError(f"{path} is not a 1-D or 2-D row-major array; {REBUILD_HINT}")
        self.path, self.shape, self.dtype = path, shape, np.dtype(dtype)
        self.row_bytes = self.dtype.itemsize * (shape[1] if len(shape) == 2 else 1)
        if os.path.getsize(path) < self.offset + self.row_bytes * shape[0]:
            raise IndexCorruptError(f"{path} is truncated; {REBUILD_HINT}")
        self._fd = os.open(path, os.O_RDONLY)
        os.posix_fadvise(self._fd, 0, 0, os.POSIX_FADV_RANDOM)  # no read-ahead around scattered rows
        # A swapped-out build is dropped, not closed, while requests may still hold it: close with the object.
        self._closer = weakref.finalize(self, os.close, self._fd)

    def __len__(self) -> int:
        return int(self.shape[0])

    def ranges(self, starts: np.ndarray, stops: np.ndarray) -> np.ndarray:
        """Rows starts[i]:stops[i] of every range, concatenated in order (one pread per range)."""
        counts = np.asarray(stops, dtype=np.int64) - np.asarray(starts, dtype=np.int64)
        out = np.empty((int(counts.sum()), *self.shape[1:]), dtype=self.dtype)
        flat = out.reshape(-1).view(np.uint8)
        at = 0
        for start, count in zip(np.asarray(starts).tolist(), counts.tolist(), strict=True):
            if count <= 0:
                continue
            size = count * self.row_bytes
            data = os.pread(self._fd, size, self.offset + start * self.row_bytes)
            if len(data) != size:
                raise IndexCorruptError(f"{self.path} ended early; {REBUILD_HINT}")
            flat[at:at + size] = np.frombuffer(data, dtype=np.uint8)
            at += size
        return out

    def take(self, rows: np.ndarray) -> np.ndarray:
        """The given rows, in the given order."""
        rows = np.asarray(rows, dtype=np.int64)
        if rows.size and (rows.min() < 0 or rows.max() >= len(self)):
            raise IndexError(f"row out of range 0..{len(self) - 1}")
        return self.ranges(rows, rows + 1)

    def close(self) -> None:
        self._closer()
