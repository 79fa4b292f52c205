"""Answer units (a list item, a paragraph) and a learned score of how well each of their sentences answers."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from qa.errors import QAError
from qa.fitted.records import UnitsFit
from qa.query.evidence import Sentence
from qa.query.retrieval import Hit, Query
from qa.tokens import worth_marking

REFIT = "refit it with `python tools/fit_answer_units.py --write` (see tools/README.md)"
# What the model may use, per sentence: its cosine and term coverage (absolute and against the best candidate),
# how far its source ranks below the first, and where it sits in its unit: a list item's head or a following
# sentence, after the unit's best-matching sentence or right after it. No word lists: what a problem-naming head
# or a remedy looks like is learned from where answers sit (DRCD's gold spans, the seed dev set's marked sentences).
FEATURES = ("cos", "gap_best", "gap_unit", "src_gap", "cov", "cov_gap", "head", "list_item", "pos", "after_best",
            "prev_is_best", "prev_gap", "unit_mean_gap", "length")
_MAX_POSITION = 4  # later positions count as this one
_NO_PREVIOUS_GAP = -0.2  # prev_gap of a unit's first sentence: below any real cosine gap


@dataclass(frozen=True)
class Candidate:
    """A sentence that may be quoted, with the unit it belongs to."""

    sentence: Sentence
    unit: tuple[int, int]  # (source, item): the list item or paragraph within its source
    position: int  # 0 for the unit's first sentence
    coverage: float  # IDF-weighted share of the question's terms it holds


def candidates(query: Query, sentences: list[Sentence]) -> list[Candidate]:
    """The sentences in source order with their units; a sentence reached through two overlapping sources counts
    once (where it came first)."""
    terms = {t: w for t, w in query.terms.items() if worth_marking(t)}
    total = sum(terms.values())
    seen: set[tuple[str, int]] = set()
    out: list[Candidate] = []
    for s in sentences:
        if (s.doc_id, s.start) in seen:
            continue
        seen.add((s.doc_id, s.start))
        unit = (s.source, s.item)
        position = out[-1].position + 1 if out and out[-1].unit == unit else 0
        coverage = sum(w for t, w in terms.items() if t in s.matchable) / total if total else 0.0
        out.append(Candidate(s, unit, position, coverage))
    return out


def features(hits: list[Hit], cands: list[Candidate]) -> np.ndarray:
    """One row of FEATURES per candidate, in order."""
    if not cands:
        return np.zeros((0, len(FEATURES)))
    best = max(c.sentence.cosine for c in cands)
    best_cov = max(c.coverage for c in cands)
    top = hits[0].evidence
    units = _units(cands)
    rows = []
    for unit, members in units.items():
        cosines = [cands[i].sentence.cosine for i in members]
        unit_best = int(np.argmax(cosines))
        unit_mean = float(np.mean(cosines))
        list_item = float(cands[members[0]].sentence.opens_item)
        for p, i in enumerate(members):
            c = cands[i]
            previous = cands[members[p - 1]].sentence.cosine - best if p else _NO_PREVIOUS_GAP
            rows.append((i, [c.sentence.cosine, c.sentence.cosine - best, c.sentence.cosine - cosines[unit_best],
                             hits[unit[0] - 1].evidence - top, c.coverage, c.coverage - best_cov, float(p == 0),
                             list_item, min(p, _MAX_POSITION), float(p > unit_best),
                             float(p > 0 and p - 1 == unit_best), previous, unit_mean - best,
                             min(len(c.sentence.text), 200) / 100]))
    rows.sort(key=lambda r: r[0])
    return np.asarray([r[1] for r in rows], dtype=np.float64)


def scores(hits: list[Hit], cands: list[Candidate], fit: UnitsFit | None) -> np.ndarray:
    """The score of each candidate: the model's fitted answer-unit model, or (nothing fitted) its cosine in
    standard deviations from the candidates' mean, which asks nothing of the model's cosine scale. A sentence that
    is itself a question ("什么是OSDT数字钱包?") is never an answer and hands its score to the next sentence of its
    unit (the question heading's answer)."""
    z = _fitted_scores(fit, features(hits, cands)) if fit else _standardised_cosines(cands)
    for i, c in enumerate(cands):
        if c.sentence.asks and i + 1 < len(cands) and cands[i + 1].unit == c.unit:
            z[i + 1] = max(z[i + 1], z[i])
        if c.sentence.asks:
            z[i] = -np.inf
    return z


def _fitted_scores(fit: UnitsFit, x: np.ndarray) -> np.ndarray:
    if fit.weights.features != FEATURES:
        raise QAError(f"the answer-unit model was fitted on features {list(fit.weights.features)}, the code "
                      f"computes {list(FEATURES)}; {REFIT}")
    return fit.weights.margin(x) if len(x) else np.zeros(0)


def _standardised_cosines(cands: list[Candidate]) -> np.ndarray:
    cosines = np.array([c.sentence.cosine for c in cands], dtype=np.float64)
    spread = float(cosines.std()) if len(cosines) else 0.0
    return (cosines - cosines.mean()) / spread if spread > 0 else np.zeros_like(cosines)


def _units(cands: list[Candidate]) -> dict[tuple[int, int], list[int]]:
    out: dict[tuple[int, int], list[int]] = {}
    for i, c in enumerate(cands):
        out.setdefault(c.unit, []).append(i)
    return out
