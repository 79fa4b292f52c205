"""Writes a build directory row by row, so memory stays bounded whatever the corpus size."""

from __future__ import annotations

from array import array
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from qa.chunking import Chunk, match_text
from qa.corpus import Document
from qa.index import layout
from qa.index.dense import build_ivf, ivf_lists
from qa.index.docstore import DocStore, DocStoreWriter
from qa.index.manifest import Dense
from qa.index.sparse import SparseBuilder

_INT32_MAX = 2**31 - 1
# float16 halves the largest file of a build; `bench/bench_index.py`-style evaluations showed no quality change.
SENTENCE_DTYPES = ("float16", "float32")


class BuildWriter:
    """Phase 1 `add_document` (texts, offsets, tokens), phase 2 the vectors by row ranges, then `finish`."""

    def __init__(self, path: Path, dim: int, sentence_dtype: str = "float16") -> None:
        if sentence_dtype not in SENTENCE_DTYPES:
            raise ValueError(f"sentence vectors are stored as one of {', '.join(SENTENCE_DTYPES)}, "
                             f"not {sentence_dtype!r}")
        self.path = path
        self.dim = dim
        self.sentence_dtype = sentence_dtype
        self._docs = DocStoreWriter(path / layout.DOCS)
        self._sparse = SparseBuilder()
        self._meta = array("i")  # doc idx, start, end, ordinal per chunk
        self._spans = array("i")  # start, end per sentence
        self._bounds = array("q", [0])
        self._asks = array("b")  # per sentence: 1 for an FAQ entry's question (embedded as a question)
        self.n_documents = 0
        self._chunk_vectors: np.memmap | None = None
        self._sentence_vectors: np.memmap | None = None

    @property
    def n_chunks(self) -> int:
        return len(self._meta) // 4

    @property
    def n_sentences(self) -> int:
        return len(self._spans) // 2

    def token_ids(self, tokens: list[str]) -> np.ndarray:
        """BM25 vocabulary ids of a chunk's tokens, for `add_document`."""
        return self._sparse.token_ids(tokens)

    def add_document(self, doc: Document, chunks: Sequence[Chunk], sentences: Sequence[Sequence[tuple[int, int]]],
                     token_ids: Sequence[np.ndarray], questions: int = 0) -> None:
        """One document with its chunks, each chunk's sentence spans (document offsets) and BM25 token ids; the
        first `questions` sentences are an FAQ entry's questions."""
        if len(doc.text) > _INT32_MAX:
            raise ValueError(f"document {doc.doc_id!r} has {len(doc.text)} characters; split it into files of "
                             f"under {_INT32_MAX} characters")
        self._docs.add_document(self.n_documents, doc)
        first = self.n_chunks
        for ordinal, (chunk, spans, ids) in enumerate(zip(chunks, sentences, token_ids, strict=True)):
            self._meta.extend((self.n_documents, chunk.start, chunk.end, ordinal))
            for start, end in spans:
                self._spans.extend((start, end))
                self._asks.append(1 if questions > 0 else 0)
                questions -= 1
            self._bounds.append(self.n_sentences)
            self._sparse.add_ids(ids)
        self._docs.add_chunks([(first + i, c.text, c.headings) for i, c in enumerate(chunks)])
        self.n_documents += 1

    def sentence_counts(self, first: int, count: int) -> tuple[int, np.ndarray]:
        """(index of the first sentence of row first, number of sentences of each of the count rows)."""
        bounds = np.frombuffer(self._bounds, dtype=np.int64)[first:first + count + 1]
        return int(bounds[0]), np.diff(bounds)

    def asks(self, first: int, count: int) -> np.ndarray:
        """Which of sentences first..first+count-1 are FAQ questions (bool)."""
        return np.frombuffer(self._asks, dtype=np.int8)[first:first + count].astype(bool)

    def start_vectors(self) -> None:
        """End phase 1: the vector files are created at their final size and filled by row ranges."""
        self._docs.close()
        self._chunk_vectors = np.lib.format.open_memmap(
            self.path / layout.CHUNK_VECTORS, mode="w+", dtype=np.float32, shape=(self.n_chunks, self.dim))
        self._sentence_vectors = np.lib.format.open_memmap(
            self.path / layout.SENTENCE_VECTORS, mode="w+", dtype=self.sentence_dtype,
            shape=(self.n_sentences, self.dim))

    def chunk_batches(self, batch: int) -> Iterator[tuple[int, list[str], np.ndarray]]:
        """(first row, match texts, document idx per row) for every chunk, in row order."""
        store = DocStore(self.path / layout.DOCS)
        try:
            meta = np.frombuffer(self._meta, dtype=np.int32).reshape(-1, 4)
            for first, rows in enumerate_batches(store.iter_chunk_texts(0, self.n_chunks, batch)):
                yield first, [match_text(h, t) for t, h in rows], meta[first:first + len(rows), 0]
        finally:
            store.close()

    def sentence_batches(self, batch: int) -> Iterator[tuple[int, list[str], np.ndarray]]:
        """(first sentence, sentence texts, document idx per sentence) for every sentence, in order."""
        store = DocStore(self.path / layout.DOCS)
        meta = np.frombuffer(self._meta, dtype=np.int32).reshape(-1, 4)
        spans = np.frombuffer(self._spans, dtype=np.int32).reshape(-1, 2)
        bounds = np.frombuffer(self._bounds, dtype=np.int64)
        texts: list[str] = []
        docs: list[int] = []
        first = 0
        try:
            for row0, rows in enumerate_batches(store.iter_chunk_texts(0, self.n_chunks, batch)):
                for row, (text, _) in enumerate(rows, start=row0):
                    start = int(meta[row, 1])
                    for s, e in spans[bounds[row]:bounds[row + 1]].tolist():
                        texts.append(text[s - start:e - start])
                        docs.append(int(meta[row, 0]))
                while len(texts) >= batch:
                    yield first, texts[:batch], np.asarray(docs[:batch])
                    first, texts, docs = first + batch, texts[batch:], docs[batch:]
            if texts:
                yield first, texts, np.asarray(docs)
        finally:
            store.close()

    def put_chunk_vectors(self, first: int, vectors: np.ndarray) -> None:
        assert self._chunk_vectors is not None, "call start_vectors first"
        self._chunk_vectors[first:first + len(vectors)] = vectors

    def put_sentence_vectors(self, first: int, vectors: np.ndarray) -> None:
        assert self._sentence_vectors is not None, "call start_vectors first"
        self._sentence_vectors[first:first + len(vectors)] = vectors.astype(self.sentence_dtype)

    def finish(self, ann_threshold: int, nprobe: int) -> Dense:
        """Write the row arrays, the BM25 index and (above ann_threshold rows) the IVF index; the manifest's
        `dense` section is returned. The caller writes the manifest."""
        assert self._chunk_vectors is not None and self._sentence_vectors is not None, "call start_vectors first"
        np.save(self.path / layout.CHUNK_META, np.frombuffer(self._meta, dtype=np.int32).reshape(-1, 4))
        np.save(self.path / layout.SENTENCE_SPANS, np.frombuffer(self._spans, dtype=np.int32).reshape(-1, 2))
        np.save(self.path / layout.SENTENCE_BOUNDS, np.frombuffer(self._bounds, dtype=np.int64))
        self._chunk_vectors.flush()
        self._sentence_vectors.flush()
        sparse = self._sparse.build()
        sparse_dir = self.path / layout.SPARSE
        sparse_dir.mkdir()
        sparse.save(str(sparse_dir), show_progress=False)
        if self.n_chunks < ann_threshold:
            return Dense(kind="exact", ann_threshold=ann_threshold)
        nlist = ivf_lists(self.n_chunks)
        build_ivf(self._chunk_vectors, self.path / layout.ANN, nlist)
        return Dense(kind="ivf", ann_threshold=ann_threshold, nlist=nlist, nprobe=nprobe)


def enumerate_batches(batches: Iterator[list[Any]]) -> Iterator[tuple[int, list[Any]]]:
    """(index of the first item, batch) for consecutive batches."""
    first = 0
    for items in batches:
        yield first, items
        first += len(items)
