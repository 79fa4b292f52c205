"""Standardised linear weights (features, mean, scale, coef) read from a JSON file shipped in the package."""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources
from typing import Any

import numpy as np

from qa.errors import QAError


@dataclass(frozen=True)
class Weights:
    """coef . (x - mean) / scale over the named features, as fitted by one of the tools/fit_*.py scripts."""

    features: tuple[str, ...]
    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray
    raw: dict[str, Any]  # the whole file, for what a model keeps beside its weights (intercept, threshold)

    def margin(self, x: np.ndarray) -> np.ndarray:
        return np.asarray(((x - self.mean) / self.scale) @ self.coef, dtype=np.float64)


def read_weights(file: str, what: str, refit: str) -> Weights:
    """The weights in qa/<file>; a missing, malformed or inconsistent file fails with how to remake it."""
    try:
        raw = json.loads(resources.files("qa.query").joinpath(file).read_text(encoding="utf-8"))
        mean, scale, coef = (np.asarray(raw[k], dtype=np.float64) for k in ("mean", "scale", "coef"))
        weights = Weights(tuple(raw["features"]), mean, scale, coef, raw=raw)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise QAError(f"cannot read the {what} qa/query/{file} ({exc}); {refit}") from None
    if not len(weights.features) == len(weights.mean) == len(weights.scale) == len(weights.coef):
        raise QAError(f"qa/query/{file}: features, mean, scale and coef differ in length; {refit}")
    return weights
