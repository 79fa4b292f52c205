"""Publishing a format-2 build directory into new versioned Milvus collections, then moving the aliases."""

from __future__ import annotations

import contextlib
import itertools
import json
import logging
import sqlite3
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
from scipy import sparse as sp

from qa.backends.milvus import schema
from qa.backends.milvus.client import (
    KINDS,
    MilvusBackendError,
    Target,
    alias_exists,
    alias_name,
    build_id_of,
    build_of_collection,
    client,
    collection_name,
    current_alias_target,
    ensure_database,
    ensure_loaded,
)
from qa.config import Settings
from qa.index import builds, layout

log = logging.getLogger(__name__)
BATCH_ROWS = 1_000


def publish(settings: Settings, build_dir: Path) -> str:
    """Upload the build into new collections, point the aliases at them, drop builds retired past the grace period.

    Returns the build id. Readers switch when the manifest alias moves (last), so they never see half a build.
    """
    target = Target.from_settings(settings)
    ensure_database(target)
    milvus = client(target)
    manifest = builds.read_manifest(build_dir)  # a finished format-2 build, intact: checked before any upload
    builds.verify_files(build_dir, manifest)
    build = build_id_of(build_dir)
    names = {kind: collection_name(build, kind) for kind in KINDS}
    if current_alias_target(target) == names["manifest"]:
        raise MilvusBackendError(f"build {build} is already the published one; build a new one with `qa index`")
    for name in names.values():
        if milvus.has_collection(name):  # left over from an interrupted publish of this same build
            milvus.drop_collection(name)
    dim = int(manifest["model"]["dim"])
    _create(milvus, names["chunks"], schema.chunks(dim), _chunk_records(build_dir))
    _create(milvus, names["sentences"], schema.sentences(dim), _sentence_records(build_dir))
    _create(milvus, names["documents"], schema.documents(), _document_records(build_dir))
    _create(milvus, names["vocab"], schema.vocab(), _vocab_records(build_dir))
    record = {**manifest, "backend": "milvus", "milvus": {"build_id": build, "collections": names}}
    published_at = time.time()
    _create(milvus, names["manifest"], schema.manifest(), iter([[{
        "id": 0, "manifest": json.dumps(record, ensure_ascii=False), "published_at": published_at,
        schema.PAD_FIELD: schema.PAD}]]))
    for kind in KINDS:  # the manifest alias last: that is the switch readers follow
        _point_alias(milvus, alias_name(kind), names[kind])
    # The build directory stays as the local record of what was published.
    manifest.update(backend="milvus", milvus=record["milvus"])
    tmp = build_dir / (layout.MANIFEST + ".tmp")
    tmp.write_text(json.dumps(manifest, ensure_ascii=False, indent=2), encoding="utf-8")
    tmp.replace(build_dir / layout.MANIFEST)
    drop_retired(settings, now=published_at)
    return build


def drop_retired(settings: Settings, now: float | None = None) -> list[str]:
    """Drop builds replaced more than QA_BUILD_GRACE_SECONDS ago (replaced = the next one was published); the
    current build and the one before it are always kept, like the local backend's."""
    milvus = client(Target.from_settings(settings))
    now = time.time() if now is None else now
    current = build_of_collection(current_alias_target(Target.from_settings(settings)) or "")
    builds: dict[str, list[str]] = {}
    for name in milvus.list_collections():
        build = build_of_collection(name)
        if build is not None:
            builds.setdefault(build, []).append(name)
    published = {b: _published_at(milvus, b) for b in builds}
    order = sorted(builds, key=lambda b: published[b])
    previous = order[-2] if len(order) > 1 and order[-1] == current else None
    dropped = []
    for older, newer in itertools.pairwise(order):
        if older not in (current, previous) and now - published[newer] >= settings.build_grace_seconds:
            for name in builds[older]:
                milvus.drop_collection(name)
            dropped.append(older)
    if dropped:
        log.info("dropped retired Milvus builds %s", ", ".join(dropped))
    return dropped


