"""MilvusReader: the IndexReader protocol answered from a published build's Milvus collections."""

from __future__ import annotations

import functools
import json
import threading
from collections import Counter, OrderedDict
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar, cast

import numpy as np

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

if TYPE_CHECKING:
    from qa.backends.milvus.question import MilvusQuestion

F = TypeVar("F", bound=Callable[..., Any])
_CACHE_TERMS = 4_096
# Milvus's largest top-k; no question asks for more candidates than this.
MAX_LIMIT = 16_384


def reported(method: F) -> F:
    """A failed Milvus call becomes a MilvusBackendError (a 503 with the reason), not an unexpected 500."""
    from pymilvus.exceptions import MilvusException

    @functools.wraps(method)
    def call(self: Any, *args: Any, **kwargs: Any) -> Any:
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
        self.names: dict[str, str] = dict(manifest["milvus"]["collections"])
        self._terms_cache: OrderedDict[str, tuple[int, int] | None] = OrderedDict()
        self._lock = threading.Lock()

    @classmethod
    def open(cls, settings: Settings, build_id: str | None = None) -> MilvusReader:
        """One published build (by default the one the manifest alias points at now)."""
        target = Target.from_settings(settings)
        return cls.loaded(target, read_manifest(target, build_id))

    @classmethod
    def loaded(cls, target: Target, manifest: Mapping[str, Any]) -> MilvusReader:
        """A reader of the build this manifest describes, its collections loaded into Milvus's memory."""
        reader = cls(target, manifest)
        for name in reader.names.values():
            ensure_loaded(client(target), name)
        return reader

    @property
    def build_id(self) -> str:
        return str(self.manifest["milvus"]["build_id"])

    @property
    def n_chunks(self) -> int:
        return int(self.manifest["corpus"]["chunks"])

    def question(self, vector: np.ndarray, terms: Sequence[str]) -> MilvusQuestion:
        from qa.backends.milvus.question import MilvusQuestion

        return MilvusQuestion(self, vector, terms)

    @property
    def milvus(self) -> Any:
        return client(self.target)  # per process: a reader loaded before fork reconnects in each worker

    @reported
    def document_frequencies(self, terms: Sequence[str]) -> np.ndarray:
        known = self.lookup(terms)
        return np.asarray([entry[1] if (entry := known.get(t)) else 0 for t in terms], dtype=np.int64)

    @reported
    def chunks(self, rows: Sequence[int]) -> list[Chunk]:
        wanted = [int(r) for r in rows]
        if not wanted:
            return []
        records = self.milvus.query(self.names["chunks"], filter=in_list("id", sorted(set(wanted))),
                                     output_fields=["id", "doc_id", "start", "end", "ordinal", "text", "headings"])
        by_row = {int(r["id"]): r for r in records}
        self.require(wanted, by_row, "chunk rows")
        return [_chunk(by_row[r]) for r in wanted]

    @reported
    def document_info(self, doc_ids: Sequence[str]) -> dict[str, DocumentInfo]:
        ids = sorted(set(doc_ids))
        if not ids:
            return {}
        records = self.milvus.query(self.names["documents"], filter=f"{in_list('doc_id', ids)} and part == 0",
                                     output_fields=["doc_id", "title", "url", "date", "source", "kind"])
        return {r["doc_id"]: DocumentInfo(doc_id=r["doc_id"], title=r["title"], url=r.get("url"),
                                          date=r.get("date"), source=r.get("source"), kind=r["kind"])
                for r in records}

    @reported
    def document(self, doc_id: str) -> Document | None:
        records = self.milvus.query(self.names["documents"], filter=f"doc_id == {literal(doc_id)}",
                                     output_fields=["part", "title", "url", "date", "source", "text", "kind"])
        if not records:
            return None
        records.sort(key=lambda r: r["part"])
        first = records[0]
        return Document(doc_id=doc_id, title=first["title"], text="".join(r["text"] for r in records),
                        url=first.get("url"), date=first.get("date"), source=first.get("source"), kind=first["kind"])

    def close(self) -> None:
        """Nothing to release per reader: the process's Milvus connection is shared by every reader."""


    def lookup(self, terms: Sequence[str]) -> dict[str, tuple[int, int] | None]:
        """(token id, document frequency) of each term, None for a term outside the vocabulary."""
        out: dict[str, tuple[int, int] | None] = {}
        with self._lock:
            for t in terms:
                if t in self._terms_cache:
                    out[t] = self._terms_cache[t]
        todo = sorted(set(terms) - set(out))
        if todo:
            records = self.milvus.query(self.names["vocab"], filter=in_list("token", todo),
                                         output_fields=["token", "tid", "df"])
            found = {r["token"]: (int(r["tid"]), int(r["df"])) for r in records}
            with self._lock:
                for t in todo:
                    out[t] = self._terms_cache[t] = found.get(t)
                while len(self._terms_cache) > _CACHE_TERMS:
                    self._terms_cache.popitem(last=False)
        return out

    def query_weights(self, terms: Sequence[str]) -> dict[int, float]:
        """The query's sparse vector: token id → how often the term is asked (bm25s sums repeated ids)."""
        known = self.lookup(terms)
        counts = Counter(entry[0] for t in terms if (entry := known.get(t)))
        return {tid: float(n) for tid, n in counts.items()}

    def require(self, wanted: Sequence[int], found: Mapping[int, Any], what: str) -> None:
        missing = [r for r in wanted if r not in found]
        if missing:
            raise MilvusBackendError(f"{what} {missing[:5]} are missing from Milvus collection "
                                     f"{self.names['chunks']}: the build is incomplete; publish it again "
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


def query_vector(vector: np.ndarray) -> np.ndarray:
    return np.asarray(vector, dtype=np.float32).reshape(-1)


def sparse_weights(value: Any) -> dict[int, float]:
    """pymilvus returns a sparse vector as {index: value}; keys may come back as strings over some transports."""
    return {int(k): float(v) for k, v in dict(value).items()}


def _chunk(record: Mapping[str, Any]) -> Chunk:
    doc_id = record["doc_id"]
    return Chunk(chunk_id=f"{doc_id}:{int(record['ordinal'])}", doc_id=doc_id, start=int(record["start"]),
                 end=int(record["end"]), text=record["text"], headings=tuple(json.loads(record["headings"])))
