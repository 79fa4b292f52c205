"""Index backends: what ranking and answers read from a built index, behind one small protocol.

Rows are chunk positions 0..n_chunks-1 in corpus order. Every backend returns the same numbers for the same build
(cosines, BM25 scores of bm25s's Lucene variant, document frequencies), so the ranking formula, coverage, abstention
and answers in `qa.retrieval` / `qa.answer` are shared and a backend only stores and fetches.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

import numpy as np

from qa.chunking import Chunk
from qa.corpus import Document, DocumentInfo


class IndexReader(Protocol):
    """A loaded, read-only build. Safe to call from several threads at once."""

    manifest: Mapping[str, Any]  # how the build was made (model, chunking, corpus, backend, ...)

    @property
    def build_id(self) -> str: ...

    @property
    def n_chunks(self) -> int: ...

    def dense_search(self, vector: np.ndarray, k: int) -> list[tuple[int, float]]:
        """Up to k (row, cosine) pairs, best first (approximate above the build's ANN threshold)."""

    def dense_scores(self, vector: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """Exact cosine of the query with each given row, in the given order (float32)."""

    def sparse_search(self, terms: Sequence[str], k: int) -> list[tuple[int, float]]:
        """Up to k (row, BM25) pairs with BM25 > 0, best first; unknown terms contribute nothing."""

    def sparse_scores(self, terms: Sequence[str], rows: np.ndarray) -> np.ndarray:
        """BM25 of each given row for these terms (float32, 0 where no term occurs)."""

    def document_frequencies(self, terms: Sequence[str]) -> np.ndarray:
        """How many chunks contain each term (int64, 0 for a term the corpus never uses)."""

    def term_presence(self, terms: Sequence[str], rows: np.ndarray) -> np.ndarray:
        """bool matrix (len(rows), len(terms)): does row r contain term t."""

    def best_sentence_scores(self, vector: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """Highest cosine of the query with one sentence of each given row (0 for a row without sentences)."""

    def sentence_scores(self, vector: np.ndarray, row: int) -> tuple[np.ndarray, np.ndarray]:
        """(spans, cosines) of the sentences of one row: spans is (n, 2) int64 offsets into the document text."""

    def chunks(self, rows: Sequence[int]) -> list[Chunk]:
        """The chunks at these rows, in the given order (text included)."""

    def document_info(self, doc_ids: Sequence[str]) -> dict[str, DocumentInfo]:
        """Title and metadata of each known id (unknown ids are left out)."""

    def document(self, doc_id: str) -> Document | None:
        """One document with its full text, or None if the build has no such id."""

    def close(self) -> None:
        """Release files and connections; requests already holding this reader must have finished."""
