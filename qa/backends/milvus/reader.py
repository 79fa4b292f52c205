"""MilvusReader: the IndexReader protocol answered from a published build's Milvus collections."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from qa.backends.milvus import fields
from qa.backends.milvus.client import (
    MilvusBackendError,
    Target,
    client,
    collection_name,
    ensure_loaded,
    in_list,
    literal,
    serving_build,
)
from qa.backends.milvus.question import MilvusQuestion
from qa.backends.milvus.rows import CHUNK_FIELDS, MAX_LIMIT, chunk_of, document_info_of, reported
from qa.chunking import Chunk
from qa.config import Settings
from qa.corpus import Document, DocumentInfo
from qa.index import manifest as manifests
from qa.index.manifest import Manifest, MilvusRecord

REPUBLISH = "publish it again with `qa index --backend milvus`"


class MilvusReader:
    """A read-only published build; everything, manifest included, comes from Milvus (nothing local)."""

    def __init__(self, target: Target, manifest: Manifest) -> None:
        self.target = target
        self.manifest = manifest
        self.published = published(manifest, target)
        self.names: dict[str, str] = dict(self.published.collections)
        # term -> (id, document frequency), read once at load like the local backend's BM25 vocabulary, so a
        # question's IDF weights and sparse vector cost no round trip
        self.vocabulary: dict[str, tuple[int, int]] = {}

    @classmethod
    def open(cls, settings: Settings, build_id: str | None = None) -> MilvusReader:
        """One published build (by default the one served now)."""
        target = Target.from_settings(settings)
        return cls.loaded(target, read_manifest(target, build_id))

    @classmethod
    def loaded(cls, target: Target, manifest: Manifest) -> MilvusReader:
        """A reader of the build this manifest describes, its collections loaded into Milvus's memory."""
        record = published(manifest, target)
        if record.schema != fields.SCHEMA_VERSION:
            raise MilvusBackendError(f"build {record.build_id} in Milvus at {target.uri} was published "
                                     f"with collection layout {record.schema}, this qa reads layout "
                                     f"{fields.SCHEMA_VERSION}; {REPUBLISH}")
        reader = cls(target, manifest)
        for name in reader.names.values():
            ensure_loaded(client(target), name)
        reader.vocabulary = reader._read_vocabulary(record.vocabulary)
        return reader

    @reported
    def _read_vocabulary(self, size: int) -> dict[str, tuple[int, int]]:
        """Every term of the build, a page of ids at a time (term ids are 0 .. size - 1)."""
        vocabulary: dict[str, tuple[int, int]] = {}
        for lo in range(0, size, MAX_LIMIT):
            hi = min(size, lo + MAX_LIMIT)
            for r in self.milvus.query(self.names["vocab"], filter=f"tid >= {lo} and tid < {hi}", limit=hi - lo,
                                       output_fields=["token", "tid", "df"]):
                vocabulary[r["token"]] = (int(r["tid"]), int(r["df"]))
        if len(vocabulary) != size:
            raise MilvusBackendError(f"Milvus collection {self.names['vocab']} holds {len(vocabulary)} of the build's "
                                     f"{size} terms: the build is incomplete; publish it again with "
                                     f"`qa index --backend milvus`")
        return vocabulary

    @property
    def build_id(self) -> str:
        return self.published.build_id

    @property
    def n_chunks(self) -> int:
        return self.manifest.corpus.chunks

    def question(self, vector: np.ndarray, terms: Sequence[str]) -> MilvusQuestion:
        return MilvusQuestion(self, vector, terms)

    @property
    def milvus(self) -> Any:
        return client(self.target)  # per process: a reader loaded before fork reconnects in each worker

    def document_frequencies(self, terms: Sequence[str]) -> np.ndarray:
        known = self.vocabulary
        return np.asarray([entry[1] if (entry := known.get(t)) else 0 for t in terms], dtype=np.int64)

    @reported
    def chunks(self, rows: Sequence[int]) -> list[Chunk]:
        wanted = [int(r) for r in rows]
        by_row = self.chunk_records(wanted)
        return [chunk_of(by_row[r]) for r in wanted]

    def chunk_records(self, rows: Sequence[int]) -> dict[int, dict[str, Any]]:
        """row -> its chunk record (every field ranking and sources read) for each given row, in one query."""
        wanted = sorted({int(r) for r in rows})
        if not wanted:
            return {}
        records = self.milvus.query(self.names["chunks"], filter=in_list("id", wanted), limit=len(wanted),
                                     output_fields=CHUNK_FIELDS)
        by_row = {int(r["id"]): r for r in records}
        self.require(wanted, by_row, "chunk rows")
        return by_row

    @reported
    def document_info(self, doc_ids: Sequence[str]) -> dict[str, DocumentInfo]:
        ids = sorted(set(doc_ids))
        if not ids:
            return {}
        records = self.milvus.query(self.names["documents"], filter=f"{in_list('doc_id', ids)} and part == 0",
                                     output_fields=["doc_id", "doc"])
        return {r["doc_id"]: document_info_of(r) for r in records}

    @reported
    def document(self, doc_id: str) -> Document | None:
        records = self.milvus.query(self.names["documents"], filter=f"doc_id == {literal(doc_id)}",
                                     output_fields=["part", "doc_id", "doc", "text"])
        if not records:
            return None
        records.sort(key=lambda r: r["part"])
        info = document_info_of(records[0])
        return Document(doc_id=doc_id, title=info.title, text="".join(r["text"] for r in records), url=info.url,
                        date=info.date, source=info.source, kind=info.kind)

    def close(self) -> None:
        """Nothing to release per reader: the process's Milvus connection is shared by every reader."""

    def query_weights(self, terms: Sequence[str]) -> dict[int, float]:
        """The query's sparse vector: token id → how often the term is asked (bm25s sums repeated ids)."""
        known = self.vocabulary
        counts = Counter(entry[0] for t in terms if (entry := known.get(t)))
        return {tid: float(n) for tid, n in counts.items()}

    def term_ids(self, terms: Sequence[str]) -> list[int]:
        """Each term's id in the sparse vectors, -1 for a term outside the vocabulary."""
        known = self.vocabulary
        return [entry[0] if (entry := known.get(t)) else -1 for t in terms]

    def require(self, wanted: Sequence[int], found: Mapping[int, Any], what: str) -> None:
        missing = [r for r in wanted if r not in found]
        if missing:
            raise MilvusBackendError(f"{what} {missing[:5]} are missing from Milvus collection "
                                     f"{self.names['chunks']}: the build is incomplete; publish it again "
                                     f"with `qa index --backend milvus`")


