"""MilvusQuestion: one question's reads from a published build (the QuestionView protocol over Milvus).

A question costs two round trips: one hybrid search over the chunks (dense and BM25 requests together) that
returns every field ranking and the sources need of each candidate (vector, BM25 weights, text, offsets, the
document's title, the sentence count), and one exact search of the candidates' sentences that returns each
sentence's offsets and cosine with the question. The term ids and document frequencies come from the vocabulary
the reader loaded with the build. What a question fetched is kept by its view and goes with it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from qa.backends.milvus import fields
from qa.backends.milvus.client import MilvusBackendError, in_list
from qa.backends.milvus.rows import (
    CHUNK_FIELDS,
    MAX_LIMIT,
    chunk_of,
    document_info_of,
    query_vector,
    reported,
    unpack_weights,
)
from qa.chunking import Chunk
from qa.corpus import DocumentInfo

if TYPE_CHECKING:  # the reader makes a question's view; the view only reads through it
    from qa.backends.milvus.reader import MilvusReader

_Sentences = tuple[np.ndarray, np.ndarray]  # (spans (n, 2) int64, cosines (n,) float32) of one row, in order


class MilvusQuestion:
    """A question's view of a published build; rows it has fetched are answered from what it holds."""

    def __init__(self, reader: MilvusReader, vector: np.ndarray, terms: Sequence[str]) -> None:
        self.reader = reader
        self.target = reader.target  # for @reported's message
        self.build_id = reader.build_id
        self.vector = query_vector(vector)
        self.terms = list(terms)
        self.query = reader.query_weights(self.terms)  # the question's sparse vector: term id -> count
        # the query's term ids sorted, and how often each is asked, for scoring rows by their packed weights
        self._query_ids = np.asarray(sorted(self.query), dtype=np.int64)
        self._query_counts = np.asarray([self.query[t] for t in sorted(self.query)], dtype=np.float64)
        self._term_ids = np.asarray(reader.term_ids(self.terms), dtype=np.int64)
        self._records: dict[int, dict[str, Any]] = {}  # row -> chunk record
        self._weights: dict[int, tuple[np.ndarray, np.ndarray]] = {}  # row -> its BM25 (term ids, weights)
        self._sentences: dict[int, _Sentences] = {}

    @property
    def _milvus(self) -> Any:
        return self.reader.milvus

    @property
    def _names(self) -> dict[str, str]:
        return self.reader.names

    def _dense_params(self, k: int) -> dict[str, Any]:
        return {"metric_type": "IP", "params": {"ef": max(k, fields.HNSW_EF_SEARCH)}}

    @reported
    def candidates(self, n: int) -> np.ndarray:
        """The union of the dense and BM25 top-n rows, ascending, from one hybrid search that also fetches
        every field the question reads of them."""
        n = min(int(n), self.reader.n_chunks, MAX_LIMIT)
        if n < 1:
            return np.zeros(0, dtype=np.int64)
        # BM25 over-fetched, so ties at the cut are broken like the local backend (lower row first)
        sparse_limit = min(2 * n + 8, self.reader.n_chunks, MAX_LIMIT)
        hits = self._search_chunks(n, sparse_limit)
        self._keep([h["entity"] for h in hits])
        rows = np.asarray(sorted(self._records), dtype=np.int64)
        dense = self.dense_scores(rows)
        dense_top = rows[np.lexsort((rows, -dense))][:n]
        sparse = self.sparse_scores(rows)
        positive = sparse > 0
        sparse_top = rows[positive][np.lexsort((rows[positive], -sparse[positive]))][:n]
        return np.union1d(dense_top, sparse_top)

    def _search_chunks(self, n: int, sparse_limit: int) -> list[Any]:
        from pymilvus import AnnSearchRequest, RRFRanker

        name = self._names["chunks"]
        if not self.query:  # no term of the question is in the corpus: the dense request alone
            return list(self._milvus.search(name, data=[self.vector], anns_field="vector", limit=n,
                                            search_params=self._dense_params(n), output_fields=CHUNK_FIELDS)[0])
        requests = [AnnSearchRequest(data=[self.vector], anns_field="vector", param=self._dense_params(n), limit=n),
                    AnnSearchRequest(data=[self.query], anns_field="bm25", param={"metric_type": "IP"},
                                     limit=sparse_limit)]
        # the ranker's fused order is not used (scores are recomputed exactly from the fields); the limit keeps all
        return list(self._milvus.hybrid_search(name, requests, RRFRanker(), limit=min(n + sparse_limit, MAX_LIMIT),
                                               output_fields=CHUNK_FIELDS)[0])

    def _keep(self, records: list[dict[str, Any]]) -> None:
        for record in records:
            row = int(record["id"])
            self._records[row] = record
            self._weights[row] = unpack_weights(record["weights"])

    def _fetch(self, rows: np.ndarray) -> list[dict[str, Any]]:
        """The records of these rows, fetching those this question has not seen in one query."""
        wanted = [int(r) for r in rows]
        missing = sorted(set(wanted) - set(self._records))
        if missing:
            self._keep(list(self.reader.chunk_records(missing).values()))
        return [self._records[r] for r in wanted]

    @reported
    def dense_search(self, k: int) -> list[tuple[int, float]]:
        k = min(int(k), self.reader.n_chunks, MAX_LIMIT)
        if k < 1:
            return []
        hits = self._milvus.search(self._names["chunks"], data=[self.vector], anns_field="vector", limit=k,
                                   search_params=self._dense_params(k), output_fields=["id"])[0]
        return [(int(h["id"]), float(h["distance"])) for h in hits]

    @reported
    def dense_scores(self, rows: np.ndarray) -> np.ndarray:
        records = self._fetch(rows)
        if not records:
            return np.zeros(0, dtype=np.float32)
        return (np.asarray([r["vector"] for r in records], dtype=np.float32) @ self.vector).astype(np.float32)

    @reported
    def sparse_search(self, k: int) -> list[tuple[int, float]]:
        k = min(int(k), self.reader.n_chunks)
        if not self.query or k < 1:
            return []
        limit = min(2 * k + 8, self.reader.n_chunks, MAX_LIMIT)
        hits = self._milvus.search(self._names["chunks"], data=[self.query], anns_field="bm25", limit=limit,
                                   search_params={"metric_type": "IP"}, output_fields=["id"])[0]
        pairs = sorted(((int(h["id"]), float(h["distance"])) for h in hits if h["distance"] > 0),
                       key=lambda p: (-p[1], p[0]))
        return pairs[:k]

    @reported
    def sparse_scores(self, rows: np.ndarray) -> np.ndarray:
        owner, at, weights = self._matches(rows)
        scores = np.bincount(owner, weights=weights.astype(np.float64) * self._query_counts[at], minlength=len(rows))
        return scores.astype(np.float32)

    @reported
    def term_presence(self, rows: np.ndarray) -> np.ndarray:
        owner, at, _ = self._matches(rows)
        present = np.zeros((len(rows), len(self._query_ids)), dtype=bool)
        present[owner, at] = True
        out = np.zeros((len(rows), len(self._term_ids)), dtype=bool)
        known = self._term_ids >= 0
        out[:, known] = present[:, np.searchsorted(self._query_ids, self._term_ids[known])]
        return out

    def _matches(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Every weight of the rows that belongs to a term of the question: its row's position in rows, its term's
        position in the sorted query ids, the weight (all rows at once: numpy calls per row cost more)."""
        self._fetch(rows)
        parts = [self._weights[int(r)] for r in rows]
        lengths = [len(ids) for ids, _ in parts]
        if not len(self._query_ids) or not sum(lengths):
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
        ids = np.concatenate([ids for ids, _ in parts])
        owner = np.repeat(np.arange(len(rows)), lengths)
        at = np.minimum(np.searchsorted(self._query_ids, ids), len(self._query_ids) - 1)
        hit = self._query_ids[at] == ids
        return owner[hit], at[hit], np.concatenate([w for _, w in parts])[hit]

    @reported
    def best_sentence_scores(self, rows: np.ndarray) -> np.ndarray:
        self._fetch_sentences(rows)
        return np.asarray([float(self._sentences[int(r)][1].max()) if len(self._sentences[int(r)][1]) else 0.0
                           for r in rows], dtype=np.float32)

    @reported
    def sentence_scores(self, row: int) -> tuple[np.ndarray, np.ndarray]:
        self._fetch_sentences(np.asarray([row]))
        return self._sentences[int(row)]

    @reported
    def chunks(self, rows: Sequence[int]) -> list[Chunk]:
        return [chunk_of(r) for r in self._fetch(np.asarray(rows, dtype=np.int64))]

    @reported
    def document_info(self, doc_ids: Sequence[str]) -> dict[str, DocumentInfo]:
        wanted = set(doc_ids)
        held: dict[str, DocumentInfo] = {}
        for record in self._records.values():  # parsed only for the documents asked for
            if record["doc_id"] in wanted and record["doc_id"] not in held:
                held[record["doc_id"]] = document_info_of(record)
        missing = sorted(wanted - set(held))
        if missing:
            held.update(self.reader.document_info(missing))
        return {d: held[d] for d in doc_ids if d in held}

    def _fetch_sentences(self, rows: np.ndarray) -> None:
        """Every sentence of the rows not fetched yet, with its cosine: one exact search filtered to those rows
        (its limit is their sentence count, from their chunk records), or one per 16,384 sentences."""
        missing = sorted({int(r) for r in rows} - set(self._sentences))
        if not missing:
            return
        counts = {int(r["id"]): int(r["sentences"]) for r in self._fetch(np.asarray(missing))}
        found: dict[int, list[tuple[int, int, int, float]]] = {r: [] for r in missing}
        for batch in _batches(missing, counts):
            expected = sum(counts[r] for r in batch)
            hits = self._milvus.search(self._names["sentences"], data=[self.vector], anns_field="vector",
                                       limit=expected, filter=in_list("row", batch),
                                       search_params={"metric_type": "IP"}, output_fields=["row", "start", "end"])[0]
            if len(hits) != expected:
                raise MilvusBackendError(f"Milvus collection {self._names['sentences']} returned {len(hits)} of the "
                                         f"{expected} sentences of rows {batch[:5]}: the build is incomplete; "
                                         f"publish it again with `qa index --backend milvus`")
            for h in hits:
                e = h["entity"]
                found[int(e["row"])].append((int(h["id"]), int(e["start"]), int(e["end"]), float(h["distance"])))
        for row, sentences in found.items():
            sentences.sort()
            self._sentences[row] = (np.asarray([[s, e] for _, s, e, _ in sentences], dtype=np.int64).reshape(-1, 2),
                                    np.asarray([c for *_, c in sentences], dtype=np.float32))


def _batches(rows: list[int], counts: dict[int, int]) -> list[list[int]]:
    """Rows grouped so that no group holds more than MAX_LIMIT sentences (one search each); rows without
    sentences need no search."""
    out: list[list[int]] = []
    total = 0
    for row in rows:
        if not counts[row]:
            continue
        if not out or total + counts[row] > MAX_LIMIT:
            out.append([])
            total = 0
        out[-1].append(row)
        total += counts[row]
    return out
