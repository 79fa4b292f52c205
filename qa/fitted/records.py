"""The typed records of a model's fitted parameters: ranking and answer settings, two linear models, the gap
threshold, each with where it came from; and the neutral values a model with nothing fitted serves with."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

Licence = Literal["free", "research-only"]
LICENCES: tuple[Licence, ...] = ("free", "research-only")


@dataclass(frozen=True)
class Dataset:
    """One data set a fit read: its path relative to the repository root and its licence class."""

    path: str  # e.g. ../shared/bench/drcd/DRCD_dev.json or eval/seed_dev.jsonl
    licence: Licence


@dataclass(frozen=True)
class Provenance:
    """Where one fitted part came from."""

    tool: str  # the script that wrote it, e.g. tools/fit_answerability.py
    model_id: str  # the exact embedding model the fit ran with
    datasets: tuple[Dataset, ...]
    commit: str  # git commit of the code that fitted it
    fitted_at: str  # UTC, ISO 8601
    fit_seconds: float | None  # None: not recorded (parts fitted before fitted.json existed)
    figures: dict[str, float]  # what the fit reached, by name
    note: str = ""


@dataclass(frozen=True)
class RankingParams:
    """Weights of the fused score (qa.query.ranking.fuse); tuned per model by `tools/tune_ranking.py`."""

    candidates: int  # taken from each of the dense and BM25 lists
    w_dense: float  # cosine of the query with the chunk
    w_sentence: float  # best cosine of the query with one sentence of the chunk
    w_coverage: float  # IDF-weighted share of the query's terms found in the chunk
    w_bm25: float  # BM25 divided by the best BM25 score for this query
    # Lexical evidence is trusted as far as some candidate covers the question's terms at all: a paraphrase
    # sharing few words with the corpus leans on the embeddings. 0 turns the adjustment off.
    trust_exponent: float


@dataclass(frozen=True)
class AnswerParams:
    """How an answer is composed (qa.query.answer); tuned per model by `tools/tune_answer.py`."""

    sources_considered: int  # sentences are drawn from this many top sources
    max_sentences: int
    max_units: int  # list items or paragraphs quoted, each one line of the answer
    max_chars: int
    # a further sentence must score within this of the best one (units of the sentence score: the answer-unit
    # model's when one is fitted, else standard deviations of the cosine among the question's candidates)
    keep_margin: float
    # an FAQ entry's answer is quoted whole up to this length, else cut at a sentence end (the [n] leads on)
    faq_max_chars: int


@dataclass(frozen=True, eq=False)  # arrays have no single truth value: compared by identity
class Linear:
    """coef . (x - mean) / scale over the named features."""

    features: tuple[str, ...]
    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray

    def margin(self, x: np.ndarray) -> np.ndarray:
        return np.asarray(((x - self.mean) / self.scale) @ self.coef, dtype=np.float64)


@dataclass(frozen=True)
class AnswerabilityFit:
    """Standardised logistic regression p = sigmoid(intercept + margin(x)); answer when p reaches threshold."""

    weights: Linear
    intercept: float
    threshold: float
    provenance: Provenance


@dataclass(frozen=True)
class UnitsFit:
    """The answer-unit model: a conditional logit whose margin scores each candidate sentence."""

    weights: Linear
    provenance: Provenance


@dataclass(frozen=True)
class RankingFit:
    """Ranking weights tuned for the model, with where they came from."""

    params: RankingParams
    provenance: Provenance


@dataclass(frozen=True)
class AnswerFit:
    """Answer settings tuned for the model, with where they came from."""

    params: AnswerParams
    provenance: Provenance


@dataclass(frozen=True)
class VerifierParams:
    """Where the verifier reads a question with its candidates (qa.query.verify); tuned by tools/tune_verifier.py."""

    top: int  # hits read with the question, from the first (each costs a cross-encoder pass per candidate)
    per_hit: int  # candidates per hit: a passage's sentences nearest the question, or an entry's questions
    weight: float  # added to a checked hit's fused score per unit of verifier probability: the rerank
    # an FAQ entry at least this probable is offered ("你是不是想问：…") when the answer abstains
    suggest: float


@dataclass(frozen=True)
class VerifierFit:
    """How the verifier (weights in verifier.npz beside fitted.json) is used for this model, with provenance."""

    params: VerifierParams
    provenance: Provenance


@dataclass(frozen=True)
class GapThreshold:
    """The cosine two questions need to count as one need in `qa gaps`."""

    threshold: float
    provenance: Provenance


# A model with nothing fitted ranks and composes with these: no weight favours one signal, whose scale differs
# from model to model, and the trust adjustment (a tuned idea) is off.
NEUTRAL_RANKING = RankingParams(candidates=50, w_dense=1.0, w_sentence=1.0, w_coverage=1.0, w_bm25=1.0,
                                trust_exponent=0.0)
# keep_margin is 1 standard deviation of the candidates' cosines when no answer-unit model scores them
NEUTRAL_ANSWER = AnswerParams(sources_considered=2, max_sentences=4, max_units=3, max_chars=200, keep_margin=1.0,
                              faq_max_chars=400)
PARTS = ("ranking", "answer", "answerability", "answer_units", "gap_threshold", "verifier")


@dataclass(frozen=True)
class Fitted:
    """Everything fitted for one embedding model; a part is None when nothing was fitted for it."""

    model_id: str  # the model the file says it belongs to ("" when there is no file)
    source: str  # where it was read from, for messages: qa/fitted/<slug>/fitted.json
    ranking_fit: RankingFit | None = None
    answer_fit: AnswerFit | None = None
    answerability: AnswerabilityFit | None = None
    answer_units: UnitsFit | None = None
    gap_threshold: GapThreshold | None = None
    verifier: VerifierFit | None = None

    @property
    def ranking(self) -> RankingParams:
        return self.ranking_fit.params if self.ranking_fit else NEUTRAL_RANKING

    @property
    def answer(self) -> AnswerParams:
        return self.answer_fit.params if self.answer_fit else NEUTRAL_ANSWER

    @property
    def calibrated(self) -> bool:
        """Answers can abstain on a threshold fitted for this model."""
        return self.answerability is not None

    @property
    def parts(self) -> tuple[str, ...]:
        """The parts fitted, in PARTS order."""
        present = (self.ranking_fit, self.answer_fit, self.answerability, self.answer_units, self.gap_threshold,
                   self.verifier)
        return tuple(name for name, part in zip(PARTS, present, strict=True) if part is not None)
