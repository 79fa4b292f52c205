"""Retrieval over a loaded index: dense, BM25 or hybrid, returning ranked chunks with each signal's score."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from qa.backends import IndexReader, QuestionView
from qa.chunking import Chunk
from qa.encoders import Embedder, passage_text
from qa.fitted import load_fitted
from qa.query.ranking import Features, RankingParams, fuse, term_coverage
from qa.results import Signals
from qa.script import mostly_cjk
from qa.tokens import tokenize

Mode = Literal["hybrid", "dense", "bm25"]
MODES: tuple[Mode, ...] = ("hybrid", "dense", "bm25")


@dataclass(frozen=True)
class Hit:
    row: int
    chunk: Chunk
    score: float  # what the mode ranked by
    # every signal, with hybrid the fused evidence whatever the mode; question is 0 here (an FAQ entry's match is
    # looked up after ranking, see qa.query.faqhits, and goes into its Source's signals)
    signals: Signals

    @property
    def evidence(self) -> float:
        return self.signals.hybrid


@dataclass(frozen=True)
class Query:
    """A question prepared once: its terms with IDF weights, its embedding, and its view of the build."""

    text: str
    terms: dict[str, float]
    vector: np.ndarray
    view: QuestionView = field(repr=False)  # what this question reads from the index; it ends with the question
    cross_lingual: bool = False  # written mainly in another script than the corpus (e.g. English vs Chinese)


class Retriever:
    """Ranks chunks of one loaded index (any backend) for prepared questions."""

    def __init__(self, index: IndexReader, embedder: Embedder, params: RankingParams | None = None) -> None:
        self.index = index
        self.embedder = embedder
        self.fitted = load_fitted(embedder.model_id)  # everything fitted for this model (or nothing: neutral)
        self.params = params or self.fitted.ranking
        self.n = index.n_chunks
        # a term the corpus never uses is the rarest of all: it counts against every chunk's coverage
        self.unknown_idf = math.log(1 + (self.n + 0.5) / 0.5)
        self.corpus_is_cjk = index.manifest.corpus.cjk

    def idf(self, terms: list[str]) -> dict[str, float]:
        """BM25's IDF of each term over the chunks (the highest possible for a term the corpus never uses)."""
        df = self.index.document_frequencies(terms)
        return {t: math.log(1 + (self.n - f + 0.5) / (f + 0.5)) for t, f in zip(terms, df.tolist(), strict=True)}

    def knows(self, term: str) -> bool:
        """Whether some chunk of the corpus holds this (normalised) search token."""
        return bool(self.index.document_frequencies([term])[0] > 0)

    def prepare(self, text: str, vector: np.ndarray | None = None) -> Query:
        """The question's terms and embedding (pass vector when it was encoded already, e.g. in a batch)."""
        terms = list(dict.fromkeys(tokenize(text)))
        if vector is None:
            vector = self.embedder.encode_queries([passage_text(text)])[0]
        return Query(text=text, terms=self.idf(terms), vector=vector, view=self.index.question(vector, terms),
                     cross_lingual=mostly_cjk(text) != self.corpus_is_cjk)

    def search(self, text: str, k: int = 5, mode: Mode = "hybrid") -> list[Hit]:
        return self.rank(self.prepare(text), k, mode)

    def rank(self, query: Query, k: int, mode: Mode) -> list[Hit]:
        features = self.features(query)
        fused = fuse(features, self.params)
        scores = {"dense": features.dense, "bm25": features.bm25, "hybrid": fused}[mode]
        order = [int(i) for i in np.argsort(-scores, kind="stable")]
        if mode == "bm25":
            order = [i for i in order if scores[i] > 0]
        # Enough chunks to fill k after dropping overlapping windows, fetched in one call.
        chunks = dict(zip(order[: 4 * k], query.view.chunks([int(features.rows[i]) for i in order[: 4 * k]]),
                          strict=True))
        hits: list[Hit] = []
        for i in order[: 4 * k]:
            chunk = chunks[i]
            if any(_overlaps(chunk, h.chunk) for h in hits):
                continue  # overlapping windows of one passage would only repeat it
            signals = Signals(dense=float(features.dense[i]), sentence=float(features.sentence[i]),
                              coverage=float(features.coverage[i]), bm25=float(features.bm25[i]),
                              hybrid=float(fused[i]), question=0.0, verifier=None)
            hits.append(Hit(row=int(features.rows[i]), chunk=chunk, score=float(scores[i]), signals=signals))
            if len(hits) == k:
                break
        return hits

    def features(self, query: Query) -> Features:
        view = query.view
        rows = view.candidates(self.params.candidates)
        return Features(
            rows=rows,
            dense=view.dense_scores(rows).astype(np.float32),
            sentence=view.best_sentence_scores(rows),
            coverage=term_coverage(query.terms, view.term_presence(rows)),
            bm25=view.sparse_scores(rows).astype(np.float32),
        )


def _overlaps(a: Chunk, b: Chunk) -> bool:
    return a.doc_id == b.doc_id and a.start < b.end and b.start < a.end
