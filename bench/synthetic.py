"""A synthetic corpus for bench_scale.py: real DRCD sentences recombined, pseudo-random vectors with topic structure."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from qa.chunking import Chunk, split_sentences
from qa.corpus import Document
from qa.index.layout import CHUNK_VECTORS
from qa.index.writer import BuildWriter
from qa.tokens import tokenize

CHUNKS_PER_DOCUMENT = 4
VECTOR_BATCH = 20_000
CHUNK_NOISE = 0.6  # how far a chunk's vector lies from its paragraph's topic vector (both unit length)
SENTENCE_NOISE = 0.5
QUERY_NOISE = 0.3


def _unit(rows: np.ndarray) -> np.ndarray:
    return (rows / np.linalg.norm(rows, axis=1, keepdims=True)).astype(np.float32)


class SyntheticCorpus:
    def __init__(self, drcd: Path, dim: int, seed: int = 0) -> None:
        records = [json.loads(line) for line in (drcd / "corpus.jsonl").read_text(encoding="utf-8").splitlines()
                   if line.strip()]
        self.ids = [r["id"] for r in records]
        self.titles = [r["title"] for r in records]
        self.sentences = [[r["text"][s:e] for s, e in split_sentences(r["text"])] for r in records]
        self.n_topics = len(records)
        self.dim = dim
        self.seed = seed
        self.topic_vectors = _unit(np.random.default_rng(seed).standard_normal((self.n_topics, dim)))
        self.topics: list[int] = []  # topic of each chunk row
        self.first_row: dict[int, int] = {}  # first chunk row of each topic
        self._token_ids: dict[tuple[int, int], np.ndarray] = {}

    def documents(self, n_chunks: int, token_ids: Callable[[list[str]], np.ndarray]
                  ) -> Iterator[tuple[Document, list[Chunk], list[list[tuple[int, int]]], list[np.ndarray]]]:
        rng = np.random.default_rng(self.seed + 1)
        number = 0
        while len(self.topics) < n_chunks:
            topic = int(rng.integers(self.n_topics))
            doc_id, title = f"syn{number:07d}", f"{self.titles[topic]} 编号QX{number:07d}"
            title_ids = token_ids(tokenize(title))
            text, chunks, spans, ids = "", [], [], []
            for ordinal in range(min(CHUNKS_PER_DOCUMENT, n_chunks - len(self.topics))):
                picked = self._pick(rng, topic)
                start = len(text)
                sentence_spans = []
                for p, s in picked:
                    sentence_spans.append((len(text), len(text) + len(self.sentences[p][s])))
                    text += self.sentences[p][s]
                chunks.append(Chunk(f"{doc_id}:{ordinal}", doc_id, start, len(text), text[start:], (title,)))
                spans.append(sentence_spans)
                ids.append(np.concatenate([title_ids, *(self._ids(p, s, token_ids) for p, s in picked)]))
                self.first_row.setdefault(topic, len(self.topics))
                self.topics.append(topic)
                text += "\n\n"
            number += 1
            yield Document(doc_id, title, text.rstrip("\n")), chunks, spans, ids

    def _pick(self, rng: np.random.Generator, topic: int) -> list[tuple[int, int]]:
        """3-6 consecutive sentences of the topic's paragraph, then one sentence of another paragraph."""
        own = self.sentences[topic]
        count = min(len(own), int(rng.integers(3, 7)))
        first = int(rng.integers(len(own) - count + 1))
        other = int(rng.integers(self.n_topics))
        return [(topic, first + i) for i in range(count)] + [(other, int(rng.integers(len(self.sentences[other]))))]

    def _ids(self, p: int, s: int, token_ids: Callable[[list[str]], np.ndarray]) -> np.ndarray:
        if (p, s) not in self._token_ids:
            self._token_ids[p, s] = token_ids(tokenize(self.sentences[p][s]))
        return self._token_ids[p, s]

    def chunk_topics(self, writer: BuildWriter) -> Iterator[tuple[int, int, np.ndarray]]:
        topics = np.asarray(self.topics, dtype=np.int64)
        for first in range(0, writer.n_chunks, VECTOR_BATCH):
            part = topics[first:first + VECTOR_BATCH]
            yield first, len(part), part

    def chunk_vectors(self, first: int, count: int, topics: np.ndarray) -> np.ndarray:
        noise = np.random.default_rng((self.seed, 2, first)).standard_normal((count, self.dim), dtype=np.float32)
        noise /= np.sqrt(self.dim)
        return _unit(self.topic_vectors[topics] + CHUNK_NOISE * noise)

    def sentence_vectors(self, writer: BuildWriter, first: int, count: int,
                         chunk_vectors: np.ndarray) -> tuple[int, np.ndarray]:
        first_sentence, counts = writer.sentence_counts(first, count)
        base = np.repeat(chunk_vectors, counts, axis=0)
        noise = np.random.default_rng((self.seed, 3, first)).standard_normal(base.shape, dtype=np.float32)
        noise *= SENTENCE_NOISE / np.sqrt(self.dim)
        noise += base
        return first_sentence, _unit(noise)

    def questions(self, n: int, path: Path, drcd: Path) -> list[dict[str, Any]]:
        """Real DRCD questions whose paragraph is a topic of the index, each with a synthetic query vector."""
        vectors = np.load(path / CHUNK_VECTORS, mmap_mode="r")
        topic_of = {doc_id: i for i, doc_id in enumerate(self.ids)}
        rng = np.random.default_rng(self.seed + 4)
        out: list[dict[str, Any]] = []
        for line in (drcd / "questions.jsonl").read_text(encoding="utf-8").splitlines():
            question = json.loads(line)
            row = self.first_row.get(topic_of[question["doc_id"]])
            if row is None or len(out) >= n:
                continue
            noise = rng.standard_normal(self.dim) / np.sqrt(self.dim)
            vector = _unit((vectors[row] + QUERY_NOISE * noise)[None, :])[0]
            out.append({"question": question["question"], "row": row, "vector": vector.round(5).tolist()})
        return out
