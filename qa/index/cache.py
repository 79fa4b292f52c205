"""Persistent embedding cache (sqlite) so rebuilds only embed text they have not seen with this model."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import TracebackType

import numpy as np

from qa.cachedb import open_cache
from qa.encoders import Embedder

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
        self._db = open_cache(self.path, _SCHEMA, "embedding cache")

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

    def has_many(self, keys: Sequence[str]) -> set[str]:
        """The keys that have a vector of this model and width (nothing is read but the keys)."""
        found: set[str] = set()
        unique = list(dict.fromkeys(keys))
        for start in range(0, len(unique), _SQL_BATCH):
            part = unique[start:start + _SQL_BATCH]
            marks = ",".join("?" * len(part))
            rows = self._db.execute(
                f"SELECT key FROM embeddings WHERE model_id = ? AND length(vector) = ? AND key IN ({marks})",
                [self.model_id, self.dim * 4, *part])
            found.update(key for (key,) in rows)
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


class CachedEncoder:
    """Encodes passages through the cache: each call's misses are embedded (each distinct text once), handed to
    the embedder group_size at a time (it batches them its own way, e5-torch by length) and each group is stored
    as soon as it is done, so an interrupted build keeps its progress."""

    def __init__(self, embedder: Embedder, cache: EmbeddingCache, batch_size: int = 16,
                 group_size: int = 512, prepare: Callable[[str], str] | None = None,
                 prepare_version: str = "", queries: bool = False) -> None:
        if batch_size < 1 or group_size < 1:
            raise ValueError(f"batch_size and group_size must be >= 1, got {batch_size} and {group_size}")
        if cache.model_id != embedder.model_id or cache.dim != embedder.dim:
            raise ValueError(f"cache is for {cache.model_id} (dim {cache.dim}), "
                             f"embedder is {embedder.model_id} (dim {embedder.dim})")
        if prepare is not None and not prepare_version:
            raise ValueError("a prepare function needs its prepare_version: the cache keys vectors by it")
        self.embedder = embedder
        self.cache = cache
        self.batch_size = batch_size
        self.group_size = group_size
        # Texts are keyed as given and prepared (normalised) only when they must be embedded: a build then
        # normalises each new text once, and cached ones never.
        self.prepare = prepare or (lambda text: text)
        # ... and the key holds what prepare does (the normaliser's and OpenCC's versions for passage_text), so
        # a change of either re-embeds instead of reusing vectors of the old normalisation.
        self._salt = f"{prepare_version}\x00" if prepare_version else ""
        # queries=True: questions, encoded as queries (e5's "query: " prefix), keyed apart from passages
        self.queries = queries
        if queries:
            self._salt = "query\x00" + self._salt

    def key(self, text: str) -> str:
        """The cache key of a text as given: its hash with the preparation's version."""
        return text_key(self._salt + text)

    def encode(self, texts: Sequence[str], progress: Callable[[int], None] | None = None) -> tuple[np.ndarray, int]:
        """Vectors for texts in input order and how many came from the cache; progress gets counts adding up
        to len(texts)."""
        keys = [self.key(t) for t in texts]
        vectors = self.cache.get_many(keys)
        hits = sum(1 for k in keys if k in vectors)
        missing = list({k: t for k, t in zip(keys, texts, strict=True) if k not in vectors}.items())
        if progress is not None and len(keys) > len(missing):  # cache hits and repeats of a text in this call
            progress(len(keys) - len(missing))
        for start in range(0, len(missing), self.group_size):
            group = missing[start:start + self.group_size]
            encoded = self._embed([self.prepare(t) for _, t in group], progress)
            done = {k: encoded[i] for i, (k, _) in enumerate(group)}
            self.cache.put_many(done)
            vectors.update(done)
        out = np.zeros((len(keys), self.embedder.dim), dtype=np.float32)
        for i, key in enumerate(keys):
            out[i] = vectors[key]
        return out, hits

    def _embed(self, texts: list[str], progress: Callable[[int], None] | None) -> np.ndarray:
        if not self.queries:
            return self.embedder.encode_passages(texts, batch_size=self.batch_size, progress=progress)
        encoded = self.embedder.encode_queries(texts)
        if progress is not None:
            progress(len(texts))
        return encoded
