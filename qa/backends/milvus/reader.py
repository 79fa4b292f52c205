"""MilvusReader: the IndexReader protocol answered from a published build's Milvus collections."""

from __future__ import annotations

import functools
import json
import threading
from collections import Counter, OrderedDict
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar, cast

import numpy as np

from qa.backends.milvus import schema
from qa.backends.milvus.client import (
    MilvusBackendError,
    Target,
    client,
    collection_name,
    current_alias_target,
    ensure_loaded,
    in_list,
    literal,
)
from qa.chunking import Chunk
from qa.config import Settings
from qa.corpus import Document, DocumentInfo

F = TypeVar("F", bound=Callable[..., Any])
_CACHE_ROWS = 16  # row sets whose vectors were fetched: one question asks dense, BM25 and presence of the same rows
_CACHE_TERMS = 4_096
# Milvus's largest top-k; no question asks for more candidates than this.
MAX_LIMIT = 16_384


def _reported(method: F) -> F:
    """A failed Milvus call becomes a MilvusBackendError (a 503 with the reason), not an unexpected 500."""
    from pymilvus.exceptions import MilvusException

    @functools.wraps(method)
    def call(self: MilvusReader, *args: Any, **kwargs: Any) -> Any:
        try:
            return method(self, *args, **kwargs)
        except MilvusException as exc:
            raise MilvusBackendError(f"Milvus at {self.target.uri} failed in {method.__name__} ({exc.message}); "
                                     f"check that it is running and build {self.build_id} still exists") from exc

    return cast(F, call)