def read_manifest(target: Target, build_id: str | None = None) -> Manifest:
    """The manifest record of a build (by default the current one): one query on a one-row collection."""
    from pymilvus.exceptions import MilvusException

    milvus = client(target)
    build = serving_build(target) if build_id is None else build_id
    if build is None:
        raise MilvusBackendError(f"no build is published in Milvus at {target.uri}: run "
                                 f"`qa index --backend milvus` with the same QA_MILVUS_URI")
    name = collection_name(build, "manifest")
    if not milvus.has_collection(name):
        raise MilvusBackendError(f"build {build} is not in Milvus at {target.uri} (dropped after its grace "
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
    try:
        data = json.loads(rows[0]["manifest"])
    except ValueError as exc:
        raise MilvusBackendError(f"the manifest record in {name} at {target.uri} is not JSON ({exc}); "
                                 f"{REPUBLISH}") from None
    return manifests.parse(data, f"build {build} in Milvus at {target.uri}", REPUBLISH)


def published(manifest: Manifest, target: Target) -> MilvusRecord:
    """Where a build read from Milvus was published (its manifest record always says; a local one does not)."""
    if manifest.milvus is None:
        raise MilvusBackendError(f"a build in Milvus at {target.uri} has a manifest without its Milvus record; "
                                 f"{REPUBLISH}")
    return manifest.milvus
