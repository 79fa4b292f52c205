"""The index a running service answers from: loaded once, then replaced when the backend's current build moves.

Each request leases the current build (`LiveIndex.lease()`); at most once a second that costs one cheap look at
which build is current (a readlink of `index/current`, or one Milvus alias lookup). A new build is loaded and
verified in a background thread, off the request path, and switched in with one assignment: requests in flight
finish on the build they leased, and the replaced build is closed (its files and maps released) when the last of
them ends. A build that fails to load is refused with one log line and the old one keeps serving.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime

from qa import backends
from qa.backends import Manifest
from qa.config import Settings
from qa.encoders import Embedder
from qa.errors import IndexMismatchError, QAError
from qa.index.builds import check_model
from qa.index.layout import REBUILD_HINT
from qa.ranking import RankingParams
from qa.retrieval import Retriever

logger = logging.getLogger(__name__)

CHECK_INTERVAL_SECONDS = 1.0


class Loaded:
    """One build as served: its retriever, when this process loaded it, and the requests holding it."""

    def __init__(self, retriever: Retriever, build_id: str, load_seconds: float) -> None:
        self.retriever = retriever
        self.build_id = build_id
        self.loaded_at = datetime.now(UTC).isoformat(timespec="seconds")
        self.load_seconds = load_seconds
        self.users = 0  # requests in flight on this build (changed under LiveIndex's lock)
        self.retired = False  # replaced by a newer build: closed once users reaches 0
        self.closed = False

    def close(self) -> None:
        self.closed = True
        self.retriever.index.close()


def open_build(settings: Settings, build_id: str, embedder: Embedder, ranking: RankingParams | None = None) -> Loaded:
    """Load and verify one build of the configured backend for this model, or raise a QAError saying why not."""
    started = time.perf_counter()
    chosen = backends.backend(settings)
    manifest = chosen.manifest(settings, build_id)
    check_manifest(manifest, f"{chosen.describe(settings)} (build {build_id})", settings, embedder.model_id)
    reader = chosen.open(settings, build_id, manifest)
    return Loaded(Retriever(reader, embedder, ranking), build_id, round(time.perf_counter() - started, 3))


def check_manifest(manifest: Manifest, where: str, settings: Settings, model_id: str | None = None) -> None:
    """The build was made with this process's model (and, when loaded, its exact id) and for its backend."""
    check_model(dict(manifest), settings.model, where)
    if model_id is not None and model_id != manifest["model"]["id"]:
        raise IndexMismatchError(f"{where} was built with {manifest['model']['id']}, the loaded model is "
                                 f"{model_id}; {REBUILD_HINT}")
    backend = manifest.get("backend", "local")
    if backend != settings.backend:
        raise IndexMismatchError(f"{where} was published to the {backend!r} backend, this process uses "
                                 f"{settings.backend!r}; set QA_BACKEND={backend} or rebuild with --backend "
                                 f"{settings.backend}")


class LiveIndex:
    """Holds the current Loaded build and follows the backend's current build when it moves."""

    def __init__(self, settings: Settings, embedder: Embedder, ranking: RankingParams | None = None,
                 check_interval: float = CHECK_INTERVAL_SECONDS) -> None:
        self.settings = settings
        self.embedder = embedder
        self.ranking = ranking
        self.check_interval = check_interval
        self.current = open_build(settings, backends.current_build(settings), embedder, ranking)
        self._checked = time.monotonic()
        self._lock = threading.Lock()
        self._loading: str | None = None
        self._refused: set[str] = set()

    @contextlib.contextmanager
    def lease(self) -> Iterator[Loaded]:
        """The build to answer one request from; it stays open until the request ends, even if replaced."""
        self._maybe_check()
        with self._lock:
            loaded = self.current
            loaded.users += 1
        try:
            yield loaded
        finally:
            with self._lock:
                loaded.users -= 1
                done = loaded.retired and loaded.users == 0 and not loaded.closed
            if done:
                loaded.close()

    def get(self) -> Loaded:
        """The current build, for offline tools that do not race a swap (a request takes a lease instead)."""
        self._maybe_check()
        return self.current

    def _maybe_check(self) -> None:
        now = time.monotonic()
        if now - self._checked >= self.check_interval:
            self._check(now)

    def _check(self, now: float) -> None:
        with self._lock:
            if now - self._checked < self.check_interval:
                return  # another thread checked meanwhile
            self._checked = now
        try:
            target = backends.current_build(self.settings)
        except (OSError, QAError) as exc:  # Milvus unreachable for a moment: keep serving, look again later
            logger.warning("pid %s could not check for a new build (%s)", os.getpid(), exc)
            return
        with self._lock:
            if target in (self.current.build_id, self._loading) or target in self._refused:
                return
            self._loading = target
        threading.Thread(target=self._switch, args=(target,), name=f"qa-load-{target}", daemon=True).start()

    def _switch(self, target: str) -> None:
        try:
            loaded = open_build(self.settings, target, self.embedder, self.ranking)
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
            self._replace(loaded)
        finally:
            with self._lock:
                self._loading = None

    def _replace(self, loaded: Loaded) -> None:
        with self._lock:
            previous, self.current = self.current, loaded
            previous.retired = True
            idle = previous.users == 0
        if idle:
            previous.close()
        logger.info("pid %s switched from build %s to %s (loaded in %.2f s)", os.getpid(), previous.build_id,
                    loaded.build_id, loaded.load_seconds)
