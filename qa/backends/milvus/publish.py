"""Publishing a format-3 build directory into new versioned Milvus collections, then moving the aliases."""

from __future__ import annotations

import itertools
import json
import logging
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

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
from qa.index import builds
from qa.index.files import BuildFiles

log = logging.getLogger(__name__)
BATCH_ROWS = 1_000


def publish(settings: Settings, build_dir: Path) -> str:
    """Upload the build into new collections, point the aliases at them, drop builds retired past the grace period.

    Returns the build id. Readers switch when the manifest alias moves (last), so they never see half a build.
    """
    target = Target.from_settings(settings)
    ensure_database(target)
    files = BuildFiles.open(build_dir)  # a finished format-3 build, intact: checked before any upload
    try:
        return _publish(settings, target, files)
    finally:
        files.close()


def _publish(settings: Settings, target: Target, files: BuildFiles) -> str:
    milvus = client(target)
    build_dir, manifest = files.path, dict(files.manifest)
    build = build_id_of(build_dir)
    names = {kind: collection_name(build, kind) for kind in KINDS}
    if current_alias_target(target) == names["manifest"]:
        raise MilvusBackendError(f"build {build} is already the published one; build a new one with `qa index`")
    for name in names.values():
        if milvus.has_collection(name):  # left over from an interrupted publish of this same build
            milvus.drop_collection(name)
    dim = int(manifest["model"]["dim"])
    _create(milvus, names["chunks"], schema.chunks(dim), _chunk_records(files))
    _create(milvus, names["sentences"], schema.sentences(dim), _sentence_records(files))
    _create(milvus, names["documents"], schema.documents(), _document_records(files))
    _create(milvus, names["vocab"], schema.vocab(), _vocab_records(files))
    record = {**manifest, "backend": "milvus", "milvus": {"build_id": build, "collections": names}}
    published_at = time.time()
    _create(milvus, names["manifest"], schema.manifest(), iter([[{
        "id": 0, "manifest": json.dumps(record, ensure_ascii=False), "published_at": published_at,
        schema.PAD_FIELD: schema.PAD}]]))
    for kind in KINDS:  # the manifest alias last: that is the switch readers follow
        _point_alias(milvus, alias_name(kind), names[kind])
    # The build directory stays as the local record of what was published.
    builds.record_in_manifest(build_dir, backend="milvus", milvus=record["milvus"])
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


def _chunk_records(files: BuildFiles) -> Iterator[list[dict[str, Any]]]:
    for batch in files.chunk_records(BATCH_ROWS):
        out = []
        for c in batch:
            _check_bytes(c.text, schema.MAX_VARCHAR, f"chunk {c.row}", "lower QA_CHUNK_CHARS")
            out.append({"id": c.row, "vector": c.vector, "bm25": c.bm25, "doc_idx": c.doc_idx, "doc_id": c.doc_id,
                        "start": c.start, "end": c.end, "ordinal": c.ordinal, "text": c.text,
                        "headings": json.dumps(list(c.headings), ensure_ascii=False)})
        yield out


def _sentence_records(files: BuildFiles) -> Iterator[list[dict[str, Any]]]:
    for batch in files.sentence_records(BATCH_ROWS):
        yield [{"id": s.index, "row": s.row, "start": s.start, "end": s.end, "vector": s.vector} for s in batch]


def _document_records(files: BuildFiles) -> Iterator[list[dict[str, Any]]]:
    batch: list[dict[str, Any]] = []
    for idx, doc in files.documents():
        _check_bytes(doc.doc_id, schema.MAX_DOC_ID_BYTES, f"document id {doc.doc_id!r}", "shorten the file name")
        for part, piece in enumerate(_text_parts(doc.text)):
            batch.append({"id": (idx << 16) + part, "idx": idx, "part": part, "doc_id": doc.doc_id,
                          "title": doc.title, "url": doc.url, "date": doc.date, "source": doc.source, "text": piece,
                          "kind": doc.kind, schema.PAD_FIELD: schema.PAD})
        if len(batch) >= BATCH_ROWS // 10:  # documents are large: smaller batches keep gRPC messages small
            yield batch
            batch = []
    yield batch


def _vocab_records(files: BuildFiles) -> Iterator[list[dict[str, Any]]]:
    items = files.sparse.vocabulary()

    def make(lo: int, hi: int) -> list[dict[str, Any]]:
        out = []
        for token, tid, df in items[lo:hi]:
            _check_bytes(token, schema.MAX_TOKEN_BYTES, f"token {token[:20]!r}…", "report it: tokens are words")
            out.append({"token": token, "tid": tid, "df": df, schema.PAD_FIELD: schema.PAD})
        return out

    return _batched(len(items), make)


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
