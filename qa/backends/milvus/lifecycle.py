"""Which published builds Milvus serves and keeps: the serving record, retirement, rollback and clean-up.

The same rules as the local backend's index directory (qa.index.directory): the build that stopped being served most
recently is the previous one; `rollback` serves it again, so the build it replaces becomes the previous one and a
second rollback returns to it. Builds neither current nor previous are dropped once they have been out of service
for QA_BUILD_GRACE_SECONDS. Each build's manifest record holds when it last stopped being served (`retired_at`).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

from qa.backends.milvus import fields
from qa.backends.milvus.client import (
    MilvusBackendError,
    Target,
    build_of_collection,
    client,
    collection_name,
    ensure_loaded,
    serve_build,
    serving_build,
)
from qa.config import Settings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BuildState:
    """A published build's manifest record: when it went live, when it last stopped being served (0: never)."""

    published_at: float
    retired_at: float
    record: dict[str, Any]  # the whole record, for rewriting it with a new retired_at


def switch_to(target: Target, build: str, now: float) -> None:
    """Serve `build` (readers follow the serving record) and retire the build it replaces."""
    milvus = client(target)
    before = serving_build(target)
    serve_build(milvus, build, now)
    if before is not None and before != build:
        _set_retired(milvus, before, now)
    _set_retired(milvus, build, 0.0)


def previous_build(milvus: Any, current: str | None) -> str | None:
    """The build that stopped being served most recently (None when no build ever did)."""
    states = {b: s for b in published_builds(milvus) if b != current and (s := state(milvus, b)) is not None}
    retired = [b for b, s in states.items() if s.retired_at > 0]
    return max(retired, key=lambda b: states[b].retired_at, default=None)


def rollback(settings: Settings) -> str:
    """Serve the previous build again; the build it replaces becomes the previous one (a second rollback undoes
    the first). Servers follow the serving record like after a publish."""
    target = Target.from_settings(settings)
    milvus = client(target)
    current = serving_build(target)
    previous = previous_build(milvus, current)
    if previous is None:
        raise MilvusBackendError(f"no previous build in Milvus at {target.uri} to roll back to (only the current one "
                                 f"is kept once older builds pass QA_BUILD_GRACE_SECONDS)")
    switch_to(target, previous, time.time())
    return previous


def drop_retired(settings: Settings, now: float | None = None) -> list[str]:
    """Drop builds that are neither current nor previous and were retired QA_BUILD_GRACE_SECONDS ago or more, and
    the collections of interrupted publishes (no manifest record); one publisher at a time, like `qa index`."""
    target = Target.from_settings(settings)
    milvus = client(target)
    now = time.time() if now is None else now
    current = serving_build(target)
    keep = {current, previous_build(milvus, current)}
    dropped = []
    for build, names in published_builds(milvus).items():
        if build in keep:
            continue
        found = state(milvus, build)
        if found is None or (found.retired_at > 0 and now - found.retired_at >= settings.build_grace_seconds):
            for name in names:
                milvus.drop_collection(name)
            dropped.append(build)
    if dropped:
        log.info("dropped retired Milvus builds %s", ", ".join(dropped))
    return dropped


def published_builds(milvus: Any) -> dict[str, list[str]]:
    """build id -> its collections, for every collection of ours in this database."""
    builds: dict[str, list[str]] = {}
    for name in milvus.list_collections():
        build = build_of_collection(name)
        if build is not None:
            builds.setdefault(build, []).append(name)
    return builds


def state(milvus: Any, build: str) -> BuildState | None:
    """The build's manifest record, or None for a publish that never finished (no manifest record)."""
    name = collection_name(build, "manifest")
    if not milvus.has_collection(name):
        return None
    ensure_loaded(milvus, name)
    rows = milvus.query(name, filter="id == 0", output_fields=["*"])
    if not rows:
        return None
    record = {k: v for k, v in rows[0].items() if k != fields.PAD_FIELD}
    # a build published before retired_at existed reads as retired when it was published
    return BuildState(float(record["published_at"]), float(record.get("retired_at", record["published_at"])),
                      record)


def _set_retired(milvus: Any, build: str, when: float) -> None:
    found = state(milvus, build)
    if found is None or found.retired_at == when or "retired_at" not in found.record:
        return  # an interrupted publish, unchanged, or a build of the first layout (it reads as retired anyway)
    milvus.upsert(collection_name(build, "manifest"),
                  [{**found.record, "retired_at": when, fields.PAD_FIELD: fields.PAD}])
