"""Retrieval over a loaded index: dense, BM25 or hybrid, returning ranked chunks with each signal's score."""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass
from typing import Literal

import numpy as np

from qa.chunking import Chunk
from qa.encoders import Embedder
from qa.indexing import passage_text
from qa.normalize import normalize
from qa.ranking import Features, RankingParams, fuse, term_coverage, top_rows
from qa.store import StoredIndex
from qa.tokens import tokenize

Mode = Literal["hybrid", "dense", "bm25"]
MODES: tuple[Mode, ...] = ("hybrid", "dense", "bm25")
SIGNALS = ("dense", "sentence", "coverage", "bm25", "hybrid")  # the keys of Hit.signals


@dataclass(frozen=True)
class Hit:
    row: int
    chunk: Chunk
    score: float  # what the mode ranked by
    signals: dict[str, float]  # every signal, plus "hybrid": the fused evidence whatever the mode

    @property
    def evidence(self) -> float:
        return self.signals["hybrid"]


@dataclass(frozen=True)
class Query:
    """A question prepared once: its terms with IDF weights and its embedding."""

    text: str
    terms: dict[str, float]
    vector: np.ndarray
    cross_lingual: bool = False  # written mainly in another script than the corpus (e.g. English vs Chinese)


class Retriever:
    def __init__(self, index: StoredIndex, embedder: Embedder, params: RankingParams | None = None) -> None:
        self.index = index
        self.embedder = embedder
        self.params = params or RankingParams()
        self.chunk_terms = [set(t) for t in index.chunk_terms]
        df = Counter(t for terms in self.chunk_terms for t in terms)
        n = len(self.chunk_terms)
        self.idf = {t: math.log(1 + (n - f + 0.5) / (f + 0.5)) for t, f in df.items()}
        # a term the corpus never uses is the rarest of all: it counts against every chunk's coverage
        self.unknown_idf = math.log(1 + (n + 0.5) / 0.5)
        # sentences are stored in chunk-row order: sentence_bounds[row] .. sentence_bounds[row + 1]
        counts = np.bincount([s.row for s in index.sentences], minlength=n)
        self.sentence_bounds = np.concatenate([[0], np.cumsum(counts)])
        self._normalized: dict[str, str] = {}
        self.corpus_is_cjk = _mostly_cjk("".join(c.text for c in index.chunks[:200]))

    def normalized_text(self, doc_id: str) -> str:
        """The document's text as matched (same length and offsets as the original), computed once."""
        if doc_id not in self._normalized:
            self._normalized[doc_id] = normalize(self.index.documents[doc_id].text)
        return self._normalized[doc_id]

    def prepare(self, text: str) -> Query:
        terms = {t: self.idf.get(t, self.unknown_idf) for t in tokenize(text)}
        vector = self.embedder.encode_queries([passage_text(text)])[0]
        return Query(text=text, terms=terms, vector=vector,
                     cross_lingual=_mostly_cjk(text) != self.corpus_is_cjk)

    def search(self, text: str, k: int = 5, mode: Mode = "hybrid") -> list[Hit]:
        return self.rank(self.prepare(text), k, mode)

    def rank(self, query: Query, k: int, mode: Mode) -> list[Hit]:
        features = self.features(query)
        fused = fuse(features, self.params)
        scores = {"dense": features.dense, "bm25": features.bm25, "hybrid": fused}[mode]
        order = np.argsort(-scores, kind="stable")
        hits: list[Hit] = []
        for i in order:
            if mode == "bm25" and scores[i] <= 0:
                break
            row = int(features.rows[i])
            if any(_overlaps(self.index.chunks[row], h.chunk) for h in hits):
                continue  # overlapping windows of one passage would only repeat it
            signals = {"dense": float(features.dense[i]), "sentence": float(features.sentence[i]),
                       "coverage": float(features.coverage[i]), "bm25": float(features.bm25[i]),
                       "hybrid": float(fused[i])}
            hits.append(Hit(row=row, chunk=self.index.chunks[row], score=float(scores[i]), signals=signals))
            if len(hits) == k:
                break
        return hits

    def features(self, query: Query) -> Features:
        n = self.params.candidates
        bm25_all = self.index.sparse.scores(list(query.terms))
        dense_rows = [row for row, _ in self.index.dense.search(query.vector, n)]
        rows = np.unique(np.concatenate([np.asarray(dense_rows, dtype=np.int64), top_rows(bm25_all, n)]))
        return Features(
            rows=rows,
            dense=self.index.dense.scores_for(query.vector, rows.tolist()).astype(np.float32),
            sentence=self.sentence_scores(query.vector, rows),
            coverage=term_coverage(query.terms, [self.chunk_terms[r] for r in rows]),
            bm25=bm25_all[rows].astype(np.float32),
        )

    def sentence_scores(self, vector: np.ndarray, rows: np.ndarray) -> np.ndarray:
        best = np.zeros(len(rows), dtype=np.float32)
        for i, row in enumerate(rows):
            lo, hi = self.sentence_bounds[row], self.sentence_bounds[row + 1]
            if hi > lo:
                best[i] = float((self.index.sentence_vectors[lo:hi] @ vector).max())
        return best


def _mostly_cjk(text: str) -> bool:
    letters = [ch for ch in text if ch.isalpha()]
    cjk = sum(1 for ch in letters if "\u3400" <= ch <= "\u9fff" or "\uf900" <= ch <= "\ufaff")
    return bool(letters) and cjk * 2 >= len(letters)


def _overlaps(a: Chunk, b: Chunk) -> bool:
    return a.doc_id == b.doc_id and a.start < b.end and b.start < a.end
