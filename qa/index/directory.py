"""The index directory: versioned builds, manifests with checksums, the `current` link, rollback and clean-up."""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import shutil
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

from qa import __version__
from qa.errors import IndexCorruptError, IndexMismatchError, IndexNotFoundError, QAError
from qa.index import manifest
from qa.index.layout import BUILDS, CURRENT, FORMAT_VERSION, MANIFEST, REBUILD_HINT
from qa.index.manifest import FileCheck, Manifest, MilvusRecord

# Files up to this size are hashed whole at every load; larger ones by samples, so loading stays O(1) in size.
FULL_HASH_LIMIT = 64 << 20
_SAMPLE = 1 << 20
RETIRED = ".retired"  # written into a build when it stops being current; its mtime starts the grace period


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
    now = time.time_ns()
    # Names sort in creation order (UTC second, then nanoseconds); the pid keeps concurrent writers apart.
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime(now // 10**9))
    path = index_dir / BUILDS / f"{stamp}.{now % 10**9:09d}-{os.getpid()}"
    path.mkdir(parents=True)
    return path


def write_manifest(path: Path, made: Manifest) -> Manifest:
    """Write the manifest last, with the size and checksum of every other file: a manifest means a complete build."""
    files = {str(f.relative_to(path)): _fingerprint(f) for f in sorted(path.rglob("*"))
             if f.is_file() and f.name not in (MANIFEST, RETIRED)}
    done = replace(made, format_version=FORMAT_VERSION, package_version=__version__, files=files)
    manifest.write(path, done)
    return done


def record_published(build: Path, milvus: MilvusRecord) -> None:
    """Record in a finished build's manifest where it was published, atomically; its files and checksums are
    unchanged (the build directory stays as the local record of what Milvus serves)."""
    manifest.write(build, replace(manifest.read(build), backend="milvus", milvus=milvus))


def resolve_current(index_dir: Path) -> Path:
    """The build directory `current` points at (IndexNotFoundError when there is none)."""
    link = current_path(index_dir)
    if not (link / MANIFEST).exists():
        raise IndexNotFoundError(f"no index in {index_dir}: build it with `qa index` (or set QA_INDEX_DIR)")
    return link.resolve()


def read_manifest(build: Path) -> Manifest:
    """The manifest of one build directory, checked for this qa's format version."""
    return manifest.read(build)


def read_current_manifest(index_dir: Path) -> Manifest:
    return manifest.read(resolve_current(index_dir))


def check_model(made: Manifest, model_spec: str, where: Path | str) -> None:
    built = made.model.spec
    if built != model_spec:
        raise IndexMismatchError(
            f"index in {where} was built with model {built!r}, but this process uses {model_spec!r}; "
            f"{REBUILD_HINT}, or run with --model {built} / QA_MODEL={built}")


def verify_files(build: Path, made: Manifest) -> None:
    """Every file the manifest lists exists with its recorded size and checksum."""
    for name, expected in made.files.items():
        file = build / name
        if not file.exists():
            raise IndexCorruptError(f"index file {file} is missing; {REBUILD_HINT}")
        if file.stat().st_size != expected.size or _fingerprint(file) != expected:
            raise IndexCorruptError(f"index file {file} is corrupt (size or checksum mismatch); {REBUILD_HINT}")


def swap_in(index_dir: Path, build: Path, grace_seconds: float) -> None:
    """Point `current` at build with one rename; the old build is kept as the previous one (see clean_up)."""
    link = current_path(index_dir)
    old = link.resolve() if link.is_symlink() else None
    tmp_link = index_dir / f".{CURRENT}.{os.getpid()}"
    with contextlib.suppress(FileNotFoundError):
        tmp_link.unlink()
    tmp_link.symlink_to(Path(BUILDS) / build.name)
    os.replace(tmp_link, link)
    if old is not None and old != build.resolve() and old.exists():
        (old / RETIRED).write_text(time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), encoding="utf-8")
    clean_up(index_dir, grace_seconds)


def previous_build(index_dir: Path) -> Path | None:
    """The finished build that was current most recently before the current one."""
    current = resolve_current(index_dir)
    retired = [b for b in _builds(index_dir) if b != current and (b / RETIRED).exists() and (b / MANIFEST).exists()]
    return max(retired, key=lambda b: (b / RETIRED).stat().st_mtime_ns, default=None)


def rollback(index_dir: Path, grace_seconds: float) -> Path:
    """Point `current` back at the previous build; running servers follow it like any other swap."""
    previous = previous_build(index_dir)
    if previous is None:
        raise QAError(f"no previous build in {index_dir / BUILDS} to roll back to (only the current one is kept "
                      "once older builds pass their grace period)")
    swap_in(index_dir, previous, grace_seconds)
    return previous


def clean_up(index_dir: Path, grace_seconds: float) -> None:
    """Delete builds a server can no longer be reading: neither current nor previous, retired past the grace
    period, and unfinished builds left by a crashed `qa index` (callers hold the build lock)."""
    current = resolve_current(index_dir)
    keep = {current, previous_build(index_dir)}
    now = time.time()
    for build in _builds(index_dir):
        if build in keep:
            continue
        marker = build / RETIRED
        finished = (build / MANIFEST).exists()
        if not finished or (marker.exists() and now - marker.stat().st_mtime >= grace_seconds):
            shutil.rmtree(build, ignore_errors=True)


def _builds(index_dir: Path) -> list[Path]:
    root = index_dir / BUILDS
    return sorted(p.resolve() for p in root.iterdir() if p.is_dir()) if root.is_dir() else []


def _fingerprint(path: Path) -> FileCheck:
    size = path.stat().st_size
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        if size <= FULL_HASH_LIMIT:
            for block in iter(lambda: handle.read(_SAMPLE), b""):
                digest.update(block)
            return FileCheck(size, sha256=digest.hexdigest())
        for offset in (0, size // 2, size - _SAMPLE):
            handle.seek(offset)
            digest.update(handle.read(_SAMPLE))
    return FileCheck(size, sampled_sha256=digest.hexdigest())
