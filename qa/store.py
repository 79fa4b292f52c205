"""The index directory on disk: versioned builds, manifest checks, atomic swap of the `current` link."""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from qa import __version__
from qa.chunking import Chunk
from qa.corpus import Document
from qa.dense import DenseIndex
from qa.errors import IndexCorruptError, IndexMismatchError, IndexNotFoundError
from qa.sparse import SparseIndex

FORMAT_VERSION = 1
MANIFEST = "manifest.json"
DOCUMENTS = "documents.jsonl"
CHUNKS = "chunks.jsonl"
DENSE = "dense.faiss"
SPARSE = "sparse"
SENTENCES = "sentences.jsonl"
TERMS = "terms.jsonl"
SENTENCE_VECTORS = "sentence-vectors.npy"
CURRENT = "current"
BUILDS = "builds"

REBUILD_HINT = "rebuild it with `qa index` (add --model SPEC to choose the model)"


@dataclass
class Sentence:
    """A sentence of a chunk: offsets are into its document's text."""

    row: int  # the chunk row it belongs to
    start: int
    end: int


@dataclass
class StoredIndex:
    path: Path
    manifest: dict[str, Any]
    documents: dict[str, Document]
    chunks: list[Chunk]
    chunk_terms: list[list[str]]  # the BM25 tokens of each chunk, row-aligned
    dense: DenseIndex
    sparse: SparseIndex
    sentences: list[Sentence]
    sentence_vectors: np.ndarray


def current_path(index_dir: Path) -> Path:
    return index_dir / CURRENT


@contextlib.contextmanager
def build_lock(index_dir: Path) -> Iterator[None]:
    """One build at a time per index directory; a second one fails instead of racing the swap."""
    index_dir.mkdir(parents=True, exist_ok=True)
    with open(index_dir / ".build.lock", "w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise IndexCorruptError(f"another `qa index` is already building into {index_dir}; wait for it") from None
        yield


def new_build_dir(index_dir: Path) -> Path:
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
    path = index_dir / BUILDS / f"{stamp}-{os.getpid()}-{time.monotonic_ns() % 10**6:06d}"
    path.mkdir(parents=True)
    return path


def write_build(path: Path, manifest: dict[str, Any], documents: list[Document], chunks: list[Chunk],
                chunk_terms: list[list[str]], dense: DenseIndex, sparse: SparseIndex,
                sentences: list[Sentence], sentence_vectors: np.ndarray) -> None:
    """Write every file, then the manifest (with checksums) last, so a manifest means a complete build."""
    _write_jsonl(path / DOCUMENTS, (asdict(d) for d in documents))
    _write_jsonl(path / CHUNKS, (_chunk_record(c) for c in chunks))
    _write_jsonl(path / TERMS, chunk_terms)
    _write_jsonl(path / SENTENCES, (asdict(s) for s in sentences))
    np.save(path / SENTENCE_VECTORS, sentence_vectors.astype(np.float32))
    dense.save(path / DENSE)
    sparse.save(path / SPARSE)
    manifest = {**manifest, "format_version": FORMAT_VERSION, "package_version": __version__,
                "files": {str(f.relative_to(path)): _sha256(f) for f in sorted(path.rglob("*")) if f.is_file()}}
    tmp = path / (MANIFEST + ".tmp")
    tmp.write_text(json.dumps(manifest, ensure_ascii=False, indent=2), encoding="utf-8")
    os.replace(tmp, path / MANIFEST)


def swap_in(index_dir: Path, build: Path) -> None:
    """Point `current` at the new build with one rename, then delete the builds nothing points at."""
    link = current_path(index_dir)
    tmp_link = index_dir / f".{CURRENT}.{os.getpid()}"
    with contextlib.suppress(FileNotFoundError):
        tmp_link.unlink()
    tmp_link.symlink_to(Path(BUILDS) / build.name)
    os.replace(tmp_link, link)
    for old in (index_dir / BUILDS).iterdir():
        if old.name != build.name:
            shutil.rmtree(old, ignore_errors=True)


def read_manifest(index_dir: Path) -> dict[str, Any]:
    path = current_path(index_dir) / MANIFEST
    if not path.exists():
        raise IndexNotFoundError(f"no index in {index_dir}: build it with `qa index` (or set QA_INDEX_DIR)")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise IndexCorruptError(f"unreadable {path} ({exc}); {REBUILD_HINT}") from exc
    if manifest.get("format_version") != FORMAT_VERSION:
        raise IndexMismatchError(
            f"index in {index_dir} has format version {manifest.get('format_version')}, this qa reads "
            f"{FORMAT_VERSION}; {REBUILD_HINT}")
    return manifest


def check_model(manifest: dict[str, Any], model_spec: str, index_dir: Path) -> None:
    built = manifest["model"]["spec"]
    if built != model_spec:
        raise IndexMismatchError(
            f"index in {index_dir} was built with model {built!r}, but this process uses {model_spec!r}; "
            f"{REBUILD_HINT}, or run with --model {built} / QA_MODEL={built}")


def load_build(index_dir: Path, model_spec: str) -> StoredIndex:
    manifest = read_manifest(index_dir)
    check_model(manifest, model_spec, index_dir)
    path = current_path(index_dir).resolve()
    _verify_files(path, manifest["files"])
    try:
        documents = [Document(**r) for r in _read_jsonl(path / DOCUMENTS)]
        chunks = [_chunk_from_record(r) for r in _read_jsonl(path / CHUNKS)]
        chunk_terms: list[list[str]] = _read_jsonl(path / TERMS)
        sentences = [Sentence(**r) for r in _read_jsonl(path / SENTENCES)]
        sentence_vectors = np.load(path / SENTENCE_VECTORS)
    except (OSError, ValueError, TypeError, KeyError) as exc:
        raise IndexCorruptError(f"index in {index_dir} is unreadable ({exc}); {REBUILD_HINT}") from exc
    return StoredIndex(path=path, manifest=manifest, documents={d.doc_id: d for d in documents}, chunks=chunks,
                       chunk_terms=chunk_terms, dense=DenseIndex.load(path / DENSE),
                       sparse=SparseIndex.load(path / SPARSE), sentences=sentences,
                       sentence_vectors=sentence_vectors)


def _verify_files(path: Path, files: dict[str, str]) -> None:
    for name, digest in files.items():
        file = path / name
        if not file.exists():
            raise IndexCorruptError(f"index file {file} is missing; {REBUILD_HINT}")
        if _sha256(file) != digest:
            raise IndexCorruptError(f"index file {file} is corrupt (checksum mismatch); {REBUILD_HINT}")


def _chunk_record(chunk: Chunk) -> dict[str, Any]:
    record = asdict(chunk)
    record["headings"] = list(chunk.headings)
    return record


def _chunk_from_record(record: dict[str, Any]) -> Chunk:
    return Chunk(**{**record, "headings": tuple(record["headings"])})


def _write_jsonl(path: Path, records: Any) -> None:
    with open(path, "w", encoding="utf-8") as out:
        for record in records:
            out.write(json.dumps(record, ensure_ascii=False) + "\n")


def _read_jsonl(path: Path) -> list[Any]:
    with open(path, encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
