"""Publishing a build directory into new versioned Milvus collections, then serving it."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

from qa.backends.milvus import fields
from qa.backends.milvus.client import (
    KINDS,
    MilvusBackendError,
    Target,
    build_id_of,
    client,
    collection_name,
    create,
    dense_index_type,
    ensure_database,
    serving_build,
)
from qa.backends.milvus.lifecycle import drop_retired, switch_to
from qa.backends.milvus.rows import pack_weights
from qa.config import Settings
from qa.index import directory
from qa.index import manifest as manifests
from qa.index.files import BuildFiles
from qa.index.manifest import MilvusRecord

BATCH_ROWS = 1_000


def publish(settings: Settings, build_dir: Path) -> str:
    """Upload the build into new collections, serve it, drop builds retired past the grace period.

    Returns the build id. Readers switch when the serving record names it (last), so they never see half a build.
    """
    target = Target.from_settings(settings)
    ensure_database(target)
    files = BuildFiles.open(build_dir)  # a finished build, intact: checked before any upload
    try:
        return _publish(settings, target, files)
    finally:
        files.close()


def _publish(settings: Settings, target: Target, files: BuildFiles) -> str:
    milvus = client(target)
    build_dir, manifest = files.path, files.manifest
    build = build_id_of(build_dir)
    names = {kind: collection_name(build, kind) for kind in KINDS}
    if serving_build(target) == build:
        raise MilvusBackendError(f"build {build} is already the published one; build a new one with `qa index`")
    for name in names.values():
        if milvus.has_collection(name):  # left over from an interrupted publish of this same build
            milvus.drop_collection(name)
    dim = manifest.model.dim
    create(milvus, names["chunks"], fields.chunks(dim, dense_index_type(target)), _chunk_records(files))
    create(milvus, names["sentences"], fields.sentences(dim), _sentence_records(files))
    create(milvus, names["documents"], fields.documents(), _document_records(files))
    create(milvus, names["vocab"], fields.vocab(), _vocab_records(files))
    record = MilvusRecord(build_id=build, collections=names, vocabulary=files.sparse.n_terms,
                          schema=fields.SCHEMA_VERSION)
    published_at = time.time()
    create(milvus, names["manifest"], fields.manifest(), iter([[{
        "id": 0, "manifest": json.dumps(manifests.as_json(replace(manifest, backend="milvus", milvus=record)),
                                        ensure_ascii=False), "published_at": published_at,
        "retired_at": 0.0, fields.PAD_FIELD: fields.PAD}]]))
    switch_to(target, build, published_at)
    # The build directory stays as the local record of what was published.
    directory.record_published(build_dir, record)
    drop_retired(settings, now=published_at)
    return build


def _batched(n: int, make: Callable[[int, int], list[dict[str, Any]]]) -> Iterator[list[dict[str, Any]]]:
    for lo in range(0, n, BATCH_ROWS):
        yield make(lo, min(n, lo + BATCH_ROWS))


def _chunk_records(files: BuildFiles) -> Iterator[list[dict[str, Any]]]:
    for batch in files.chunk_records(BATCH_ROWS):
        info = files.docs.document_info(sorted({c.doc_id for c in batch}))
        out = []
        for c in batch:
            _check_bytes(c.text, fields.MAX_VARCHAR, f"chunk {c.row}", "lower QA_CHUNK_CHARS")
            weights = pack_weights(c.bm25)
            _check_bytes(weights, fields.MAX_VARCHAR, f"the BM25 weights of chunk {c.row}", "lower QA_CHUNK_CHARS")
            doc = info[c.doc_id]
            out.append({"id": c.row, "vector": c.vector, "bm25": c.bm25, "doc_idx": c.doc_idx, "doc_id": c.doc_id,
                        "start": c.start, "end": c.end, "ordinal": c.ordinal, "text": c.text,
                        "headings": json.dumps(list(c.headings), ensure_ascii=False), "sentences": c.sentences,
                        "weights": weights,
                        "doc": _doc_json(doc.title, doc.url, doc.date, doc.source, doc.kind)})
        yield out


def _sentence_records(files: BuildFiles) -> Iterator[list[dict[str, Any]]]:
    for batch in files.sentence_records(BATCH_ROWS):
        yield [{"id": s.index, "row": s.row, "start": s.start, "end": s.end, "vector": s.vector} for s in batch]


def _document_records(files: BuildFiles) -> Iterator[list[dict[str, Any]]]:
    batch: list[dict[str, Any]] = []
    for idx, doc in files.documents():
        _check_bytes(doc.doc_id, fields.MAX_DOC_ID_BYTES, f"document id {doc.doc_id!r}", "shorten the file name")
        for part, piece in enumerate(_text_parts(doc.text)):
            batch.append({"id": (idx << 16) + part, "idx": idx, "part": part, "doc_id": doc.doc_id,
                          "doc": _doc_json(doc.title, doc.url, doc.date, doc.source, doc.kind), "text": piece,
                          fields.PAD_FIELD: fields.PAD})
        if len(batch) >= BATCH_ROWS // 10:  # documents are large: smaller batches keep gRPC messages small
            yield batch
            batch = []
    yield batch


def _vocab_records(files: BuildFiles) -> Iterator[list[dict[str, Any]]]:
    items = files.sparse.vocabulary()

    def make(lo: int, hi: int) -> list[dict[str, Any]]:
        out = []
        for token, tid, df in items[lo:hi]:
            _check_bytes(token, fields.MAX_TOKEN_BYTES, f"token {token[:20]!r}…", "report it: tokens are words")
            out.append({"token": token, "tid": tid, "df": df, fields.PAD_FIELD: fields.PAD})
        return out

    return _batched(len(items), make)


def _doc_json(title: str, url: str | None, date: str | None, source: str | None, kind: str) -> str:
    value = json.dumps({"title": title, "url": url, "date": date, "source": source, "kind": kind},
                       ensure_ascii=False)
    _check_bytes(value, fields.MAX_VARCHAR, f"the metadata of document {title[:20]!r}…", "shorten its title")
    return value


def _text_parts(text: str) -> list[str]:
    """Split text so each part fits a VARCHAR (limits are in UTF-8 bytes; cuts never split a character)."""
    data = text.encode("utf-8")
    parts, start = [], 0
    while True:
        end = min(start + fields.TEXT_PART_BYTES, len(data))
        while end < len(data) and data[end] & 0xC0 == 0x80:  # a continuation byte: step back to the lead byte
            end -= 1
        parts.append(data[start:end].decode("utf-8"))
        if end >= len(data):
            return parts
        start = end


def _check_bytes(value: str, limit: int, what: str, fix: str) -> None:
    if len(value.encode("utf-8")) > limit:
        raise MilvusBackendError(f"{what} is longer than Milvus's {limit}-byte limit for this field; {fix}")
