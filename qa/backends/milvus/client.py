"""Connections to Milvus (Lite file or server), the names of a build's collections, and which build is served."""

from __future__ import annotations

import json
import os
import re
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from qa.config import Settings
from qa.errors import QAError

PREFIX = "qa"
# One record naming the build served now. Readers look it up alone and then use the concrete collection names the
# build's manifest record lists, so the five collections of a build switch together when it changes (one upsert).
# Not an alias: Milvus Lite 2.x's C++ engine has none.
SERVING = f"{PREFIX}_serving"
KINDS = ("chunks", "sentences", "documents", "vocab", "manifest")
_BUILD_ID = re.compile(r"[^0-9A-Za-z]+")
_NO_DATABASE = "`qa index --backend milvus` creates database {db!r} when it publishes"


class MilvusBackendError(QAError):
    """Milvus is unreachable, misconfigured, or holds no (or a broken) published build."""


@dataclass(frozen=True)
class Target:
    """Which Milvus to talk to, from QA_MILVUS_URI / QA_MILVUS_TOKEN / QA_MILVUS_DB."""

    uri: str
    token: str | None
    db: str | None

    @property
    def is_lite(self) -> bool:
        return "://" not in self.uri

    @classmethod
    def from_settings(cls, settings: Settings) -> Target:
        uri = settings.milvus_uri
        if not uri:
            raise MilvusBackendError("the milvus backend needs QA_MILVUS_URI (or --milvus-uri): a file path for "
                                     "Milvus Lite, e.g. index/milvus.db, or http://host:19530 for a server")
        if "://" in uri:
            if not uri.startswith(("http://", "https://", "tcp://", "unix://")):
                raise MilvusBackendError(f"QA_MILVUS_URI {uri!r} is neither a file path nor http(s)://host:port")
        else:
            path = Path(uri)
            if not path.parent.is_dir():
                raise MilvusBackendError(f"QA_MILVUS_URI {uri!r}: directory {path.parent} does not exist; "
                                         f"create it or choose another path")
            uri = str(path.resolve())
        return cls(uri=uri, token=settings.milvus_token or None, db=settings.milvus_db or None)


_clients: dict[tuple[int, Target], Any] = {}
_clients_lock = threading.Lock()


def client(target: Target) -> Any:
    """One MilvusClient per process and target (gRPC channels do not survive fork, so the pid is in the key)."""
    from pymilvus import MilvusClient
    from pymilvus.exceptions import MilvusException

    key = (os.getpid(), target)
    if target.db and target.is_lite and lite_engine_major() < 3:
        raise MilvusBackendError(f"Milvus Lite {lite_engine_version()} has no databases: unset QA_MILVUS_DB (or "
                                 f"use a Milvus server or milvus-lite 3)")
    with _clients_lock:
        if key not in _clients:
            kwargs: dict[str, Any] = {"uri": target.uri}
            if target.token:
                kwargs["token"] = target.token
            if target.db:
                kwargs["db_name"] = target.db
            try:
                _clients[key] = MilvusClient(**kwargs)
            except (MilvusException, OSError, RuntimeError) as exc:
                if target.db and "does not exist" in str(exc):
                    hint = _NO_DATABASE.format(db=target.db)
                elif target.is_lite:
                    hint = ("a Milvus Lite file can be opened by one process only: for several processes run "
                            "`milvus-lite server --host 127.0.0.1 --port P --data-dir D` and use http://127.0.0.1:P")
                else:
                    hint = "check that the server is running and the token is right"
                raise MilvusBackendError(f"cannot connect to Milvus at {target.uri} ({exc}); {hint}") from exc
            if target.db and target.db not in _clients[key].list_databases():
                del _clients[key]
                raise MilvusBackendError(f"Milvus at {target.uri} has no database {target.db!r} (QA_MILVUS_DB); "
                                         + _NO_DATABASE.format(db=target.db))
        return _clients[key]


def ensure_database(target: Target) -> None:
    """Create QA_MILVUS_DB if the server lacks it (only the publisher does; readers expect it)."""
    if target.db:
        admin = client(Target(uri=target.uri, token=target.token, db=None))
        if target.db not in admin.list_databases():
            admin.create_database(target.db)