class MilvusReader:
    """A read-only published build; everything, manifest included, comes from Milvus (nothing local)."""

    def __init__(self, target: Target, manifest: Mapping[str, Any]) -> None:
        self.target = target
        self.manifest = manifest
        self._names: dict[str, str] = dict(manifest["milvus"]["collections"])
        self._rows_cache: OrderedDict[bytes, tuple[np.ndarray, list[dict[int, float]]]] = OrderedDict()
        self._terms_cache: OrderedDict[str, tuple[int, int] | None] = OrderedDict()
        self._lock = threading.Lock()

    @classmethod
    def open(cls, settings: Settings, build_id: str | None = None) -> MilvusReader:
        """One published build (by default the one the manifest alias points at now)."""
        target = Target.from_settings(settings)
        reader = cls(target, read_manifest(target, build_id))
        for name in reader._names.values():
            ensure_loaded(client(target), name)
        return reader

    @property
    def build_id(self) -> str:
        return str(self.manifest["milvus"]["build_id"])

    @property
    def n_chunks(self) -> int:
        return int(self.manifest["corpus"]["chunks"])

    @property
    def _milvus(self) -> Any:
        return client(self.target)  # per process: a reader loaded before fork reconnects in each worker

    @_reported
    def dense_search(self, vector: np.ndarray, k: int) -> list[tuple[int, float]]:
        k = min(int(k), self.n_chunks, MAX_LIMIT)
        if k < 1:
            return []
        hits = self._milvus.search(self._names["chunks"], data=[_query(vector)], anns_field="vector", limit=k,
                                   search_params={"metric_type": "IP", "params": {"ef": max(k, schema.HNSW_EF_SEARCH)}},
                                   output_fields=["id"])[0]
        return [(int(h["id"]), float(h["distance"])) for h in hits]

    @_reported
    def dense_scores(self, vector: np.ndarray, rows: np.ndarray) -> np.ndarray:
        vectors, _ = self._rows(rows)
        return (vectors @ _query(vector)).astype(np.float32) if len(vectors) else np.zeros(0, dtype=np.float32)

    @_reported
    def sparse_search(self, terms: Sequence[str], k: int) -> list[tuple[int, float]]:
        query = self._query_weights(terms)
        k = min(int(k), self.n_chunks)
        if not query or k < 1:
            return []
        # over-fetch, so ties at the cut are broken like the local backend (lower row first)
        limit = min(2 * k + 8, self.n_chunks, MAX_LIMIT)
        hits = self._milvus.search(self._names["chunks"], data=[query], anns_field="bm25", limit=limit,
                                   search_params={"metric_type": "IP"}, output_fields=["id"])[0]
        pairs = sorted(((int(h["id"]), float(h["distance"])) for h in hits if h["distance"] > 0),
                       key=lambda p: (-p[1], p[0]))
        return pairs[:k]

    @_reported
    def sparse_scores(self, terms: Sequence[str], rows: np.ndarray) -> np.ndarray:
        query = self._query_weights(terms)
        _, weights = self._rows(rows)
        return np.asarray([sum(w * row.get(t, 0.0) for t, w in query.items()) for row in weights], dtype=np.float32)

    @_reported
    def document_frequencies(self, terms: Sequence[str]) -> np.ndarray:
        known = self._lookup(terms)
        return np.asarray([entry[1] if (entry := known.get(t)) else 0 for t in terms], dtype=np.int64)

    @_reported
    def term_presence(self, terms: Sequence[str], rows: np.ndarray) -> np.ndarray:
        known = self._lookup(terms)
        ids = [entry[0] if (entry := known.get(t)) else -1 for t in terms]
        _, weights = self._rows(rows)
        return np.asarray([[tid in row for tid in ids] for row in weights], dtype=bool).reshape(len(weights), len(ids))

    @_reported
    def best_sentence_scores(self, vector: np.ndarray, rows: np.ndarray) -> np.ndarray:
        wanted = [int(r) for r in rows]
        if not wanted:
            return np.zeros(0, dtype=np.float32)
        q = _query(vector)
        hits = self._milvus.search(
            self._names["sentences"], data=[q], anns_field="vector", limit=min(len(set(wanted)), MAX_LIMIT),
            filter=in_list("row", sorted(set(wanted))), group_by_field="row", output_fields=["row"],
            search_params={"metric_type": "IP", "params": {"ef": max(len(wanted), schema.HNSW_EF_SEARCH)}})[0]
        best = {int(h["entity"]["row"]): float(h["distance"]) for h in hits}
        missing = sorted(set(wanted) - set(best))
        if missing:  # a row without sentences, or one the filtered graph walk did not reach: score it exactly
            for record in self._milvus.query(self._names["sentences"], filter=in_list("row", missing),
                                             output_fields=["row", "vector"]):
                score = float(np.asarray(record["vector"], dtype=np.float32) @ q)
                row = int(record["row"])
                best[row] = max(best.get(row, score), score)
        return np.asarray([best.get(r, 0.0) for r in wanted], dtype=np.float32)

    @_reported
    def sentence_scores(self, vector: np.ndarray, row: int) -> tuple[np.ndarray, np.ndarray]:
        records = sorted(self._milvus.query(self._names["sentences"], filter=f"row == {int(row)}",
                                            output_fields=["id", "start", "end", "vector"]), key=lambda r: r["id"])
        if not records:
            return np.zeros((0, 2), dtype=np.int64), np.zeros(0, dtype=np.float32)
        spans = np.asarray([[r["start"], r["end"]] for r in records], dtype=np.int64)
        vectors = np.asarray([r["vector"] for r in records], dtype=np.float32)
        return spans, (vectors @ _query(vector)).astype(np.float32)

    @_reported
    def chunks(self, rows: Sequence[int]) -> list[Chunk]:
        wanted = [int(r) for r in rows]
        if not wanted:
            return []
        records = self._milvus.query(self._names["chunks"], filter=in_list("id", sorted(set(wanted))),
                                     output_fields=["id", "doc_id", "start", "end", "ordinal", "text", "headings"])
        by_row = {int(r["id"]): r for r in records}
        self._require(wanted, by_row, "chunk rows")
        return [_chunk(by_row[r]) for r in wanted]

    @_reported
    def document_info(self, doc_ids: Sequence[str]) -> dict[str, DocumentInfo]:
        ids = sorted(set(doc_ids))
        if not ids:
            return {}
        records = self._milvus.query(self._names["documents"], filter=f"{in_list('doc_id', ids)} and part == 0",
                                     output_fields=["doc_id", "title", "url", "date", "source"])
        return {r["doc_id"]: DocumentInfo(doc_id=r["doc_id"], title=r["title"], url=r.get("url"),
                                          date=r.get("date"), source=r.get("source")) for r in records}

    @_reported
    def document(self, doc_id: str) -> Document | None:
        records = self._milvus.query(self._names["documents"], filter=f"doc_id == {literal(doc_id)}",
                                     output_fields=["part", "title", "url", "date", "source", "text"])
        if not records:
            return None
        records.sort(key=lambda r: r["part"])
        first = records[0]
        return Document(doc_id=doc_id, title=first["title"], text="".join(r["text"] for r in records),
                        url=first.get("url"), date=first.get("date"), source=first.get("source"))

    def close(self) -> None:
        """Nothing to release per reader: the process's Milvus connection is shared by every reader."""
        with self._lock:
            self._rows_cache.clear()

    def _rows(self, rows: np.ndarray) -> tuple[np.ndarray, list[dict[int, float]]]:
        """Dense vectors and BM25 weights of these rows, in order; one fetch serves a question's three lookups."""
        wanted = np.asarray(rows, dtype=np.int64)
        key = wanted.tobytes()
        with self._lock:
            if key in self._rows_cache:
                self._rows_cache.move_to_end(key)
                return self._rows_cache[key]
        if wanted.size == 0:
            result: tuple[np.ndarray, list[dict[int, float]]] = (np.zeros((0, 0), dtype=np.float32), [])
        else:
            records = self._milvus.query(self._names["chunks"], filter=in_list("id", np.unique(wanted).tolist()),
                                         output_fields=["id", "vector", "bm25"])
            by_row = {int(r["id"]): r for r in records}
            self._require(wanted.tolist(), by_row, "chunk rows")
            vectors = np.asarray([by_row[r]["vector"] for r in wanted.tolist()], dtype=np.float32)
            result = (vectors, [_weights(by_row[r]["bm25"]) for r in wanted.tolist()])
        with self._lock:
            self._rows_cache[key] = result
            while len(self._rows_cache) > _CACHE_ROWS:
                self._rows_cache.popitem(last=False)
        return result

    def _lookup(self, terms: Sequence[str]) -> dict[str, tuple[int, int] | None]:
        """(token id, document frequency) of each term, None for a term outside the vocabulary."""
        out: dict[str, tuple[int, int] | None] = {}
        with self._lock:
            for t in terms:
                if t in self._terms_cache:
                    out[t] = self._terms_cache[t]
        todo = sorted(set(terms) - set(out))
        if todo:
            records = self._milvus.query(self._names["vocab"], filter=in_list("token", todo),
                                         output_fields=["token", "tid", "df"])
            found = {r["token"]: (int(r["tid"]), int(r["df"])) for r in records}
            with self._lock:
                for t in todo:
                    out[t] = self._terms_cache[t] = found.get(t)
                while len(self._terms_cache) > _CACHE_TERMS:
                    self._terms_cache.popitem(last=False)
        return out

    def _query_weights(self, terms: Sequence[str]) -> dict[int, float]:
        """The query's sparse vector: token id → how often the term is asked (bm25s sums repeated ids)."""
        known = self._lookup(terms)
        counts = Counter(entry[0] for t in terms if (entry := known.get(t)))
        return {tid: float(n) for tid, n in counts.items()}

    def _require(self, wanted: Sequence[int], found: Mapping[int, Any], what: str) -> None:
        missing = [r for r in wanted if r not in found]
        if missing:
            raise MilvusBackendError(f"{what} {missing[:5]} are missing from Milvus collection "
                                     f"{self._names['chunks']}: the build is incomplete; publish it again "
                                     f"with `qa index --backend milvus`")


