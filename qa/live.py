"""The index a running service answers from: loaded once, then replaced when `index/current` moves.

Each request asks `LiveIndex.get()` for the current build; at most once a second that costs one readlink (with the
Milvus backend: one alias lookup, `current_build_id`). A new build is loaded and verified in a background thread,
off the request path, and switched in with one assignment:
requests in flight finish on the build they started with. A build that fails to load is refused with one log line
and the old one keeps serving.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from qa.backends.local import LocalReader
from qa.config import Settings
from qa.encoders import Embedder
from qa.errors import IndexMismatchError, QAError
from qa.index import builds
from qa.index.layout import REBUILD_HINT
from qa.ranking import RankingParams
from qa.retrieval import Retriever

logger = logging.getLogger(__name__)

CHECK_INTERVAL_SECONDS = 1.0


@dataclass(frozen=True)
class Loaded:
    """One build as served: its retriever and when this process loaded it."""

    retriever: Retriever
    build_id: str
    loaded_at: str
    load_seconds: float


def open_build(build: Path, settings: Settings, embedder: Embedder, ranking: RankingParams | None = None) -> Loaded:
    """Load and verify one build directory for this model and backend, or raise a QAError saying why not."""
    started = time.perf_counter()
    manifest = builds.read_manifest(build)
    _check_manifest(manifest, build, settings, embedder)
    builds.verify_files(build, manifest)
    reader = LocalReader(build, manifest)
    return Loaded(Retriever(reader, embedder, ranking), build.name,
                  datetime.now(UTC).isoformat(timespec="seconds"), round(time.perf_counter() - started, 3))


def open_milvus_build(build_id: str, settings: Settings, embedder: Embedder,
                      ranking: RankingParams | None = None) -> Loaded:
    """Open one build published to Milvus (manifest, vocabulary and documents all come from Milvus)."""
    from qa.backends.milvus import MilvusReader

    started = time.perf_counter()
    reader = MilvusReader.open(settings, build_id)
    _check_manifest(reader.manifest, f"Milvus build {build_id}", settings, embedder)
    return Loaded(Retriever(reader, embedder, ranking), build_id,
                  datetime.now(UTC).isoformat(timespec="seconds"), round(time.perf_counter() - started, 3))


def current_build_id(settings: Settings) -> str:
    """The build the index points at now: one readlink of `current`, or one alias lookup in Milvus."""
    if settings.backend == "milvus":
        from qa.backends.milvus import current_build_id as milvus_current

        return milvus_current(settings)
    return Path(os.path.realpath(builds.current_path(settings.index_dir))).name


def _open(build_id: str, settings: Settings, embedder: Embedder, ranking: RankingParams | None) -> Loaded:
    if settings.backend == "milvus":
        return open_milvus_build(build_id, settings, embedder, ranking)
    return open_build(settings.index_dir / builds.BUILDS / build_id, settings, embedder, ranking)


def _check_manifest(manifest: Mapping[str, Any], where: Path | str, settings: Settings, embedder: Embedder) -> None:
    builds.check_model(dict(manifest), settings.model, where)
    if embedder.model_id != manifest["model"]["id"]:
        raise IndexMismatchError(f"index in {where} was built with {manifest['model']['id']}, the loaded model is "
                                 f"{embedder.model_id}; {REBUILD_HINT}")
    backend = manifest.get("backend", "local")
    if backend != settings.backend:
        raise IndexMismatchError(f"index in {where} was published to the {backend!r} backend, this process uses "
                                 f"{settings.backend!r}; set QA_BACKEND={backend} or rebuild with --backend "
                                 f"{settings.backend}")


class LiveIndex:
    """Holds the current Loaded build of an index directory and follows `current` when it moves."""

    def __init__(self, settings: Settings, embedder: Embedder, ranking: RankingParams | None = None,
                 check_interval: float = CHECK_INTERVAL_SECONDS) -> None:
        self.settings = settings
        self.embedder = embedder
        self.ranking = ranking
        self.check_interval = check_interval
        if settings.backend == "milvus":
            self.current = open_milvus_build(current_build_id(settings), settings, embedder, ranking)
        else:
            self.current = open_build(builds.resolve_current(settings.index_dir), settings, embedder, ranking)
        self._checked = time.monotonic()
        self._lock = threading.Lock()
        self._loading: str | None = None
        self._refused: set[str] = set()

    def get(self) -> Loaded:
        """The build to answer this request from (noticing, at most once per interval, that current moved)."""
        now = time.monotonic()
        if now - self._checked >= self.check_interval:
            self._check(now)
        return self.current

    def _check(self, now: float) -> None:
        with self._lock:
            if now - self._checked < self.check_interval:
                return  # another thread checked meanwhile
            self._checked = now
            try:
                target = current_build_id(self.settings)
            except (OSError, QAError) as exc:  # Milvus unreachable for a moment: keep serving, look again later
                logger.warning("pid %s could not check for a new build (%s)", os.getpid(), exc)
                return
            if target in (self.current.build_id, self._loading) or target in self._refused:
                return
            self._loading = target
        threading.Thread(target=self._switch, args=(target,), name=f"qa-load-{target}", daemon=True).start()

    def _switch(self, target: str) -> None:
        try:
            loaded = _open(target, self.settings, self.embedder, self.ranking)
        except QAError as exc:
            logger.error("pid %s refused build %s, still serving %s: %s", os.getpid(), target,
                         self.current.build_id, exc)
            self._refused.add(target)
            return
        except OSError as exc:  # the build vanished or became unreadable while loading; retried next check
            logger.warning("pid %s could not load build %s (%s); still serving %s", os.getpid(), target, exc,
                           self.current.build_id)
            return
        else:
            previous, self.current = self.current, loaded
            logger.info("pid %s switched from build %s to %s (loaded in %.2f s)", os.getpid(), previous.build_id,
                        loaded.build_id, loaded.load_seconds)
        finally:
            with self._lock:
                self._loading = None
