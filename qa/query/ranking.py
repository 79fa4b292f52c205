"""Hybrid ranking: fuse dense, sentence-level dense and BM25 evidence for the union of both candidate lists."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from qa.fitted.records import RankingParams

__all__ = ["Features", "RankingParams", "fuse", "term_coverage"]


@dataclass(frozen=True)
class Features:
    """Per-candidate evidence, each array aligned with `rows`."""

    rows: np.ndarray
    dense: np.ndarray
    sentence: np.ndarray
    coverage: np.ndarray
    bm25: np.ndarray


def fuse(features: Features, params: RankingParams) -> np.ndarray:
    """One score per candidate. Cosines and coverage are absolute, so a weak signal stays weak after fusion."""
    if not features.rows.size:
        return np.zeros(0, dtype=np.float32)
    top = float(features.bm25.max())
    bm25 = features.bm25 / top if top > 0 else np.zeros_like(features.bm25)
    trust = float(features.coverage.max()) ** params.trust_exponent
    return (params.w_dense * features.dense + params.w_sentence * features.sentence
            + trust * (params.w_coverage * features.coverage + params.w_bm25 * bm25))


def term_coverage(query_weights: dict[str, float], presence: np.ndarray) -> np.ndarray:
    """Share of the query's IDF mass whose terms occur in each chunk (0 when the query has no known term).

    presence is a bool matrix (chunks, terms) with the terms in the order of query_weights.
    """
    weights = np.asarray(list(query_weights.values()), dtype=np.float64)
    total = weights.sum()
    if total <= 0 or not presence.size:
        return np.zeros(presence.shape[0], dtype=np.float32)
    return (presence.astype(np.float64) @ weights / total).astype(np.float32)