def rollback(settings: Settings) -> str:
    """Point the aliases back at the build published before the current one; servers follow like after a publish."""
    target = Target.from_settings(settings)
    milvus = client(target)
    current = build_of_collection(current_alias_target(target) or "")
    builds = {b for name in milvus.list_collections() if (b := build_of_collection(name)) is not None}
    published = {b: _published_at(milvus, b) for b in builds}
    older = [b for b in builds if current is not None and 0 < published[b] < published[current]]
    if not older:
        raise MilvusBackendError(f"no earlier build in Milvus at {target.uri} to roll back to (builds older than "
                                 f"the previous one are dropped after QA_BUILD_GRACE_SECONDS)")
    previous = max(older, key=lambda b: published[b])
    for kind in KINDS:
        _point_alias(milvus, alias_name(kind), collection_name(previous, kind))
    return previous


def _published_at(milvus: Any, build: str) -> float:
    """When the build went live; a build without a manifest record never did (a failed publish): oldest."""
    name = collection_name(build, "manifest")
    if not milvus.has_collection(name):
        return 0.0
    ensure_loaded(milvus, name)
    rows = milvus.query(name, filter="id == 0", output_fields=["published_at"])
    return float(rows[0]["published_at"]) if rows else 0.0


def _point_alias(milvus: Any, alias: str, collection: str) -> None:
    if alias_exists(milvus, alias):
        milvus.alter_alias(collection_name=collection, alias=alias)
    else:
        milvus.create_alias(collection_name=collection, alias=alias)


def _create(milvus: Any, name: str, definition: tuple[Any, Any], batches: Iterator[list[dict[str, Any]]]) -> None:
    collection_schema, index_params = definition
    milvus.create_collection(name, schema=collection_schema)
    for batch in batches:
        if batch:
            milvus.insert(name, batch)
    milvus.flush(name)
    # Indexes built once over all rows; sync=False skips pymilvus's fixed half-second polls per index, and
    # loading waits for them to finish anyway.
    milvus.create_index(name, index_params, sync=False)
    milvus.load_collection(name)


def _batched(n: int, make: Callable[[int, int], list[dict[str, Any]]]) -> Iterator[list[dict[str, Any]]]:
    for lo in range(0, n, BATCH_ROWS):
        yield make(lo, min(n, lo + BATCH_ROWS))


def _chunk_records(build_dir: Path) -> Iterator[list[dict[str, Any]]]:
    meta = np.load(build_dir / layout.CHUNK_META, mmap_mode="r")
    vectors = np.load(build_dir / layout.CHUNK_VECTORS, mmap_mode="r")
    weights = _bm25_rows(build_dir / layout.SPARSE, len(meta))
    with _docs(build_dir) as db:
        doc_ids = dict(db.execute("SELECT idx, doc_id FROM documents"))
        for lo in range(0, len(meta), BATCH_ROWS):  # chunk texts are read a batch at a time, like the vectors
            texts = db.execute("SELECT row, text, headings FROM chunks WHERE row >= ? AND row < ? ORDER BY row",
                               (lo, lo + BATCH_ROWS)).fetchall()
            out = []
            for row, text, headings in texts:
                doc_idx, start, end, ordinal = (int(v) for v in meta[row])
                _check_bytes(text, schema.MAX_VARCHAR, f"chunk {row}", "lower QA_CHUNK_CHARS")
                out.append({"id": row, "vector": np.asarray(vectors[row], dtype=np.float32),
                            "bm25": _sparse_row(weights, row), "doc_idx": doc_idx, "doc_id": doc_ids[doc_idx],
                            "start": start, "end": end, "ordinal": ordinal, "text": text, "headings": headings})
            yield out


@contextlib.contextmanager
def _docs(build_dir: Path) -> Iterator[sqlite3.Connection]:
    with contextlib.closing(sqlite3.connect(f"file:{build_dir / layout.DOCS}?mode=ro", uri=True)) as db:
        yield db


