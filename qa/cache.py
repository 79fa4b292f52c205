"""Persistent embedding cache (sqlite) so rebuilds only embed text they have not seen with this model."""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import TracebackType

import numpy as np

from qa.encoders import Embedder
from qa.errors import IndexCorruptError

# sqlite's default limit on host parameters per statement is 999 in older builds.
_SQL_BATCH = 500

_SCHEMA = """
CREATE TABLE IF NOT EXISTS embeddings (
    model_id TEXT NOT NULL,
    key TEXT NOT NULL,
    vector BLOB NOT NULL,
    PRIMARY KEY (model_id, key)
) WITHOUT ROWID
"""


def text_key(text: str) -> str:
    """Cache key of a text: sha256 hex of its UTF-8 bytes."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class EmbeddingCache:
    """Vectors keyed by (model_id, text_key); rows of another model or width are never returned."""

    def __init__(self, path: Path, model_id: str, dim: int) -> None:
        self.path = Path(path)
        self.model_id = model_id
        self.dim = int(dim)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._db = sqlite3.connect(self.path, timeout=30)
            # WAL lets a serving process read while a rebuild writes.
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute(_SCHEMA)
            self._db.commit()
        except sqlite3.DatabaseError as exc:
            raise IndexCorruptError(f"embedding cache {self.path} is unreadable ({exc}); delete it and "
                                    "rebuild (it only saves time, nothing is lost)") from exc

    def get_many(self, keys: Sequence[str]) -> dict[str, np.ndarray]:
        found: dict[str, np.ndarray] = {}
        unique = list(dict.fromkeys(keys))
        width = self.dim * 4
        for start in range(0, len(unique), _SQL_BATCH):
            part = unique[start:start + _SQL_BATCH]
            marks = ",".join("?" * len(part))
            rows = self._db.execute(
                f"SELECT key, vector FROM embeddings WHERE model_id = ? AND key IN ({marks})",
                [self.model_id, *part])
            for key, blob in rows:
                # A row of the wrong width (a model_id reused across dims) is a miss; put_many replaces it.
                if len(blob) == width:
                    found[key] = np.frombuffer(blob, dtype=np.float32).copy()
        return found

    def put_many(self, items: Mapping[str, np.ndarray]) -> None:
        rows = []
        for key, vector in items.items():
            vec = np.asarray(vector, dtype=np.float32).reshape(-1)
            if vec.shape[0] != self.dim:
                raise ValueError(f"vector for {key} has dimension {vec.shape[0]}, cache expects {self.dim}")
            rows.append((self.model_id, key, vec.tobytes()))
        with self._db:
            self._db.executemany(
                "INSERT OR REPLACE INTO embeddings (model_id, key, vector) VALUES (?, ?, ?)", rows)

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> EmbeddingCache:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


def embed_with_cache(embedder: Embedder, texts: Sequence[str], cache: EmbeddingCache,
                     progress: Callable[[int], None] | None = None,
                     batch_size: int = 16, group_size: int = 512) -> tuple[np.ndarray, int]:
    """Vectors for texts in input order and the number of texts served from the cache.

    Only cache misses are embedded (each distinct text once), handed to the embedder group_size at a time (it
    batches them its own way, e5-torch by length) and each group is stored as soon as it is done, so an
    interrupted build keeps its progress. progress receives counts that add up to len(texts).
    """
    if batch_size < 1 or group_size < 1:
        raise ValueError(f"batch_size and group_size must be >= 1, got {batch_size} and {group_size}")
    if cache.model_id != embedder.model_id or cache.dim != embedder.dim:
        raise ValueError(f"cache is for {cache.model_id} (dim {cache.dim}), "
                         f"embedder is {embedder.model_id} (dim {embedder.dim})")
    keys = [text_key(t) for t in texts]
    vectors = cache.get_many(keys)
    hits = sum(1 for k in keys if k in vectors)
    missing = {k: t for k, t in zip(keys, texts, strict=True) if k not in vectors}
    if progress is not None and len(keys) > len(missing):
        progress(len(keys) - len(missing))
    pending = list(missing.items())
    for start in range(0, len(pending), group_size):
        group = pending[start:start + group_size]
        encoded = embedder.encode_passages([t for _, t in group], batch_size=batch_size, progress=progress)
        done = {k: encoded[i] for i, (k, _) in enumerate(group)}
        cache.put_many(done)
        vectors.update(done)
    out = np.zeros((len(keys), embedder.dim), dtype=np.float32)
    for i, key in enumerate(keys):
        out[i] = vectors[key]
    return out, hits
