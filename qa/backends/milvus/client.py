"""Connections to Milvus (Lite file or server) and the names of a build's collections and aliases."""

from __future__ import annotations

import json
import os
import re
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from qa.config import Settings
from qa.errors import QAError

PREFIX = "qa"
# Readers resolve this alias alone and then use the concrete collection names its record lists, so the
# five collections of a build switch together when it moves (it is moved last).
MANIFEST_ALIAS = f"{PREFIX}_manifest"
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


def alias_name(kind: str) -> str:
    return f"{PREFIX}_{kind}"


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


def alias_exists(milvus: Any, alias: str) -> bool:
    # asked first because describe_alias of a missing alias makes pymilvus log an error with a traceback
    return alias in milvus.list_aliases().get("aliases", [])


def current_alias_target(target: Target) -> str | None:
    """The manifest collection the alias points at, or None when nothing was published to this Milvus yet."""
    milvus = client(target)
    if not alias_exists(milvus, MANIFEST_ALIAS):
        return None
    name = milvus.describe_alias(MANIFEST_ALIAS).get("collection_name")
    return str(name) if name else None


def ensure_loaded(milvus: Any, name: str) -> None:
    """Load a collection into memory unless it is (a server keeps collections loaded, Lite forgets on restart)."""
    from pymilvus.client.types import LoadState

    if milvus.get_load_state(name).get("state") != LoadState.Loaded:
        milvus.load_collection(name)


def current_build_id(settings: Settings) -> str:
    """The build the Milvus alias points at now: one cheap call, for hot-swap watchers (about once a second)."""
    name = current_alias_target(Target.from_settings(settings))
    build = build_of_collection(name) if name else None
    if build is None:
        raise MilvusBackendError(f"no build is published in Milvus at {settings.milvus_uri}: run "
                                 f"`qa index --backend milvus` (QA_MILVUS_URI={settings.milvus_uri})")
    return build
