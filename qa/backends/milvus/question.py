"""MilvusQuestion: one question's reads from a published build (the QuestionView protocol over Milvus)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from qa.backends.milvus import schema
from qa.backends.milvus.client import in_list
from qa.backends.milvus.reader import MAX_LIMIT, MilvusReader, query_vector, reported, sparse_weights


class MilvusQuestion:
    """Fetches the candidate rows' vectors and BM25 weights once for the question's dense, BM25 and presence
    lookups; what it fetched goes with it when the request ends."""

    def __init__(self, reader: MilvusReader, vector: np.ndarray, terms: Sequence[str]) -> None:
        self.reader = reader
        self.target = reader.target  # for @reported's message
        self.build_id = reader.build_id
        self.vector = query_vector(vector)
        self.terms = list(terms)
        self._fetched: tuple[bytes, np.ndarray, list[dict[int, float]]] | None = None

    @property
    def _milvus(self) -> Any:
        return self.reader.milvus

    @reported
    def dense_search(self, k: int) -> list[tuple[int, float]]:
        k = min(int(k), self.reader.n_chunks, MAX_LIMIT)
        if k < 1:
            return []
        hits = self._milvus.search(self.reader.names["chunks"], data=[self.vector], anns_field="vector", limit=k,
                                   search_params={"metric_type": "IP", "params": {"ef": max(k, schema.HNSW_EF_SEARCH)}},
                                   output_fields=["id"])[0]
        return [(int(h["id"]), float(h["distance"])) for h in hits]

    @reported
    def dense_scores(self, rows: np.ndarray) -> np.ndarray:
        vectors, _ = self._rows(rows)
        return (vectors @ self.vector).astype(np.float32) if len(vectors) else np.zeros(0, dtype=np.float32)

    @reported
    def sparse_search(self, k: int) -> list[tuple[int, float]]:
        query = self.reader.query_weights(self.terms)
        k = min(int(k), self.reader.n_chunks)
        if not query or k < 1:
            return []
        # over-fetch, so ties at the cut are broken like the local backend (lower row first)
        limit = min(2 * k + 8, self.reader.n_chunks, MAX_LIMIT)
        hits = self._milvus.search(self.reader.names["chunks"], data=[query], anns_field="bm25", limit=limit,
                                   search_params={"metric_type": "IP"}, output_fields=["id"])[0]
        pairs = sorted(((int(h["id"]), float(h["distance"])) for h in hits if h["distance"] > 0),
                       key=lambda p: (-p[1], p[0]))
        return pairs[:k]

    @reported
    def sparse_scores(self, rows: np.ndarray) -> np.ndarray:
        query = self.reader.query_weights(self.terms)
        _, weights = self._rows(rows)
        return np.asarray([sum(w * row.get(t, 0.0) for t, w in query.items()) for row in weights], dtype=np.float32)

    @reported
    def term_presence(self, rows: np.ndarray) -> np.ndarray:
        known = self.reader.lookup(self.terms)
        ids = [entry[0] if (entry := known.get(t)) else -1 for t in self.terms]
        _, weights = self._rows(rows)
        return np.asarray([[tid in row for tid in ids] for row in weights], dtype=bool).reshape(len(weights), len(ids))

    @reported
    def best_sentence_scores(self, rows: np.ndarray) -> np.ndarray:
        wanted = [int(r) for r in rows]
        if not wanted:
            return np.zeros(0, dtype=np.float32)
        q = self.vector
        hits = self._milvus.search(
            self.reader.names["sentences"], data=[q], anns_field="vector", limit=min(len(set(wanted)), MAX_LIMIT),
            filter=in_list("row", sorted(set(wanted))), group_by_field="row", output_fields=["row"],
            search_params={"metric_type": "IP", "params": {"ef": max(len(wanted), schema.HNSW_EF_SEARCH)}})[0]
        best = {int(h["entity"]["row"]): float(h["distance"]) for h in hits}
        missing = sorted(set(wanted) - set(best))
        if missing:  # a row without sentences, or one the filtered graph walk did not reach: score it exactly
            for record in self._milvus.query(self.reader.names["sentences"], filter=in_list("row", missing),
                                             output_fields=["row", "vector"]):
                score = float(np.asarray(record["vector"], dtype=np.float32) @ q)
                row = int(record["row"])
                best[row] = max(best.get(row, score), score)
        return np.asarray([best.get(r, 0.0) for r in wanted], dtype=np.float32)

    @reported
    def sentence_scores(self, row: int) -> tuple[np.ndarray, np.ndarray]:
        records = sorted(self._milvus.query(self.reader.names["sentences"], filter=f"row == {int(row)}",
                                            output_fields=["id", "start", "end", "vector"]), key=lambda r: r["id"])
        if not records:
            return np.zeros((0, 2), dtype=np.int64), np.zeros(0, dtype=np.float32)
        spans = np.asarray([[r["start"], r["end"]] for r in records], dtype=np.int64)
        vectors = np.asarray([r["vector"] for r in records], dtype=np.float32)
        return spans, (vectors @ self.vector).astype(np.float32)

    def _rows(self, rows: np.ndarray) -> tuple[np.ndarray, list[dict[int, float]]]:
        """Dense vectors and BM25 weights of these rows, in order; one fetch serves the question's three lookups
        of its candidates."""
        wanted = np.asarray(rows, dtype=np.int64)
        key = wanted.tobytes()
        if self._fetched is not None and self._fetched[0] == key:
            return self._fetched[1], self._fetched[2]
        if wanted.size == 0:
            vectors, weights = np.zeros((0, 0), dtype=np.float32), []
        else:
            records = self._milvus.query(self.reader.names["chunks"], filter=in_list("id", np.unique(wanted).tolist()),
                                         output_fields=["id", "vector", "bm25"])
            by_row = {int(r["id"]): r for r in records}
            self.reader.require(wanted.tolist(), by_row, "chunk rows")
            vectors = np.asarray([by_row[r]["vector"] for r in wanted.tolist()], dtype=np.float32)
            weights = [sparse_weights(by_row[r]["bm25"]) for r in wanted.tolist()]
        self._fetched = (key, vectors, weights)
        return vectors, weights
