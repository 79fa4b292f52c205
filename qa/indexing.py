"""The offline rebuild: corpus → chunks and sentences → embeddings (cached) + BM25 → a new build swapped in."""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np

from qa import store
from qa.cache import EmbeddingCache, embed_with_cache
from qa.chunking import Chunk, ChunkSettings, chunk_corpus, split_sentences
from qa.config import Settings
from qa.corpus import Document, corpus_fingerprint, load_corpus
from qa.dense import DenseIndex
from qa.encoders import Embedder, load_embedder
from qa.errors import CorpusError
from qa.normalize import normalize
from qa.sparse import SparseIndex
from qa.tokens import tokenize

# Given the total number of texts to embed, returns the callback that receives how many were just done.
ProgressFactory = Callable[[int], Callable[[int], None]]


@dataclass(frozen=True)
class BuildReport:
    documents: int
    chunks: int
    sentences: int
    seconds: float
    embedded: int
    cache_hits: int

    @property
    def chunks_per_second(self) -> float:
        return self.chunks / self.seconds if self.seconds else 0.0

    def summary(self) -> str:
        return (f"indexed {self.documents} documents, {self.chunks} chunks ({self.sentences} sentences) in "
                f"{self.seconds:.1f} s, {self.chunks_per_second:.1f} chunks/s, "
                f"{self.cache_hits} of {self.embedded} embeddings from cache")


def passage_text(text: str) -> str:
    """What the embedding model sees for a passage or sentence (queries get the same normalisation)."""
    return normalize(text)


def build_index(settings: Settings, progress: ProgressFactory | None = None,
                embedder: Embedder | None = None) -> BuildReport:
    """Build a complete index in a new directory and swap it in; on any failure the previous index keeps serving."""
    started = time.perf_counter()
    documents = load_corpus(settings.corpus_dir)
    chunk_settings = ChunkSettings(max_chars=settings.chunk_chars, overlap=settings.chunk_overlap)
    chunks = chunk_corpus(documents, chunk_settings)
    if not chunks:
        raise CorpusError(f"the corpus in {settings.corpus_dir} has headings but no body text to index; "
                          f"add paragraphs under the headings")
    by_id = {d.doc_id: d for d in documents}
    sentences = [store.Sentence(row, s, e) for row, c in enumerate(chunks)
                 for s, e in split_sentences(by_id[c.doc_id].text, c.start, c.end)]
    embedder = embedder or load_embedder(settings.model)

    texts = [passage_text(c.match_text) for c in chunks]
    texts += [passage_text(by_id[chunks[s.row].doc_id].text[s.start:s.end]) for s in sentences]
    with store.build_lock(settings.index_dir), \
            EmbeddingCache(settings.cache_path, embedder.model_id, embedder.dim) as cache:
        callback = progress(len(texts)) if progress else None
        vectors, hits = embed_with_cache(embedder, texts, cache, progress=callback)
        dense = DenseIndex.build(vectors[: len(chunks)], hnsw_threshold=settings.hnsw_threshold)
        chunk_terms = [tokenize(c.match_text) for c in chunks]
        sparse = SparseIndex.build(chunk_terms)
        build = store.new_build_dir(settings.index_dir)
        try:
            manifest = _manifest(settings, embedder, documents, chunks, dense, time.perf_counter() - started)
            store.write_build(build, manifest, documents, chunks, chunk_terms, dense, sparse, sentences,
                              np.asarray(vectors[len(chunks):], dtype=np.float32).reshape(-1, embedder.dim))
            store.swap_in(settings.index_dir, build)
        except BaseException:
            shutil.rmtree(build, ignore_errors=True)
            raise
    return BuildReport(documents=len(documents), chunks=len(chunks), sentences=len(sentences),
                       seconds=time.perf_counter() - started, embedded=len(texts), cache_hits=hits)


def _manifest(settings: Settings, embedder: Embedder, documents: list[Document], chunks: list[Chunk],
              dense: DenseIndex, seconds: float) -> dict[str, object]:
    return {
        "model": {"spec": settings.model, "id": embedder.model_id, "dim": embedder.dim},
        "chunking": {"max_chars": settings.chunk_chars, "overlap": settings.chunk_overlap},
        "dense": {"kind": dense.kind, "hnsw_threshold": settings.hnsw_threshold},
        "corpus": {"dir": str(settings.corpus_dir), "fingerprint": corpus_fingerprint(documents),
                   "documents": len(documents), "chunks": len(chunks)},
        "built_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "build_seconds": round(seconds, 2),
    }
