"""The index a running service answers from: loaded once, then replaced when the backend's current build moves.

A serving process calls `LiveIndex.watch()`: a background thread looks once a second at which build is current
(a readlink of `index/current`, or one Milvus query), so an idle process follows a rebuild as soon as a busy one.
Without a watcher (offline tools) a request looks at most once a second instead. A new build is loaded and
verified off the request path and switched in with one assignment: requests in flight finish on the build they
leased (`LiveIndex.lease()`), and the replaced build is closed (its files and maps released) when the last of them
ends. A build that fails to load is refused with one log line, kept as `last_refusal`, and the old one keeps serving.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from datetime import UTC, datetime

from qa import backends
from qa.backends import Manifest
from qa.config import Settings
from qa.encoders import Embedder
from qa.errors import IndexCorruptError, IndexMismatchError, IndexNotFoundError, QAError
from qa.index.directory import check_model
from qa.index.layout import REBUILD_HINT
from qa.query.ranking import RankingParams
from qa.query.retrieval import Retriever
from qa.results import Refusal, RefusalReason

logger = logging.getLogger(__name__)

CHECK_INTERVAL_SECONDS = 1.0
# why a build was not switched to (Refusal.reason): metric label values, a closed set
REFUSAL_REASONS: tuple[RefusalReason, ...] = ("mismatch", "corrupt", "missing", "invalid", "unreadable")


# the build the latest lease of this thread's request answered from: the server's access log names it
_LEASED: ContextVar[str | None] = ContextVar("qa_leased_build", default=None)


def leased_build() -> str | None:
    """The build the latest lease in this context answered from (None when none was taken since forget_lease)."""
    return _LEASED.get()


def forget_lease() -> None:
    """Called when a request starts, so the access log of a request that leased nothing names no build."""
    _LEASED.set(None)


def refusal_reason(exc: Exception) -> RefusalReason:
    """The REFUSAL_REASONS label of a failed load: another model, backend or format; a damaged or vanished build;
    anything else the backend refused; or a read error (retried at the next check)."""
    if isinstance(exc, IndexMismatchError):
        return "mismatch"
    if isinstance(exc, IndexCorruptError):
        return "corrupt"
    if isinstance(exc, IndexNotFoundError):
        return "missing"
    return "invalid" if isinstance(exc, QAError) else "unreadable"


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
    check_model(manifest, settings.model, where)
    if model_id is not None and model_id != manifest.model.id:
        raise IndexMismatchError(f"{where} was built with {manifest.model.id}, the loaded model is "
                                 f"{model_id}; {REBUILD_HINT}")
    backend = manifest.backend
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
        self.last_refusal: Refusal | None = None
        # called (in the thread that loaded it) after each switch, and each refusal with it: the server records
        # its state and counts refusals
        self.on_change: Callable[[LiveIndex, Refusal | None], None] | None = None
        self._checked = time.monotonic()
        self._lock = threading.Lock()
        self._loading: str | None = None
        self._refused: set[str] = set()
        self._watching = False

    def watch(self) -> None:
        """Follow the current build from a background thread from now on (each serving process, after fork:
        threads do not survive it). Requests then never look themselves."""
        if self._watching:
            return
        self._watching = True
        threading.Thread(target=self._watch, name="qa-build-watcher", daemon=True).start()

    def _watch(self) -> None:
        while True:
            time.sleep(self.check_interval)
            try:
                self._check(time.monotonic(), wait=True)
            except Exception:  # a bug must not end the watching: logged with its traceback, looked at again
                logger.exception("pid %s: checking for a new build failed", os.getpid())

    @contextlib.contextmanager
    def lease(self) -> Iterator[Loaded]:
        """The build to answer one request from; it stays open until the request ends, even if replaced."""
        if not self._watching:
            self._maybe_check()
        with self._lock:
            loaded = self.current
            loaded.users += 1
        _LEASED.set(loaded.build_id)
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
        if not self._watching:
            self._maybe_check()
        return self.current

    def _maybe_check(self) -> None:
        now = time.monotonic()
        if now - self._checked >= self.check_interval:
            self._check(now)

    def _check(self, now: float, wait: bool = False) -> None:
        """Look at the current build; a new one is loaded in this thread if wait, else in a new one."""
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
        if wait:
            self._switch(target)
        else:
            threading.Thread(target=self._switch, args=(target,), name=f"qa-load-{target}", daemon=True).start()

    def _switch(self, target: str) -> None:
        try:
            loaded = open_build(self.settings, target, self.embedder, self.ranking)
        except QAError as exc:
            logger.error("pid %s refused build %s, still serving %s: %s", os.getpid(), target,
                         self.current.build_id, exc)
            self._refused.add(target)
            self._refuse(target, exc)
            return
        except OSError as exc:  # the build vanished or became unreadable while loading; retried next check
            logger.warning("pid %s could not load build %s (%s); still serving %s", os.getpid(), target, exc,
                           self.current.build_id)
            self._refuse(target, exc)
            return
        else:
            self._replace(loaded)
        finally:
            with self._lock:
                self._loading = None
        self._changed(None)

    def _refuse(self, target: str, exc: Exception) -> None:
        self.last_refusal = Refusal(build_id=target, reason=refusal_reason(exc), message=str(exc),
                                    at=datetime.now(UTC).isoformat(timespec="seconds"))
        self._changed(self.last_refusal)

    def _changed(self, refusal: Refusal | None) -> None:
        if self.on_change is not None:
            self.on_change(self, refusal)

    def _replace(self, loaded: Loaded) -> None:
        with self._lock:
            previous, self.current = self.current, loaded
            previous.retired = True
            idle = previous.users == 0
        if idle:
            previous.close()
        logger.info("pid %s switched from build %s to %s (loaded in %.2f s)", os.getpid(), previous.build_id,
                    loaded.build_id, loaded.load_seconds)
