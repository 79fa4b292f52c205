"""Index backends: what ranking and answers read from a built index, behind one small protocol and a registry.

Rows are chunk positions 0..n_chunks-1 in corpus order. Every backend returns the same numbers for the same build
(cosines, BM25 scores of bm25s's Lucene variant, document frequencies), so the ranking formula, coverage, abstention
and answers in `qa.query.retrieval` / `qa.query.answer` are shared and a backend only stores and fetches.
Which backend serves is `Settings.backend`; `backend(settings)` is the only place that maps the name to code.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import numpy as np

from qa.chunking import Chunk
from qa.config import BACKENDS, Settings
from qa.corpus import Document, DocumentInfo
from qa.errors import QAError
from qa.index.manifest import Manifest

__all__ = ["Backend", "IndexReader", "Manifest", "QuestionView", "backend", "current_build", "open_reader"]


class QuestionView(Protocol):
    """What one question reads from a build (its vector and terms fixed). It lives as long as the request, so it
    may keep what it fetched for the rest of that question; nothing is shared between questions."""

    def candidates(self, n: int) -> np.ndarray:
        """The rows ranking scores: the union of the dense and BM25 (score > 0) top-n, ascending (int64)."""

    def dense_search(self, k: int) -> list[tuple[int, float]]:
        """Up to k (row, cosine) pairs, best first (approximate above the build's ANN threshold)."""

    def dense_scores(self, rows: np.ndarray) -> np.ndarray:
        """Exact cosine of the question with each given row, in the given order (float32)."""

    def sparse_search(self, k: int) -> list[tuple[int, float]]:
        """Up to k (row, BM25) pairs with BM25 > 0, best first; unknown terms contribute nothing."""

    def sparse_scores(self, rows: np.ndarray) -> np.ndarray:
        """BM25 of each given row for the question's terms (float32, 0 where no term occurs)."""

    def term_presence(self, rows: np.ndarray) -> np.ndarray:
        """bool matrix (len(rows), len(terms)): does row r contain term t."""

    def best_sentence_scores(self, rows: np.ndarray) -> np.ndarray:
        """Highest cosine of the question with one sentence of each given row (0 for a row without sentences)."""

    def sentence_scores(self, row: int) -> tuple[np.ndarray, np.ndarray]:
        """(spans, cosines) of the sentences of one row: spans is (n, 2) int64 offsets into the document text."""

    def chunks(self, rows: Sequence[int]) -> list[Chunk]:
        """The chunks at these rows, in the given order (as IndexReader.chunks)."""

    def document_info(self, doc_ids: Sequence[str]) -> dict[str, DocumentInfo]:
        """Title and metadata of each known id (as IndexReader.document_info)."""


class IndexReader(Protocol):
    """A loaded, read-only build. Safe to call from several threads at once."""

    manifest: Manifest  # how the build was made (model, chunking, corpus, backend, ...)

    @property
    def build_id(self) -> str: ...

    @property
    def n_chunks(self) -> int: ...

    def question(self, vector: np.ndarray, terms: Sequence[str]) -> QuestionView:
        """A view of this build for one question: its embedding and its search terms."""

    def document_frequencies(self, terms: Sequence[str]) -> np.ndarray:
        """How many chunks contain each term (int64, 0 for a term the corpus never uses)."""

    def chunks(self, rows: Sequence[int]) -> list[Chunk]:
        """The chunks at these rows, in the given order (text included)."""

    def document_info(self, doc_ids: Sequence[str]) -> dict[str, DocumentInfo]:
        """Title and metadata of each known id (unknown ids are left out)."""

    def document(self, doc_id: str) -> Document | None:
        """One document with its full text, or None if the build has no such id."""

    def close(self) -> None:
        """Release files and connections; requests already holding this reader must have finished."""


class Backend(Protocol):
    """Where builds are served from: which is current, how to open one, publish one and roll back."""

    def describe(self, settings: Settings) -> str:
        """Where the builds live, for messages ("index in index/", "Milvus at http://…")."""

    def current_build(self, settings: Settings) -> str:
        """The id of the build serving now: one cheap call (a readlink, a query of the serving record), made about
        once a second by every worker."""

    def manifest(self, settings: Settings, build_id: str) -> Manifest:
        """The manifest of one build, read without opening its files (so a wrong model is refused cheaply)."""

    def open(self, settings: Settings, build_id: str, manifest: Manifest) -> IndexReader:
        """The build, verified and ready to answer."""

    def publish(self, settings: Settings, build_dir: Path) -> str | None:
        """Make a finished local build the one served (after `qa index`): its build id, or None when the
        build directory itself is what is served (nothing to publish)."""

    def rollback(self, settings: Settings) -> str:
        """Serve the previous build again; returns its id."""


# name -> "module:class"; imported on first use, so pymilvus loads only where Milvus is configured.
_REGISTRY = {"local": "qa.backends.local:LocalBackend", "milvus": "qa.backends.milvus:MilvusBackend"}
assert tuple(_REGISTRY) == BACKENDS, "qa.config.BACKENDS lists the names Settings accepts; register each here"


def backend(settings: Settings) -> Backend:
    """The backend Settings names (validated by Settings.load)."""
    try:
        module, _, name = _REGISTRY[settings.backend].partition(":")
    except KeyError:
        raise QAError(f"unknown backend {settings.backend!r}; choose {' or '.join(_REGISTRY)}") from None
    implementation: Backend = getattr(importlib.import_module(module), name)()
    return implementation


def current_build(settings: Settings) -> str:
    return backend(settings).current_build(settings)


def open_reader(settings: Settings, build_id: str, manifest: Manifest | None = None) -> IndexReader:
    """Open one build of the configured backend (reading its manifest first unless given)."""
    chosen = backend(settings)
    return chosen.open(settings, build_id, manifest if manifest is not None else chosen.manifest(settings, build_id))
