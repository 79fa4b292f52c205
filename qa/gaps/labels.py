"""Name each cluster by its jieba terms: those its questions share that the other unmet questions rarely use."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence

from qa.tokens import tokenize

LABEL_TERMS = 3


def label_terms(clusters: Sequence[Sequence[tuple[str, int]]], top: int = LABEL_TERMS) -> list[list[str]]:
    """For each cluster of (wording, times asked), up to `top` terms by class TF-IDF: the share of the cluster's
    questions holding the term times log(1 + questions / questions holding it) over all the clusters given. A term
    inside a better one already chosen (数字 in 数字钱包: jieba's search mode gives both) is left out."""
    tokens: dict[str, set[str]] = {}
    held: Counter[str] = Counter()
    total = 0
    for members in clusters:
        for text, count in members:
            terms = tokens.setdefault(text, set(tokenize(text)))
            held.update(dict.fromkeys(terms, count))
            total += count
    out = []
    for members in clusters:
        size = sum(count for _, count in members)
        share: Counter[str] = Counter()
        for text, count in members:
            share.update(dict.fromkeys(tokens[text], count))
        scored = sorted(share, key=lambda t: (-share[t] / size * math.log(1 + total / held[t]), -len(t), t))
        out.append(_distinct(scored, top))
    return out


def _distinct(terms: list[str], top: int) -> list[str]:
    chosen: list[str] = []
    for term in terms:
        if not any(term in c or c in term for c in chosen):
            chosen.append(term)
        if len(chosen) == top:
            break
    return chosen
