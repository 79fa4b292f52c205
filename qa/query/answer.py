"""Extractive answers: an FAQ entry's own answer, or the best answer units' sentences quoted unit by unit with
citations, or an abstention."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from qa import faq
from qa.fitted.records import AnswerParams
from qa.query import answerability, faqhits, units
from qa.query.evidence import Sentence, hit_sentences
from qa.query.faqhits import Found, Match
from qa.query.retrieval import Hit, Query, Retriever
from qa.query.units import Candidate

__all__ = ["Answer", "AnswerParams", "Picked", "build_answer", "gather_sentences", "select"]


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
    text: str  # the quoted units, one per line, each sentence followed by its [n]
    sentences: list[Picked] = field(default_factory=list)
    # calibrated probability that the corpus answers the question; None when the model has no fitted
    # answerability (uncalibrated: nothing abstains)
    answerability: float | None = 0.0
    matched_question: str | None = None  # answered from an FAQ entry: its question nearest the one asked


def gather_sentences(query: Query, found: list[Found]) -> list[Sentence]:
    """The sentences of the given hits, in source order (an FAQ entry's questions marked)."""
    return [s for n, f in enumerate(found, start=1) for s in hit_sentences(query, f.hit, n, _questions(f))]


def _questions(found: Found) -> int:
    return len(faq.question_spans(found.hit.chunk.text)) if found.is_faq else 0


def build_answer(retriever: Retriever, query: Query, found: list[Found], params: AnswerParams) -> Answer:
    """An FAQ entry ranked first answers with its own answer; else the passages' best sentences; or abstain
    (only on an answerability threshold fitted for the model: an uncalibrated model always answers).
    found: the ranked hits examined once (qa.query.faqhits.examine), shared with the sources."""
    hits = [f.hit for f in found]
    sentences = gather_sentences(query, found[: params.sources_considered])
    gate = answerability.model(retriever.fitted)
    p = answerability.probability(gate, answerability.features(retriever, query, hits, sentences)) if gate else None
    answerable = gate is None or (p is not None and p >= gate.threshold)
    if found and found[0].match is not None and answerable:
        return _faq_answer(found[0].hit, found[0].match, params, p)
    cands = units.candidates(query, [s for s in sentences if not s.question])
    groups = select(cands, units.scores(hits, cands, retriever.fitted.answer_units), params) if hits else []
    if not answerable or not groups:
        return Answer(answered=False, text="", answerability=p)
    text = "\n".join("".join(f"{picked.text}[{picked.source}]" for picked in group) for group in groups)
    return Answer(answered=True, text=text, sentences=[picked for group in groups for picked in group],
                  answerability=p)


def _faq_answer(hit: Hit, matched: Match, params: AnswerParams, p: float | None) -> Answer:
    """The entry's answer verbatim (cut at a sentence end past faq_max_chars), cited to the entry."""
    quoted = faqhits.quote_answer(hit, params.faq_max_chars)
    picked = Picked(1, hit.chunk.doc_id, quoted.start, quoted.end, quoted.text, matched.cosine)
    return Answer(answered=True, text=f"{quoted.text}[1]", sentences=[picked], answerability=p,
                  matched_question=matched.question)


def select(cands: list[Candidate], scores: np.ndarray, params: AnswerParams) -> list[list[Picked]]:
    """The best-scoring sentences (within keep_margin of the best, max_sentences, max_chars, max_units), grouped
    by unit: units in the order of their best sentence, each unit's sentences in text order, except that the
    answer opens with its best sentence."""
    order = [int(i) for i in np.argsort(-scores, kind="stable")
             if np.isfinite(scores[i]) and not cands[i].sentence.truncated]
    if not order:
        return []
    chosen: list[int] = []
    seen: list[tuple[int, int]] = []
    used = 0
    for i in order:
        text = cands[i].sentence.text
        if len(chosen) == params.max_sentences or scores[i] < scores[order[0]] - params.keep_margin:
            break
        if (used + len(text) > params.max_chars and chosen) or (
                cands[i].unit not in seen and len(seen) == params.max_units):
            continue
        seen += [cands[i].unit] if cands[i].unit not in seen else []
        chosen.append(i)
        used += len(text)
    groups = [sorted((i for i in chosen if cands[i].unit == unit), key=lambda i: cands[i].sentence.start)
              for unit in seen]
    lead = groups[0].index(order[0])
    groups[0] = groups[0][lead:] + groups[0][:lead]
    return [[_picked(cands[i], float(scores[i])) for i in group] for group in groups]


def _picked(cand: Candidate, score: float) -> Picked:
    s = cand.sentence
    return Picked(s.source, s.doc_id, s.start, s.end, s.text, score)
