"""Shared batching and output checks of the embedding backends."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from qa.encoders import Progress


def finish(vectors: Any, n: int, dim: int) -> np.ndarray:
    """Check the backend's output and return it as (n, dim) float32 with unit-norm rows."""
    out = np.asarray(vectors, dtype=np.float32).reshape(n, dim)
    norms = np.linalg.norm(out, axis=1, keepdims=True)
    # All backends normalise already; renormalising only when they drift keeps the contract explicit.
    if n and not np.allclose(norms, 1.0, atol=1e-3):
        out = out / np.maximum(norms, 1e-12)
    return np.ascontiguousarray(out)


def check_batch_size(batch_size: int) -> None:
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")


class BatchedEmbedder:
    """Fixed-size batches in input order; subclasses implement _encode(texts, is_query)."""

    model_id: str
    dim: int

    def _encode(self, texts: list[str], is_query: bool) -> Any:
        raise NotImplementedError

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        texts = list(texts)
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return finish(self._encode(texts, True), len(texts), self.dim)

    def encode_passages(self, texts: Sequence[str], batch_size: int = 16,
                        progress: Progress | None = None) -> np.ndarray:
        check_batch_size(batch_size)
        texts = list(texts)
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for start in range(0, len(texts), batch_size):
            batch = texts[start:start + batch_size]
            out[start:start + len(batch)] = finish(self._encode(batch, False), len(batch), self.dim)
            if progress is not None:
                progress(len(batch))
        return out