def _sentence_records(build_dir: Path) -> Iterator[list[dict[str, Any]]]:
    bounds = np.load(build_dir / layout.SENTENCE_BOUNDS)
    spans = np.load(build_dir / layout.SENTENCE_SPANS, mmap_mode="r")
    vectors = np.load(build_dir / layout.SENTENCE_VECTORS, mmap_mode="r")
    rows = np.repeat(np.arange(len(bounds) - 1), np.diff(bounds))

    def make(lo: int, hi: int) -> list[dict[str, Any]]:
        return [{"id": i, "row": int(rows[i]), "start": int(spans[i][0]), "end": int(spans[i][1]),
                 "vector": np.asarray(vectors[i], dtype=np.float32)} for i in range(lo, hi)]

    return _batched(len(rows), make)


def _document_records(build_dir: Path) -> Iterator[list[dict[str, Any]]]:
    with _docs(build_dir) as db:
        cursor = db.execute("SELECT idx, doc_id, title, url, date, source, text FROM documents ORDER BY idx")
        batch: list[dict[str, Any]] = []
        for idx, doc_id, title, url, date, source, text in cursor:
            _check_bytes(doc_id, schema.MAX_DOC_ID_BYTES, f"document id {doc_id!r}", "shorten the file name")
            for part, piece in enumerate(_text_parts(text)):
                batch.append({"id": (idx << 16) + part, "idx": idx, "part": part, "doc_id": doc_id, "title": title,
                              "url": url, "date": date, "source": source, "text": piece,
                              schema.PAD_FIELD: schema.PAD})
            if len(batch) >= BATCH_ROWS // 10:  # documents are large: smaller batches keep gRPC messages small
                yield batch
                batch = []
        yield batch


def _vocab_records(build_dir: Path) -> Iterator[list[dict[str, Any]]]:
    directory = build_dir / layout.SPARSE
    vocab: dict[str, int] = json.loads((directory / "vocab.index.json").read_text(encoding="utf-8"))
    df = np.diff(np.load(directory / "indptr.csc.index.npy"))
    items = sorted(vocab.items(), key=lambda item: item[1])

    def make(lo: int, hi: int) -> list[dict[str, Any]]:
        out = []
        for token, tid in items[lo:hi]:
            _check_bytes(token, schema.MAX_TOKEN_BYTES, f"token {token[:20]!r}…", "report it: tokens are words")
            out.append({"token": token, "tid": tid, "df": int(df[tid]), schema.PAD_FIELD: schema.PAD})
        return out

    return _batched(len(items), make)


def _bm25_rows(directory: Path, n_rows: int) -> sp.csr_matrix:
    """bm25s stores (row, token) weights column-wise; a chunk's sparse vector is one row of that matrix."""
    data, indices, indptr = (np.load(directory / f"{name}.csc.index.npy") for name in ("data", "indices", "indptr"))
    return sp.csc_matrix((data, indices, indptr), shape=(n_rows, len(indptr) - 1)).tocsr()


def _sparse_row(matrix: sp.csr_matrix, row: int) -> dict[int, float]:
    lo, hi = matrix.indptr[row], matrix.indptr[row + 1]
    return {int(t): float(w) for t, w in zip(matrix.indices[lo:hi], matrix.data[lo:hi], strict=True) if w}


def _text_parts(text: str) -> list[str]:
    """Split text so each part fits a VARCHAR (limits are in UTF-8 bytes; cuts never split a character)."""
    data = text.encode("utf-8")
    parts, start = [], 0
    while True:
        end = min(start + schema.TEXT_PART_BYTES, len(data))
        while end < len(data) and data[end] & 0xC0 == 0x80:  # a continuation byte: step back to the lead byte
            end -= 1
        parts.append(data[start:end].decode("utf-8"))
        if end >= len(data):
            return parts
        start = end


def _check_bytes(value: str, limit: int, what: str, fix: str) -> None:
    if len(value.encode("utf-8")) > limit:
        raise MilvusBackendError(f"{what} is longer than Milvus's {limit}-byte limit for this field; {fix}")
