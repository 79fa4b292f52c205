"""Extractive answers: pick the source sentences that answer the question, cite them, or abstain."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np

from qa.retrieval import Hit, Query, Retriever

# A list enumerator ("1. ", "（2）", "- ") is layout, not part of the sentence's statement.
_ENUMERATOR = re.compile(r"\s*(?:\d{1,2}[.、)）]\s*|[（(]\d{1,2}[)）]\s*|[-*•]\s+)")


@dataclass(frozen=True)
class AnswerParams:
    """Chosen by `bench/tune_ranking.py` on the seed dev set (see README, Quality)."""

    sources_considered: int = 2  # sentences are drawn from this many top sources
    max_sentences: int = 3
    max_chars: int = 200
    keep_ratio: float = 0.9  # a further sentence must score at least this share of the best one
    w_sentence: float = 1.0  # cosine of the question with the sentence
    w_coverage: float = 0.0  # IDF-weighted share of question terms in the sentence
    w_source: float = 2.0  # how far the sentence's source scores below the best source (fused units)
    min_evidence: float = 1.28  # abstain below this fused (hybrid) evidence of the first source
    # Cross-lingual similarities run lower for the same relevance (measured on the English dev questions).
    cross_lingual_discount: float = 0.09


@dataclass(frozen=True)
class Picked:
    source: int  # 1-based source number
    doc_id: str
    start: int  # offsets into the document's text
    end: int
    text: str
    score: float


@dataclass(frozen=True)
class Answer:
    answered: bool
    text: str
    sentences: list[Picked] = field(default_factory=list)
    answerability: float = 0.0  # higher: more likely answerable; the answer abstains below 0


def build_answer(retriever: Retriever, query: Query, hits: list[Hit], params: AnswerParams) -> Answer:
    floor = params.min_evidence - (params.cross_lingual_discount if query.cross_lingual else 0.0)
    margin = (hits[0].evidence if hits else 0.0) - floor
    if not hits or margin < 0:
        return Answer(answered=False, text="", answerability=margin)
    candidates = _score_sentences(retriever, query, hits[: params.sources_considered], params)
    if not candidates:
        return Answer(answered=False, text="", answerability=margin)
    best = candidates[0].score
    chosen: list[Picked] = []
    used = 0
    for cand in candidates:
        if len(chosen) == params.max_sentences or cand.score < best * params.keep_ratio:
            break
        if used + len(cand.text) > params.max_chars and chosen:
            continue
        if any(c.doc_id == cand.doc_id and c.start < cand.end and cand.start < c.end for c in chosen):
            continue  # the same sentence reached through two overlapping sources
        chosen.append(cand)
        used += len(cand.text)
    chosen.sort(key=lambda p: (p.source, p.start))
    text = "".join(f"{p.text}[{p.source}]" for p in chosen)
    return Answer(answered=True, text=text, sentences=chosen, answerability=margin)


def _score_sentences(retriever: Retriever, query: Query, hits: list[Hit], params: AnswerParams) -> list[Picked]:
    index = retriever.index
    terms = {t: w for t, w in query.terms.items() if _worth_marking(t)}
    total = sum(terms.values())
    top = max(h.evidence for h in hits)
    picked: list[Picked] = []
    for number, hit in enumerate(hits, start=1):
        text = index.documents[hit.chunk.doc_id].text
        matchable = retriever.normalized_text(hit.chunk.doc_id)
        lo, hi = retriever.sentence_bounds[hit.row], retriever.sentence_bounds[hit.row + 1]
        cosines = index.sentence_vectors[lo:hi] @ query.vector if hi > lo else np.zeros(0)
        for sentence, cosine in zip(index.sentences[lo:hi], cosines, strict=True):
            start, end = _trim_enumerator(text, sentence.start, sentence.end)
            coverage = sum(w for t, w in terms.items() if t in matchable[start:end]) / total if total else 0.0
            score = (params.w_sentence * float(cosine) + params.w_coverage * coverage
                     + params.w_source * (hit.evidence - top))
            picked.append(Picked(source=number, doc_id=hit.chunk.doc_id, start=start, end=end,
                                 text=text[start:end], score=score))
    picked.sort(key=lambda p: -p.score)
    return picked


def _trim_enumerator(text: str, start: int, end: int) -> tuple[int, int]:
    match = _ENUMERATOR.match(text, start, end)
    if match and match.end() < end:
        return match.end(), end
    return start, end


def highlights(matchable: str, query: Query) -> list[tuple[int, int]]:
    """Character ranges holding the question's terms (found in the normalised text), merged where they touch."""
    spans = sorted(span for term in query.terms if _worth_marking(term) for span in _occurrences(matchable, term))
    merged: list[tuple[int, int]] = []
    for s, e in spans:
        if merged and s <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(e, merged[-1][1]))
        else:
            merged.append((s, e))
    return merged


def _worth_marking(term: str) -> bool:
    # a lone CJK character (钱, 付) would light up half the passage
    return len(term) >= 2 or term.isdigit()


def _occurrences(text: str, term: str) -> list[tuple[int, int]]:
    found = []
    start = text.find(term)
    while start != -1:
        found.append((start, start + len(term)))
        start = text.find(term, start + len(term))
    return found
