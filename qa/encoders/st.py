"""A sentence-transformers model from a local directory or the (local) Hugging Face cache."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from qa.encoders.batching import BatchedEmbedder
from qa.errors import ModelLoadError


class STEmbedder(BatchedEmbedder):
    def __init__(self, name_or_path: str) -> None:
        path = Path(name_or_path).expanduser()
        looks_like_path = name_or_path.startswith((".", "/", "~")) or path.exists()
        if looks_like_path and not path.is_dir():
            raise ModelLoadError("no such model directory")
        target = str(path.resolve()) if looks_like_path else name_or_path
        # Imported here so torch is only loaded when an st: model is actually requested.
        from sentence_transformers import SentenceTransformer

        self._model = SentenceTransformer(target, device="cpu")
        # Renamed in sentence-transformers 6; the old name still exists (deprecated) in earlier releases.
        get_dim = getattr(self._model, "get_embedding_dimension", None) or \
            self._model.get_sentence_embedding_dimension
        dim = get_dim()
        if not dim:
            raise ModelLoadError("model reports no embedding dimension")
        self.dim = int(dim)
        self.model_id = f"st:{target}"

    def _encode(self, texts: list[str], is_query: bool) -> Any:
        return self._model.encode(texts, batch_size=len(texts), normalize_embeddings=True,
                                  convert_to_numpy=True, show_progress_bar=False)
