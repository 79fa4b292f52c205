"""Name each cluster by jieba terms: words most of its questions share, rare in the other clusters and in Chinese."""

from __future__ import annotations

import functools
import math
from collections import Counter
from collections.abc import Callable, Sequence

from qa.tokens import tokenize

LABEL_TERMS = 3
MIN_SHARE = 0.5  # a term in fewer of the cluster's questions (weighted) only fills up the label


def label_terms(clusters: Sequence[Sequence[tuple[str, int]]], top: int = LABEL_TERMS) -> list[list[str]]:
    """For each cluster of (wording, times asked), up to `top` terms, best first.

    A term scores share × local IDF × general IDF: the weighted share of the cluster's questions holding it;
    log((questions + 1) / (questions holding it + 0.5)) over all the clusters given, so what every cluster says (钱包
    in a wallet service) does not name one; and jieba's IDF table, learned from a large general corpus, capped at its
    median and scaled to 1, so everyday words (之后, 不是, 现在) do not either. Terms held by at least half of the
    cluster and of two or more characters come first; a term inside one already chosen (数字 in 数字钱包: jieba's
    search mode gives both) is left out."""
    if not clusters:
        return []
    tokens: dict[str, set[str]] = {}
    held: Counter[str] = Counter()
    total = 0
    for members in clusters:
        for text, count in members:
            terms = tokens.setdefault(text, set(tokenize(text)))
            held.update(dict.fromkeys(terms, count))
            total += count
    general = _general_idf()
    out = []
    for members in clusters:
        size = sum(count for _, count in members)
        share: Counter[str] = Counter()
        for text, count in members:
            share.update(dict.fromkeys(tokens[text], count))

        def rank(term: str, share: Counter[str] = share, size: int = size) -> tuple[bool, bool, float, int, str]:
            part = share[term] / size
            score = part * math.log((total + 1) / (held[term] + 0.5)) * general(term)
            # a lone character (卡, 借, 花 of 花呗, missing from jieba's dictionary) names little
            return part < MIN_SHARE, len(term) < 2, -score, -len(term), term

        out.append(_distinct(sorted(share, key=rank), top))
    return out


@functools.cache
def _general_idf() -> Callable[[str], float]:
    import jieba.analyse  # loads the IDF table that ships with jieba (0.5-2 s)

    table = jieba.analyse.default_tfidf
    # only demotes: a word commoner than jieba's median (之后 4.4 against 12.0) counts for less, a rarer one or one
    # jieba has never seen (网商贷) counts fully, so the contrast between the clusters keeps the lead
    return lambda term: min(float(table.idf_freq.get(term, table.median_idf)), table.median_idf) / table.median_idf


def _distinct(terms: list[str], top: int) -> list[str]:
    chosen: list[str] = []
    for term in terms:
        if not any(term in c or c in term for c in chosen):
            chosen.append(term)
        if len(chosen) == top:
            break
    return chosen