def read_manifest(target: Target, build_id: str | None = None) -> dict[str, Any]:
    """The manifest record of a build (by default the current one): one query on a one-row collection."""
    from pymilvus.exceptions import MilvusException

    milvus = client(target)
    name = current_alias_target(target) if build_id is None else collection_name(build_id, "manifest")
    if name is None:
        raise MilvusBackendError(f"no build is published in Milvus at {target.uri}: run "
                                 f"`qa index --backend milvus` with the same QA_MILVUS_URI")
    if not milvus.has_collection(name):
        raise MilvusBackendError(f"build {build_id} is not in Milvus at {target.uri} (dropped after its grace "
                                 f"period?); publish a build with `qa index --backend milvus`")
    try:
        ensure_loaded(milvus, name)
        rows = milvus.query(name, filter="id == 0", output_fields=["manifest"])
    except MilvusException as exc:  # e.g. the build was dropped between the two calls
        raise MilvusBackendError(f"cannot read the manifest of build collection {name} at {target.uri} "
                                 f"({exc.message}); retry, or publish again with `qa index --backend milvus`") from exc
    if not rows:
        raise MilvusBackendError(f"manifest collection {name} at {target.uri} is empty (an interrupted publish); "
                                 f"publish again with `qa index --backend milvus`")
    manifest: dict[str, Any] = json.loads(rows[0]["manifest"])
    return manifest


def _query(vector: np.ndarray) -> np.ndarray:
    return np.asarray(vector, dtype=np.float32).reshape(-1)


def _weights(value: Any) -> dict[int, float]:
    """pymilvus returns a sparse vector as {index: value}; keys may come back as strings over some transports."""
    return {int(k): float(v) for k, v in dict(value).items()}


def _chunk(record: Mapping[str, Any]) -> Chunk:
    doc_id = record["doc_id"]
    return Chunk(chunk_id=f"{doc_id}:{int(record['ordinal'])}", doc_id=doc_id, start=int(record["start"]),
                 end=int(record["end"]), text=record["text"], headings=tuple(json.loads(record["headings"])))