def build_id_of(build_dir: Path) -> str:
    """A collection-name-safe id of a build directory (its name, letters and digits only)."""
    return _BUILD_ID.sub("_", build_dir.name).strip("_")


def collection_name(build_id: str, kind: str) -> str:
    return f"{PREFIX}_{build_id}_{kind}"


def build_of_collection(name: str) -> str | None:
    """The build id of one of our versioned collections, None for any other collection."""
    for kind in KINDS:
        suffix = f"_{kind}"
        if name.startswith(f"{PREFIX}_") and name.endswith(suffix) and len(name) > len(PREFIX) + len(suffix) + 1:
            return name[len(PREFIX) + 1: -len(suffix)]
    return None


def literal(value: str) -> str:
    """A Milvus filter string literal (double-quoted, backslash escapes, as JSON writes them)."""
    return json.dumps(value, ensure_ascii=False)


def in_list(field: str, values: Iterable[int | str]) -> str:
    items = [literal(v) if isinstance(v, str) else str(int(v)) for v in values]
    return f"{field} in [{', '.join(items)}]"


_ready: set[tuple[int, Target]] = set()  # (pid, target) whose serving record is known to exist and be loaded


def serving_build(target: Target) -> str | None:
    """The build served now (one query of a one-record collection), None when nothing was published here yet."""
    from pymilvus.exceptions import MilvusException

    milvus = client(target)
    key = (os.getpid(), target)
    try:
        if key not in _ready:
            if not milvus.has_collection(SERVING):
                return None
            ensure_loaded(milvus, SERVING)
            _ready.add(key)
        rows = milvus.query(SERVING, filter="id == 0", output_fields=["build"], consistency_level="Strong")
    except MilvusException as exc:
        _ready.discard(key)
        raise MilvusBackendError(f"cannot read which build Milvus at {target.uri} serves ({exc.message}); check "
                                 f"that it is running") from exc
    return str(rows[0]["build"]) if rows else None


def serve_build(milvus: Any, build: str, now: float) -> None:
    """Make `build` the one served: one upsert of the serving record (created with the first publish)."""
    from qa.backends.milvus import fields

    if not milvus.has_collection(SERVING):
        create(milvus, SERVING, fields.serving(), iter([]))
    milvus.upsert(SERVING, [{"id": 0, "build": build, "switched_at": now, fields.PAD_FIELD: fields.PAD}])


def create(milvus: Any, name: str, definition: tuple[Any, Any], batches: Iterator[list[dict[str, Any]]]) -> None:
    """A new collection with these records, its indexes built and loaded."""
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


def lite_engine_version() -> str:
    """The installed milvus-lite release (the engine behind a Milvus Lite file)."""
    from importlib.metadata import version

    return version("milvus-lite")


def lite_engine_major() -> int:
    return int(lite_engine_version().split(".")[0])


def dense_index_type(target: Target) -> str:
    """HNSW, except in Milvus Lite 2.x's C++ engine, whose local mode builds only FLAT, IVF_FLAT and AUTOINDEX;
    exact FLAT suits the corpora a Lite file holds."""
    if target.is_lite and lite_engine_major() < 3:
        return "FLAT"
    return "HNSW"


def ensure_loaded(milvus: Any, name: str) -> None:
    """Load a collection into memory unless it is (a server keeps collections loaded, Lite forgets on restart)."""
    from pymilvus.client.types import LoadState

    if milvus.get_load_state(name).get("state") != LoadState.Loaded:
        milvus.load_collection(name)


def current_build_id(settings: Settings) -> str:
    """The build Milvus serves now: one cheap call, for hot-swap watchers (about once a second)."""
    build = serving_build(Target.from_settings(settings))
    if build is None:
        raise MilvusBackendError(f"no build is published in Milvus at {settings.milvus_uri}: run "
                                 f"`qa index --backend milvus` (QA_MILVUS_URI={settings.milvus_uri})")
    return build
